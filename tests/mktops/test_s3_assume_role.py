"""With MKTOPS_PLATFORM_ROLE_ARN set, a tenant's bucket is reached as the platform's role assumed
for that tenant (sts:AssumeRole with its external id as the mktops-tenant session tag), against
moto's STS and S3; the platform's own bucket, and every target without the setting, use the
platform's credentials as they are."""

import boto3
import pytest

from mktops.storage import buckets
from mktops.storage import s3 as storage_s3  # not `s3`: that is the S3 server fixture here
from tests.fixtures.servers import S3_ACCESS_KEY

pytestmark = pytest.mark.django_db

ROLE = "arn:aws:iam::123456789012:role/mktops-platform"


def identity(endpoint_url: str, client) -> str:
    """Who moto's STS says the client's credentials belong to."""
    creds = client._request_signer._credentials.get_frozen_credentials()
    sts = boto3.client("sts", endpoint_url=endpoint_url, region_name="us-east-1", aws_access_key_id=creds.access_key,
                       aws_secret_access_key=creds.secret_key, aws_session_token=creds.token)
    return sts.get_caller_identity()["Arn"]


@pytest.fixture
def role(settings, s3_server):
    settings.MKTOPS_PLATFORM_ROLE_ARN = ROLE
    settings.AWS_STS_ENDPOINT_URL = s3_server.endpoint_url
    return ROLE


def test_a_tenant_bucket_is_written_as_the_role_assumed_for_that_tenant(tenant_a, tenant_b, s3, role, s3_server):
    bucket = s3.create_bucket()
    target = buckets.tenant_target(bucket=bucket, region="us-east-1", tenant_id=tenant_a.pk)
    assert target.session_tag == tenant_a.external_id
    storage_s3.put_object(target, "probe.txt", b"hello")
    assert s3.list_keys(bucket) == ["probe.txt"]
    arn = identity(s3_server.endpoint_url, storage_s3.client(target))
    assert arn.endswith(f":assumed-role/mktops-platform/mktops-{tenant_a.external_id}")
    other = buckets.tenant_target(bucket=s3.create_bucket(), region="us-east-1", tenant_id=tenant_b.pk)
    assert identity(s3_server.endpoint_url, storage_s3.client(other)).endswith(f"/mktops-{tenant_b.external_id}")


def test_the_platform_bucket_and_an_unset_role_use_the_platform_credentials(tenant_a, s3, settings):
    platform = storage_s3.S3Target.platform()
    settings.MKTOPS_PLATFORM_ROLE_ARN = ROLE
    assert platform.session_tag == ""
    assert storage_s3.client(platform)._request_signer._credentials.access_key == S3_ACCESS_KEY
    settings.MKTOPS_PLATFORM_ROLE_ARN = ""
    target = buckets.tenant_target(bucket=s3.create_bucket(), region="us-east-1", tenant_id=tenant_a.pk)
    assert target.session_tag == ""
    assert storage_s3.client(target)._request_signer._credentials.access_key == S3_ACCESS_KEY
