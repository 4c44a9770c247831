from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "S3 exports"

    def ready(self):
        from mktops.schedules import register_schedule

        # every minute: creates runs at their slots and re-enqueues retries and abandoned runs
        register_schedule("exports.sweep", "exports.tasks.exports_sweep", 1)
