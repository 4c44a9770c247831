from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "S3 exports"

    def ready(self):
        from exports.services.retention import export_retention_holds
        from mktops.retention import register_retention_hold
        from mktops.schedules import register_schedule

        # the retention purge keeps every event a connection has not exported yet
        register_retention_hold(export_retention_holds)

        # every minute: creates runs at their slots and re-enqueues retries and abandoned runs
        register_schedule("exports.sweep", "exports.tasks.exports_sweep", 1)
