from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "S3 exports"

    def ready(self):
        from exports.services.retention import export_retention_holds
        from exports.services.rules import export_bucket_claims
        from mktops.retention import register_retention_hold
        from mktops.schedules import register_schedule
        from mktops.storage.buckets import register_bucket_claims

        # the retention purge keeps every event a connection has not exported yet
        register_retention_hold(export_retention_holds)

        # no tenant names a bucket another tenant's exports or archive use
        register_bucket_claims(export_bucket_claims)

        # every minute: creates runs at their slots and re-enqueues retries and abandoned runs
        register_schedule("exports.sweep", "exports.tasks.exports_sweep", 1)
