"""The SMS adapter (Twilio's REST API) against the loopback Twilio server."""

import pytest
from django.core.exceptions import ValidationError

from channels.providers import PlatformRefused, PlatformUnavailable, adapter_for
from channels.providers import sms as sms_module

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "f" * 32


def credentials(**overrides):
    return {"sender_id": "ACME", "account_sid": SID, "auth_token": TOKEN, **overrides}


@pytest.fixture
def twilio(platforms, settings):
    platforms.configure(settings)
    platforms.add_sms_account(SID, TOKEN, senders=["ACME", "+15550100"], friendly_name="Acme SMS")
    return platforms


def test_bind_reads_the_account(twilio):
    account = adapter_for("sms").fetch_account(credentials())
    assert account.account_id == f"ACME@{SID}"
    assert account.details == {"sender_id": "ACME", "account_name": "Acme SMS", "account_status": "active",
                               "account_type": "Full"}
    request = twilio.requests[-1]
    assert request.path == f"/twilio/2010-04-01/Accounts/{SID}.json"
    assert request.headers["authorization"].startswith("Basic ")


def test_a_wrong_auth_token_is_invalid(twilio):
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("sms").fetch_account(credentials(auth_token="e" * 32))
    assert refused.value.reason == PlatformRefused.INVALID_TOKEN
    assert refused.value.message == sms_module.ERR_CREDENTIALS_REFUSED


def test_an_account_the_credentials_cannot_see_is_not_found(twilio):
    """Twilio answers 404 when the credentials are good but the account in the path is not theirs."""
    from channels.providers import _http

    other = "AC" + "f" * 32
    twilio.add_sms_account(other, "a" * 32)
    response = _http.request("GET", twilio.sms_url, f"/2010-04-01/Accounts/{SID}.json", platform="Twilio",
                             auth=(other, "a" * 32))
    error = sms_module._refusal(response, sid=SID, sender="ACME")
    assert response.status == 404
    assert error.reason == PlatformRefused.NOT_FOUND
    assert SID in error.message and "requested resource" not in error.message


def test_a_suspended_account_is_refused(platforms, settings):
    platforms.configure(settings)
    platforms.add_sms_account(SID, TOKEN, status="suspended")
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("sms").fetch_account(credentials())
    assert refused.value.reason == PlatformRefused.REFUSED
    assert "suspended" in refused.value.message


def test_rate_limit_429_is_unavailable_with_retry_after(twilio):
    twilio.rate_limit("/twilio", retry_after=30)
    with pytest.raises(PlatformUnavailable) as unavailable:
        adapter_for("sms").fetch_account(credentials())
    assert unavailable.value.reason == PlatformUnavailable.RATE_LIMITED
    assert unavailable.value.retry_after == 30


def test_a_5xx_is_unavailable(twilio):
    twilio.fail("/twilio", status=500)
    with pytest.raises(PlatformUnavailable) as unavailable:
        adapter_for("sms").fetch_account(credentials())
    assert unavailable.value.reason == PlatformUnavailable.SERVER_ERROR


def test_a_timeout_is_unavailable(twilio):
    twilio.fail("/twilio", timeout=True)
    with pytest.raises(PlatformUnavailable) as unavailable:
        adapter_for("sms").fetch_account(credentials())
    assert unavailable.value.reason == PlatformUnavailable.TIMEOUT


def test_test_send(twilio):
    sent = adapter_for("sms").send_test(credentials(), to="+4915112345678", text="Hello")
    assert sent.message_id.startswith("SM")
    assert twilio.sent[-1]["body"] == {"To": "+4915112345678", "From": "ACME", "Body": "Hello"}


def test_test_send_from_a_sender_the_account_does_not_have(twilio):
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("sms").send_test(credentials(sender_id="OTHER"), to="+4915112345678", text="Hello")
    assert refused.value.message == sms_module.ERR_BAD_FROM.format(sender="OTHER")
    assert "Invalid From Number" not in refused.value.message


def test_test_send_to_a_bad_number_is_refused_before_sending(twilio):
    with pytest.raises(ValidationError):
        adapter_for("sms").send_test(credentials(), to="015112345678", text="Hello")
    assert twilio.sent == []


@pytest.mark.parametrize("field,value", [
    ("sender_id", "TOO-LONG-SENDER"), ("sender_id", "12345"), ("account_sid", "AB" + "0" * 32),
    ("account_sid", SID + "0"), ("auth_token", "short"),
])
def test_validate_shapes(field, value):
    with pytest.raises(ValidationError) as invalid:
        adapter_for("sms").validate(credentials(**{field: value}))
    assert list(invalid.value.message_dict) == [field]


@pytest.mark.parametrize("sender", ["ACME", "Acme Shop", "+15550100"])
def test_validate_accepts_sender_ids_and_numbers(sender):
    adapter_for("sms").validate(credentials(sender_id=sender))
