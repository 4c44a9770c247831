from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "archive"
    verbose_name = "Message archive"

    def ready(self):
        from archive import receivers
        from archive.services.config import archive_bucket_claims, archive_tenant_notes
        from mktops.dispatch import events_ingested
        from mktops.schedules import register_schedule
        from mktops.storage.buckets import register_bucket_claims
        from mktops.tenant_notes import register_tenant_notes
        from mktops.timeline import register_event_actions

        events_ingested.connect(receivers.on_events_ingested, dispatch_uid="archive.on_events_ingested")
        register_event_actions(receivers.timeline_actions)
        # no tenant names a bucket another tenant's exports or archive use
        register_bucket_claims(archive_bucket_claims)
        # the CSM's tenant page says when messages wait for a destination
        register_tenant_notes(archive_tenant_notes)
        register_schedule("archive.sweep", "archive.tasks.sweep", 1)
        register_schedule("archive.daily", "archive.tasks.daily", 24 * 60)
        from archive import demo
        from mktops.demo import register_demo_seeder

        register_demo_seeder(demo.seed)
