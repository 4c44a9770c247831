"""Secrets at rest: EncryptedTextField, key rotation, and the rotate_field_keys command."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, models
from django.test.utils import isolate_apps

from mktops import crypto

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_encrypt_decrypt_round_trip(settings):
    settings.MKTOPS_FIELD_KEYS = [NEW]
    token = crypto.encrypt_bytes("s3cr3t ✓".encode())
    assert b"s3cr3t" not in token
    assert crypto.decrypt_bytes(token).decode() == "s3cr3t ✓"


def test_newest_key_encrypts_and_older_keys_still_decrypt(settings):
    settings.MKTOPS_FIELD_KEYS = [OLD]
    sealed_with_old = crypto.encrypt_bytes(b"before rotation")
    settings.MKTOPS_FIELD_KEYS = [NEW, OLD]
    assert crypto.decrypt_bytes(sealed_with_old) == b"before rotation"
    sealed_now = crypto.encrypt_bytes(b"after")
    assert Fernet(NEW.encode()).decrypt(sealed_now) == b"after"
    assert crypto.is_current(sealed_now.decode())
    assert not crypto.is_current(sealed_with_old.decode())


def test_rotate_re_encrypts_under_the_newest_key(settings):
    settings.MKTOPS_FIELD_KEYS = [OLD]
    token = crypto.encrypt_bytes(b"value")
    settings.MKTOPS_FIELD_KEYS = [NEW, OLD]
    rotated = crypto.rotate_bytes(token)
    settings.MKTOPS_FIELD_KEYS = [NEW]
    assert crypto.decrypt_bytes(rotated) == b"value"


def test_a_value_under_a_removed_key_is_a_decryption_error(settings):
    settings.MKTOPS_FIELD_KEYS = [OLD]
    token = crypto.encrypt_bytes(b"value")
    settings.MKTOPS_FIELD_KEYS = [NEW]
    with pytest.raises(crypto.DecryptionError, match="none of MKTOPS_FIELD_KEYS"):
        crypto.decrypt_bytes(token)


@pytest.mark.parametrize("secret, shown", [("", ""), (None, ""), ("short", "••••••••"),
                                           ("whsec_0123456789abcd", "••••••••abcd")])
def test_mask_never_shows_more_than_four_characters(secret, shown):
    assert crypto.mask(secret) == shown


def test_the_field_stores_ciphertext_and_returns_plain_text(settings):
    settings.MKTOPS_FIELD_KEYS = [NEW]
    field = crypto.EncryptedTextField()
    stored = field.get_prep_value("p4ssword")
    assert "p4ssword" not in stored
    assert field.from_db_value(stored, None, connection) == "p4ssword"
    assert field.get_prep_value("") == "" and field.get_prep_value(None) is None


def test_encrypted_columns_cover_every_installed_model():
    from django.apps import apps

    expected = {
        (m, f.name) for m in apps.get_models() for f in m._meta.concrete_fields
        if isinstance(f, crypto.EncryptedTextField)
    }
    assert {(m, f.name) for m, f in crypto.encrypted_columns()} == expected


# --- the rotate_field_keys command, against a real table -------------------
@pytest.fixture
def secret_table(transactional_db):
    """A table with an encrypted column, created for this test and dropped after."""
    with isolate_apps("mktops.apps.MktopsConfig"):
        class VaultItem(models.Model):
            label = models.CharField(max_length=20)
            secret = crypto.EncryptedTextField(blank=True, default="")

            class Meta:
                app_label = "mktops"
                db_table = "mktops_test_vault_item"

            def __str__(self):
                return self.label

        with connection.schema_editor() as editor:
            editor.create_model(VaultItem)
        try:
            yield VaultItem
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(VaultItem)


def _stored(model, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {model._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_rotate_column_re_encrypts_every_row_under_the_newest_key(settings, secret_table):
    from mktops.management.commands.rotate_field_keys import BATCH, Command

    settings.MKTOPS_FIELD_KEYS = [OLD]
    rows = secret_table.objects.bulk_create(
        [secret_table(label=f"r{i}", secret=f"secret-{i}") for i in range(BATCH + 3)]
        + [secret_table(label="empty", secret="")]
    )
    settings.MKTOPS_FIELD_KEYS = [NEW, OLD]
    field = secret_table._meta.get_field("secret")

    rotated, broken = Command().rotate_column(secret_table, field)

    assert (rotated, broken) == (BATCH + 3, 0)
    settings.MKTOPS_FIELD_KEYS = [NEW]  # the old key is gone: every value still reads
    assert sorted(secret_table.objects.exclude(secret="").values_list("secret", flat=True)) == sorted(
        f"secret-{i}" for i in range(BATCH + 3))
    assert Fernet(NEW.encode()).decrypt(_stored(secret_table, rows[0].pk).encode()) == b"secret-0"
    assert _stored(secret_table, rows[-1].pk) == ""
    # running again finds nothing left to do
    settings.MKTOPS_FIELD_KEYS = [NEW, OLD]
    assert Command().rotate_column(secret_table, field) == (0, 0)


def test_rotate_column_reports_values_no_key_can_open(settings, secret_table):
    from mktops.management.commands.rotate_field_keys import Command

    settings.MKTOPS_FIELD_KEYS = [OLD]
    lost = secret_table.objects.create(label="lost", secret="unrecoverable")
    settings.MKTOPS_FIELD_KEYS = [NEW]
    secret_table.objects.create(label="fine", secret="fine")

    assert Command().rotate_column(secret_table, secret_table._meta.get_field("secret")) == (0, 1)
    assert Fernet(OLD.encode()).decrypt(_stored(secret_table, lost.pk).encode()) == b"unrecoverable"


def test_rotate_field_keys_command_walks_every_encrypted_column(db, settings):
    settings.MKTOPS_FIELD_KEYS = [NEW, OLD]
    out = StringIO()
    call_command("rotate_field_keys", stdout=out)
    reported = out.getvalue()
    for model, field in crypto.encrypted_columns():
        assert f"{model._meta.label}.{field.name}: 0 re-encrypted" in reported
