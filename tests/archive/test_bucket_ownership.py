"""A tenant's archive bucket is never the platform's, nor one another tenant configured for its
archive or its exports: refused at save with a neutral sentence, and again at Test connection and
at delivery for a row stored around the rule (nothing reaches the bucket). The policy shown
grants access only under the tenant's own external id. (The exports side: tests/exports/.)"""

import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from archive.models import ArchivedMessage, ArchiveSettings, Destination, Outcome
from archive.services import config
from exports.models import ExportConnection
from exports.services import connections
from mktops.storage import buckets
from mktops.storage.buckets import ERR_BUCKET_CLAIMED, ERR_BUCKET_PLATFORM, BucketNotAllowed
from tests.archive.conftest import email_sent_event, run_all, settings_of

pytestmark = pytest.mark.django_db

ARCHIVE_ADD = reverse("admin:archive_archivesettings_add")
TAG = "aws:PrincipalTag/mktops-tenant"


def archive_form(tenant, bucket):
    return {"tenant": tenant.pk, "destination": Destination.S3, "s3_bucket": bucket,
            "s3_bucket_arn": f"arn:aws:s3:::{bucket}", "s3_region": "us-east-1", "s3_folder": "archive",
            "s3_kms_key_arn": "", "sftp_host": "", "sftp_port": 22, "sftp_username": "", "sftp_password": "",
            "sftp_private_key": "", "sftp_host_key_fingerprint": "", "sftp_folder": "",
            "path_template_email": "", "path_template_sms": "", "path_template_push": "", "object_lock_mode": "",
            "object_lock_days": 0}


def archive_to(tenant, bucket):
    cfg = settings_of(tenant)
    for name, value in {"destination": Destination.S3, "s3_bucket": bucket, "s3_bucket_arn": f"arn:aws:s3:::{bucket}",
                        "s3_region": "us-east-1", "s3_folder": "archive"}.items():
        setattr(cfg, name, value)
    return config.archive_settings_save(cfg=cfg)


def export_to(tenant, bucket, name="dwh"):
    return connections.connection_save(connection=ExportConnection(tenant=tenant, name=name, bucket=bucket,
                                                                   region="us-east-1"))


def neutral(html: str, *tenants) -> bool:
    """The page names no other tenant: not its name, slug or workspace name."""
    return not any(word in html for t in tenants for word in (t.name, t.slug, t.db_name))


def bucket_error(response) -> list:
    return response.context["adminform"].form.errors["s3_bucket"]


# --- at save ------------------------------------------------------------------------------
def test_the_platform_bucket_and_the_reserved_ones_are_refused(as_operator_a, tenant_a, s3, settings):
    response = as_operator_a.post(ARCHIVE_ADD, archive_form(tenant_a, s3.bucket))
    assert response.status_code == 200
    assert bucket_error(response) == [config.ERR_BUCKET_NAME.format(rules=ERR_BUCKET_PLATFORM)]
    settings.MKTOPS_RESERVED_BUCKETS = ["platform-backups"]
    response = as_operator_a.post(ARCHIVE_ADD, archive_form(tenant_a, "platform-backups"))
    assert bucket_error(response) == [config.ERR_BUCKET_NAME.format(rules=ERR_BUCKET_PLATFORM)]
    assert not ArchiveSettings.objects.filter(tenant=tenant_a).exists()


def test_the_export_bucket_of_another_tenant_is_refused_neutrally(tenant_a, tenant_b, as_operator_b, s3):
    bucket = s3.create_bucket()
    export_to(tenant_a, bucket)
    response = as_operator_b.post(ARCHIVE_ADD, archive_form(tenant_b, bucket))
    assert bucket_error(response) == [config.ERR_BUCKET_NAME.format(rules=ERR_BUCKET_CLAIMED)]
    assert neutral(response.content.decode(), tenant_a)
    assert not ArchiveSettings.objects.filter(tenant=tenant_b).exists()


def test_the_archive_bucket_of_another_tenant_is_refused_but_a_tenant_may_reuse_its_own(tenant_a, tenant_b, s3):
    bucket = s3.create_bucket()
    archive_to(tenant_a, bucket)
    export_to(tenant_a, bucket)  # the same tenant: its archive and its exports may share a bucket
    archive_to(tenant_a, bucket)  # and saving its settings again does not trip over its own claim
    with pytest.raises(ValidationError) as err:
        archive_to(tenant_b, bucket)
    assert err.value.message_dict["s3_bucket"] == [config.ERR_BUCKET_NAME.format(rules=ERR_BUCKET_CLAIMED)]
    # S3 names are lower-case: another spelling is the same bucket
    assert buckets.bucket_claim_errors(bucket=bucket.upper(), tenant_id=tenant_b.pk) == [ERR_BUCKET_CLAIMED]


# --- at Test connection and delivery, for rows stored around the rule -----------------------
def test_test_connection_and_delivery_refuse_a_stored_foreign_bucket(archive_on, tenant_b, ingest, s3,
                                                                    as_operator_a):
    foreign = s3.create_bucket()
    export_to(tenant_b, foreign)
    cfg = settings_of(archive_on)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(destination=Destination.S3, s3_bucket=foreign,
                                                     s3_bucket_arn=f"arn:aws:s3:::{foreign}", s3_region="us-east-1")
    response = as_operator_a.post(reverse("admin:archive_archivesettings_test", args=[cfg.pk]), follow=True)
    cfg.refresh_from_db()
    assert cfg.last_test_ok is False and neutral(response.content.decode(), tenant_b)
    ingest(email_sent_event(1))
    run_all()
    row = ArchivedMessage.objects.get()
    assert row.outcome != Outcome.STORED and row.failure_reason == BucketNotAllowed.REASON
    assert s3.list_keys(foreign) == []


def test_delivery_refuses_the_platform_bucket_named_as_the_tenant_s_own(archive_on, ingest, s3):
    cfg = settings_of(archive_on)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(destination=Destination.S3, s3_bucket=s3.bucket.upper(),
                                                     s3_region="us-east-1")
    ingest(email_sent_event(1))
    run_all()
    row = ArchivedMessage.objects.get()
    assert row.outcome != Outcome.STORED and row.failure_reason == BucketNotAllowed.REASON
    assert s3.list_keys(s3.bucket) == []


def test_no_bucket_at_all_never_falls_back_to_the_platform_bucket(archive_on, ingest, s3):
    cfg = settings_of(archive_on)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(destination=Destination.S3, s3_bucket="")
    ingest(email_sent_event(1))
    run_all()
    assert ArchivedMessage.objects.get().failure_reason == BucketNotAllowed.REASON
    assert s3.list_keys(s3.bucket) == []


# --- the policy shown ---------------------------------------------------------------------
def test_tenants_have_distinct_stable_external_ids(tenant_a, tenant_b):
    assert re.fullmatch(r"mkt-[0-9a-f]{32}", tenant_a.external_id)
    assert tenant_a.external_id != tenant_b.external_id
    before = tenant_a.external_id
    tenant_a.refresh_from_db()
    tenant_a.save()
    assert tenant_a.external_id == before


def test_the_policy_is_conditioned_on_the_tenant_s_external_id(tenant_a, as_operator_a, s3):
    cfg = archive_to(tenant_a, s3.create_bucket())
    (statement,) = json.loads(config.bucket_policy(bucket=cfg.s3_bucket,
                                                   external_id=tenant_a.external_id))["Statement"]
    assert statement["Condition"] == {"StringEquals": {TAG: tenant_a.external_id}}
    html = as_operator_a.get(reverse("admin:archive_archivesettings_change", args=[cfg.pk])).content.decode()
    assert TAG in html and tenant_a.external_id in html
