from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F, TextField, Value
from django.db.models.functions import Cast

from mktops import crypto

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column of every installed model under the newest key of "
        "MKTOPS_FIELD_KEYS. Run it after putting a new key first; then the old key can be removed."
    )

    def handle(self, **options):
        failed = 0
        for model, field in crypto.encrypted_columns():
            rotated, broken = self.rotate_column(model, field)
            failed += broken
            self.stdout.write(f"{model._meta.label}.{field.name}: {rotated} re-encrypted"
                              + (f", {broken} undecryptable" if broken else ""))
        if failed:
            raise CommandError(f"{failed} value(s) could not be decrypted with any configured key; "
                               "they were left as they are.")

    def rotate_column(self, model, field) -> tuple[int, int]:
        # read the stored tokens as plain text (a Cast skips the field's
        # decryption) so that rotate() keeps each token's timestamp
        manager = model._base_manager
        rows = (manager.exclude(**{f"{field.attname}__isnull": True}).exclude(**{field.attname: ""})
                .annotate(_token=Cast(F(field.attname), output_field=TextField()))
                .values_list("pk", "_token").order_by("pk"))
        rotated = broken = 0
        last_pk = None
        while True:
            page = list((rows.filter(pk__gt=last_pk) if last_pk is not None else rows)[:BATCH])
            if not page:
                return rotated, broken
            last_pk = page[-1][0]
            r, b = self.rotate_page(manager, field, page)
            rotated, broken = rotated + r, broken + b

    @staticmethod
    def rotate_page(manager, field, page) -> tuple[int, int]:
        rotated = broken = 0
        with transaction.atomic():
            for pk, token in page:
                if crypto.is_current(token):
                    continue
                try:
                    new = crypto.rotate_bytes(token.encode()).decode()
                except crypto.InvalidToken:
                    broken += 1
                    continue
                # a Value with a plain TextField is written as is, not encrypted again
                manager.filter(pk=pk).update(**{field.attname: Value(new, output_field=TextField())})
                rotated += 1
        return rotated, broken
