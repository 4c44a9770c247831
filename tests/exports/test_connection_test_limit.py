"""Test connection of an export connection returns mktops.errors.CheckResult and is limited per
tenant: the 11th test within 10 minutes uploads nothing and says when to try again."""

import pytest
from django.utils.html import escape

from exports.models import ExportConnection
from exports.services import connections
from mktops import ratelimit
from mktops.errors import CheckResult
from mktops.models import AuditLog

pytestmark = pytest.mark.django_db


def test_the_eleventh_test_is_refused_and_another_tenant_is_not_affected(make_connection, s3, bucket, tenant_b,
                                                                        as_operator_a, clock):
    connection = make_connection()
    for _ in range(ratelimit.CONNECTION_TESTS):
        result = connections.connection_test(connection=connection)
        assert isinstance(result, CheckResult) and result.ok, result.message
    s3.boto3().delete_object(Bucket=bucket, Key=result.detail)
    refused = connections.connection_test(connection=connection)
    assert (refused.ok, refused.reason) == (False, ratelimit.REASON)
    assert refused.message == ratelimit.ERR_TOO_MANY.format(what="connection tests", limit=10, window=10, minutes=10)
    assert result.detail not in s3.list_keys(bucket)  # nothing was uploaded
    page = as_operator_a.post(f"/admin/exports/exportconnection/{connection.pk}/test/", follow=True)
    assert escape(refused.message) in page.content.decode()
    assert AuditLog.objects.filter(tenant=connection.tenant, action="s3_export.test").count() == 10
    assert AuditLog.objects.filter(tenant=connection.tenant, action=ratelimit.AUDIT_REFUSED).count() == 2
    connection.refresh_from_db()
    assert connection.last_test_ok is True  # the refusal is not a test outcome

    tenant_b.s3_export_enabled = True
    tenant_b.save()
    other = connections.connection_save(connection=ExportConnection(
        tenant=tenant_b, name="b", bucket=s3.create_bucket(), region="us-east-1"))
    assert connections.connection_test(connection=other).ok

    clock.advance(ratelimit.CONNECTION_TEST_WINDOW)
    assert connections.connection_test(connection=connection).ok
