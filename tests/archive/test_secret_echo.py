"""The SFTP password and private key are write-only: a form with errors re-renders them empty and
the views that receive them keep them out of error reports."""

import pytest
from django.urls import reverse

from archive.models import Destination
from tests.archive.conftest import settings_of

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple-7"  # noqa: S105 - a test value that must not come back
PRIVATE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz\n"
               "-----END OPENSSH PRIVATE KEY-----\n")


def sftp_form(tenant, **extra):
    return {"tenant": tenant.pk, "destination": Destination.SFTP, "s3_bucket": "", "s3_bucket_arn": "",
            "s3_region": "", "s3_folder": "", "s3_kms_key_arn": "", "sftp_host": "sftp.example.com",
            "sftp_port": 70000, "sftp_username": "acme", "sftp_password": PASSWORD, "sftp_private_key": PRIVATE_KEY,
            "sftp_host_key_fingerprint": "not-a-fingerprint", "sftp_folder": "", "path_template_email": "",
            "path_template_sms": "", "path_template_push": "", "object_lock_mode": "", "object_lock_days": 0, **extra}


@pytest.mark.parametrize("existing", [False, True])
def test_an_invalid_sftp_form_does_not_echo_the_password_or_the_key(archive_on, as_operator_a, existing):
    url = (reverse("admin:archive_archivesettings_change", args=[settings_of(archive_on).pk]) if existing
           else reverse("admin:archive_archivesettings_add"))
    response = as_operator_a.post(url, sftp_form(archive_on))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "sftp_port" in errors and "sftp_host_key_fingerprint" in errors
    html = response.content.decode()
    assert PASSWORD not in html and "OPENSSH PRIVATE KEY" not in html and "b3BlbnNzaC1rZXkt" not in html
    assert set(response.wsgi_request.sensitive_post_parameters) == {"sftp_password", "sftp_private_key"}
