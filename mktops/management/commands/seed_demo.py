from django.core.management.base import BaseCommand
from django.db import transaction

from mktops import demo, services
from mktops.ingest import events_ingest
from mktops.models import ApiKey, Tenant

DEMO_PASSWORD = "mktops-demo-2026"  # noqa: S105 - printed demo credentials for a local console
USERS = [("demo-operator", "operator"), ("demo-support", "support"), ("demo-csm", "csm")]


class Command(BaseCommand):
    help = "Seed a demo tenant with users, an API key, contacts and events (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=300)
        parser.add_argument("--events", type=int, default=5000)

    def handle(self, contacts, events, **options):
        tenant, created = Tenant.objects.get_or_create(
            slug="demo", defaults={"name": "Acme Demo", "db_name": "acme_demo", "app_name": "Acme Shop",
                                   "archive_enabled": True, "s3_export_enabled": True})
        self.stdout.write(f"{'Created' if created else 'Found'} tenant {tenant.slug} ({tenant.name}).")
        users = {}
        for username, role in USERS:
            users[role] = services.user_create(username=username, password=DEMO_PASSWORD, role=role,
                                               tenant=None if role == "csm" else tenant)
        for seeder in demo.demo_seeders():
            seeder(tenant=tenant, users=users, out=self.stdout)
        raw = demo.demo_api_key(tenant.slug)
        with transaction.atomic():
            if not ApiKey.objects.filter(key_hash=ApiKey.hash(raw)).exists():
                ApiKey.objects.create(tenant=tenant, name="demo", key_hash=ApiKey.hash(raw), key_hint=raw[-4:])
        accepted = duplicates = 0
        batch = []
        for i, event in enumerate(demo.demo_events(contacts=contacts, events=events), start=1):
            batch.append(event)
            if len(batch) == 500 or i == events:
                outcome = events_ingest(tenant=tenant, items=batch)
                accepted += outcome.accepted
                duplicates += outcome.duplicates
                batch = []
                self.stdout.write(f"  events {i}/{events} (new {accepted}, already there {duplicates})")
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  sign in at /admin/ as {', '.join(u for u, _ in USERS)}; password {DEMO_PASSWORD}")
        self.stdout.write(f"  API key of tenant {tenant.slug}: {raw}")
