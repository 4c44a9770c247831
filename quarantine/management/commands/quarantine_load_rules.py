from django.core.management.base import BaseCommand

from quarantine.qualification import install_shipped


class Command(BaseCommand):
    help = ("Add the shipped email and push qualification rules that are missing (migrate does it too); "
            "rules a CSM changed are left as they are.")

    def handle(self, *args, **options):
        added = install_shipped()
        self.stdout.write(f"{added} shipped rule(s) added.")
