from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from mktops import services
from mktops.models import Tenant


class Command(BaseCommand):
    help = "Create a tenant: create_tenant SLUG NAME [--db-name NAME] [--app-name NAME]"

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("name")
        parser.add_argument("--db-name", help="workspace name used in file paths (default: the slug)")
        parser.add_argument("--app-name", default="")

    def handle(self, slug, name, db_name, app_name, **options):
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"A tenant with slug {slug!r} already exists.")
        try:
            tenant = services.tenant_create(slug=slug, name=name, db_name=db_name, app_name=app_name)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{f}: {' '.join(m)}" for f, m in exc.message_dict.items())) from None
        self.stdout.write(self.style.SUCCESS(f"Created tenant {tenant.slug} ({tenant.name}), id {tenant.pk}."))
