"""The APNs and FCM tables of the issue, row by row, through the delivery-reports service."""

import pytest

from quarantine.models import PushQualificationRule, QuarantineEntry, Status
from quarantine.qualification import load
from quarantine.qualify import Tables, push_code, qualify_push

APNS = [
    # (raw as APNs answers, type, reason, retry)
    ('{"reason": "PayloadTooLarge"}', "soft", "refused", False),
    ("payload-format", "soft", "undefined", False),
    ('{"reason": "BadCertificate"}', "soft", "refused", False),
    ('{"reason": "InvalidProviderToken"}', "soft", "refused", False),
    # the "undefined" type for a lost connection: says nothing about the token, never counted
    ("connection-error", "ignored", "unreachable", True),
    ('{"reason": "Unregistered", "timestamp": 1790000000000}', "hard", "unknown_user", False),
    ('{"reason": "ExpiredToken"}', "hard", "unknown_user", False),
    ('{"reason": "TooManyRequests"}', "soft", "refused", False),
    ('{"reason": "BadDeviceToken"}', "soft", "refused", False),
]

FCM = [
    ("reserved-keyword", "soft", "undefined", False),
    ('{"results": [{"error": "MessageTooBig"}]}', "soft", "refused", False),
    ("no-response", "soft", "unreachable", True),
    ("Error=Unavailable", "soft", "unreachable", True),
    ("AuthenticationError", "soft", "refused", False),
    ('{"results": [{"error": "DeviceMessageRateExceeded"}]}', "soft", "refused", True),
    ('{"results": [{"error": "InvalidRegistration"}]}', "hard", "unknown_user", False),
    ("Error=NotRegistered", "hard", "unknown_user", False),
    ('{"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": []}}', "ignored", "undefined", False),
    ('{"error": {"status": "UNAUTHENTICATED", "details": [{"errorCode": "THIRD_PARTY_AUTH_ERROR"}]}}',
     "ignored", "refused", True),
    ('{"error": {"status": "PERMISSION_DENIED", "details": [{"errorCode": "SENDER_ID_MISMATCH"}]}}',
     "soft", "unknown_user", False),
    ('{"error": {"code": 404, "status": "NOT_FOUND", "details": [{"@type": '
     '"type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}',
     "hard", "unknown_user", False),
    ('{"error": {"status": "INTERNAL"}}', "ignored", "refused", True),
    ('{"error": {"status": "UNAVAILABLE"}}', "ignored", "refused", True),
    ('{"error": {"status": "SOMETHING_NEW"}}', "ignored", "refused", False),
    ("oauth-connection-error", "ignored", "refused", True),
    ('{"error": "unauthorized_client", "error_description": "Client is unauthorized"}', "ignored", "refused", False),
    ('{"error": "access_denied"}', "ignored", "refused", False),
    ('{"error": "Invalid_grant", "error_description": "Invalid JWT Signature."}', "ignored", "refused", False),
    ('{"error": "disabled_client"}', "ignored", "refused", False),
]


@pytest.mark.parametrize("raw, error_type, reason, retry", APNS)
def test_apns_table(tenant_a, raw, error_type, reason, retry):
    verdict = qualify_push(raw, "apns", Tables(tenant_a))
    assert (verdict.error_type, verdict.error_reason, verdict.retry) == (error_type, reason, retry)
    assert verdict.counts == (error_type != "ignored")


@pytest.mark.parametrize("raw, error_type, reason, retry", FCM)
def test_fcm_table(tenant_a, raw, error_type, reason, retry):
    verdict = qualify_push(raw, "fcm", Tables(tenant_a))
    assert (verdict.error_type, verdict.error_reason, verdict.retry) == (error_type, reason, retry)


def test_the_shipped_tables_are_installed_as_rows_operators_can_read(db):
    for provider in ("apns", "fcm"):
        shipped = {r["code"] for r in load(provider)["rules"]}
        assert set(PushQualificationRule.objects.filter(provider=provider).values_list("code", flat=True)) == shipped


def test_the_fcm_v2_codes_are_told_from_the_legacy_ones_by_case():
    assert push_code('{"error": {"status": "UNAVAILABLE"}}') == "UNAVAILABLE"
    assert push_code("Error=Unavailable") == "Unavailable"


def test_an_unregistered_token_is_quarantined_at_once(tenant_a):
    from tests.quarantine.report_helpers import apply, report

    apply(tenant_a, report(channel="push", provider="apns", address="tok-1", raw='{"reason": "Unregistered"}'))
    entry = QuarantineEntry.objects.get(tenant=tenant_a, channel="push", address="tok-1")
    assert (entry.status, entry.error_type, entry.error_reason) == (Status.QUARANTINED, "hard", "unknown_user")


def test_an_ignored_fcm_error_is_recorded_only(tenant_a):
    from tests.quarantine.report_helpers import apply, report

    outcome = apply(tenant_a, report(channel="push", provider="fcm", address="tok-2",
                                     raw='{"error": {"status": "INTERNAL"}}'))
    entry = QuarantineEntry.objects.get(address="tok-2")
    assert outcome.outcomes == {"recorded": 1}
    assert (entry.status, entry.error_count, len(entry.evidence)) == (Status.VALID, 0, 1)
