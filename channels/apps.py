from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    verbose_name = "Channel management"

    def ready(self):
        from channels.services.menu import menu_name
        from mktops.admin_site import register_app_menu_name
        from mktops.schedules import register_schedule

        register_app_menu_name(self.label, menu_name)
        register_schedule("channels.sweep", "channels.tasks.sweep", 1)
        # the platform half: a health check of every Bound channel each hour (channels.health)
        register_schedule("channels.health", "channels.health_tasks.health_sweep", 5)
        from channels import demo
        from mktops.demo import register_demo_seeder

        register_demo_seeder(demo.seed)
