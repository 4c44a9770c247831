from django.core.management.base import BaseCommand

from mktops import schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules of every periodic job (idempotent)."

    def handle(self, **options):
        for name in schedules.install():
            self.stdout.write(f"schedule {name}")
