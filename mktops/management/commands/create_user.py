import getpass
import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from mktops import services
from mktops.models import Role, Tenant


class Command(BaseCommand):
    help = (
        "Create or update a user with a role: create_user USERNAME --role operator|support|csm "
        "[--tenant SLUG]. The password comes from MKTOPS_USER_PASSWORD or is prompted."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--tenant", help="tenant slug (operators and support)")
        parser.add_argument("--email", default="")

    def handle(self, username, role, tenant, email, **options):
        tenant_obj = None
        if tenant:
            tenant_obj = Tenant.objects.filter(slug=tenant).first()
            if tenant_obj is None:
                raise CommandError(f"No tenant with slug {tenant!r}.")
        password = os.environ.get("MKTOPS_USER_PASSWORD")
        if not password:
            if not options.get("interactive", True) or not self.stdin_isatty():
                raise CommandError("Set MKTOPS_USER_PASSWORD, or run in a terminal to be prompted.")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ.")
        try:
            validate_password(password)  # the rules the console's own password forms apply
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        try:
            user = services.user_create(username=username, password=password, role=role,
                                        tenant=tenant_obj, email=email)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        where = f" of {tenant_obj.slug}" if tenant_obj else ""
        self.stdout.write(self.style.SUCCESS(f"User {user.username}: {role}{where}."))

    @staticmethod
    def stdin_isatty():
        import sys

        return sys.stdin.isatty()
