from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from mktops.dispatch import events_ingested
        from mktops.schedules import register_schedule
        from webhooks.services.delivery import on_events_ingested

        events_ingested.connect(on_events_ingested, dispatch_uid="webhooks.on_events_ingested")
        register_schedule("webhooks.sweep", "webhooks.tasks.sweep", 1)
