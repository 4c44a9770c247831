from django.core.management.base import BaseCommand, CommandError

from mktops import services
from mktops.models import Tenant


class Command(BaseCommand):
    help = "Create an API key for a tenant and print it once: create_api_key SLUG [--name NAME]"

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="created by create_api_key")

    def handle(self, slug, name, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        _, raw = services.api_key_create(tenant=tenant, name=name)
        self.stderr.write("The key is shown once; store it now.")
        self.stdout.write(raw)
