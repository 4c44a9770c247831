"""A private key pasted into the export form by mistake is refused and never sent back: not in the
re-rendered textarea, and not in an error report (sensitive_post_parameters). A public key that
is fine stays in the form while another field is fixed."""

import pytest
from django.utils.html import escape

from mktops.pgp import ERR_PGP_PRIVATE

pytestmark = pytest.mark.django_db

ADD = "/admin/exports/exportconnection/add/"


def form(tenant, bucket, **extra):
    return {"tenant": tenant.pk, "name": "dwh", "bucket": bucket, "folder_path": "", "region": "us-east-1",
            "all_events": "on", "frequency": "15min", "encryption": "pgp", "pgp_public_key": "",
            "kms_key_arn": "", **extra}


def key_body(armored: str) -> list[str]:
    """The base64 lines of an armored key (what must not come back)."""
    return [line for line in armored.splitlines() if line and not line.startswith("-----") and ":" not in line][1:4]


def test_a_pasted_private_key_is_refused_and_not_echoed(entitled, bucket, as_operator_a, gpg_home):
    private = gpg_home.export(gpg_home.email, secret=True)
    response = as_operator_a.post(ADD, form(entitled, bucket, pgp_public_key=private))
    assert response.status_code == 200
    html = response.content.decode()
    assert escape(ERR_PGP_PRIVATE) in html
    assert "PRIVATE KEY BLOCK" not in html and not any(line in html for line in key_body(private))
    assert list(response.wsgi_request.sensitive_post_parameters) == ["pgp_public_key"]


def test_a_private_key_is_not_echoed_even_before_the_tenant_is_chosen(entitled, bucket, as_operator_a, gpg_home):
    private = gpg_home.export(gpg_home.email, secret=True)
    data = {**form(entitled, bucket, pgp_public_key=private), "tenant": ""}
    html = as_operator_a.post(ADD, data).content.decode()
    assert "PRIVATE KEY BLOCK" not in html and not any(line in html for line in key_body(private))


def test_a_good_public_key_stays_while_another_field_is_fixed(entitled, bucket, as_operator_a, gpg_home):
    response = as_operator_a.post(ADD, form(entitled, bucket, name="bad/name", pgp_public_key=gpg_home.public_key))
    assert "name" in response.context["adminform"].form.errors
    assert key_body(gpg_home.public_key)[0] in response.content.decode()
