"""An export connection's bucket is never the platform's, nor one another tenant configured for
its archive or its exports: refused at save with a neutral sentence, and again at Test connection
and when a run writes, for a row stored around the rule (nothing reaches the bucket). The policies
shown grant access only under the tenant's own external id. (The archive side: tests/archive/.)"""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from exports.models import ExportConnection
from exports.services import connections, paths
from mktops import clock as mk_clock
from mktops.jobs import JobStatus
from mktops.storage.buckets import ERR_BUCKET_CLAIMED, ERR_BUCKET_PLATFORM
from tests.archive.test_bucket_ownership import TAG, archive_to, export_to, neutral
from tests.conftest import make_event
from tests.exports.conftest import run_due

pytestmark = pytest.mark.django_db

ADD = "/admin/exports/exportconnection/add/"


def export_form(tenant, bucket, **extra):
    return {"tenant": tenant.pk, "name": "dwh", "bucket": bucket, "folder_path": "", "region": "us-east-1",
            "all_events": "on", "frequency": "15min", "encryption": "none", "pgp_public_key": "",
            "kms_key_arn": "", **extra}


def bucket_error(response) -> list:
    return response.context["adminform"].form.errors["bucket"]


def test_the_platform_bucket_is_refused(as_operator_a, tenant_a, s3, settings):
    response = as_operator_a.post(ADD, export_form(tenant_a, s3.bucket))
    assert response.status_code == 200 and bucket_error(response) == [ERR_BUCKET_PLATFORM]
    settings.MKTOPS_RESERVED_BUCKETS = ["platform-logs"]
    assert bucket_error(as_operator_a.post(ADD, export_form(tenant_a, "platform-logs"))) == [ERR_BUCKET_PLATFORM]
    assert not ExportConnection.objects.exists()


def test_the_archive_bucket_of_another_tenant_is_refused_neutrally(tenant_a, tenant_b, as_operator_b, s3):
    bucket = s3.create_bucket()
    archive_to(tenant_a, bucket)
    response = as_operator_b.post(ADD, export_form(tenant_b, bucket))
    assert bucket_error(response) == [ERR_BUCKET_CLAIMED]
    html = response.content.decode()
    assert escape(ERR_BUCKET_CLAIMED) in html and neutral(html, tenant_a)
    assert not ExportConnection.objects.filter(tenant=tenant_b).exists()


def test_the_export_bucket_of_another_tenant_is_refused_but_a_tenant_may_reuse_its_own(tenant_a, tenant_b, s3):
    bucket = s3.create_bucket()
    export_to(tenant_a, bucket)
    export_to(tenant_a, bucket, name="second")
    with pytest.raises(ValidationError) as err:
        export_to(tenant_b, bucket)
    assert err.value.message_dict["bucket"] == [ERR_BUCKET_CLAIMED]


def test_test_connection_refuses_a_stored_platform_or_foreign_bucket(tenant_a, tenant_b, as_operator_b, s3):
    foreign = s3.create_bucket()
    archive_to(tenant_a, foreign)
    for name, bucket in (("platform", s3.bucket), ("foreign", foreign)):
        connection = ExportConnection.objects.create(tenant=tenant_b, name=name, bucket=bucket, region="us-east-1")
        response = as_operator_b.post(reverse("admin:exports_exportconnection_test", args=[connection.pk]),
                                      follow=True)
        connection.refresh_from_db()
        assert connection.last_test_ok is False and "Nothing was written to bucket" in connection.last_test_message
        assert neutral(response.content.decode(), tenant_a)
        assert s3.list_keys(bucket) == []
        # nor was a lifecycle rule put on it
        with pytest.raises(Exception, match="NoSuchLifecycleConfiguration"):
            s3.boto3().get_bucket_lifecycle_configuration(Bucket=bucket)


def test_a_run_writes_nothing_to_a_stored_platform_bucket(entitled, api, s3, clock):
    ExportConnection.objects.create(tenant=entitled, name="sneaky", bucket=s3.bucket, region="us-east-1",
                                    next_run_at=mk_clock.now())
    api("/events", {"events": [make_event(1), make_event(2)]})
    (run,) = run_due()
    run.refresh_from_db()
    assert run.status != JobStatus.DONE and "Nothing was written to bucket" in run.last_error
    assert s3.list_keys(s3.bucket) == []


def test_the_policies_are_conditioned_on_the_tenant_s_external_id(tenant_a, tenant_b, as_operator_a, s3):
    kms = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    connection = connections.connection_save(connection=ExportConnection(
        tenant=tenant_a, name="dwh", bucket=s3.create_bucket(), region="us-east-1", kms_key_arn=kms))
    for statement in paths.connection_bucket_policy(connection)["Statement"]:
        assert statement["Condition"] == {"StringEquals": {TAG: tenant_a.external_id}}
    assert paths.connection_kms_policy(connection)["Condition"]["StringEquals"][TAG] == tenant_a.external_id
    html = as_operator_a.get(f"/admin/exports/exportconnection/{connection.pk}/change/").content.decode()
    assert TAG in html and tenant_a.external_id in html and tenant_b.external_id not in html
