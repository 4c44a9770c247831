"""The Viber adapter against the loopback Viber bot API."""

import pytest
from django.core.exceptions import ValidationError

from channels.providers import PlatformRefused, PlatformUnavailable, adapter_for
from channels.providers import viber as viber_module

TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"


@pytest.fixture
def bot(platforms, settings):
    platforms.configure(settings)
    platforms.add_viber_bot(TOKEN, bot_id="pa:5734123410023", name="Acme Bot", subscribers_count=1200)
    return platforms


def test_bind_reads_the_bot(bot):
    account = adapter_for("viber").fetch_account({"auth_token": TOKEN})
    assert account.account_id == "pa:5734123410023"
    assert account.details["name"] == "Acme Bot"
    assert account.details["subscribers_count"] == "1200"
    request = bot.requests[-1]
    assert request.method == "POST" and request.path == "/viber/pa/get_account_info"
    assert request.headers["x-viber-auth-token"] == TOKEN


def test_an_unknown_token_is_invalid(bot):
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("viber").fetch_account({"auth_token": "0" * 20})
    assert refused.value.reason == PlatformRefused.INVALID_TOKEN
    assert refused.value.message == viber_module.ERR_CREDENTIALS_REFUSED
    assert "invalidAuthToken" not in refused.value.message


def test_a_bot_viber_no_longer_knows_is_not_found(platforms, settings):
    platforms.configure(settings)
    platforms.add_viber_bot(TOKEN, status=8)  # publicAccountNotFound
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("viber").fetch_account({"auth_token": TOKEN})
    assert refused.value.reason == PlatformRefused.NOT_FOUND


@pytest.mark.parametrize("status", [7, 9])
def test_a_blocked_or_suspended_bot_is_refused(platforms, settings, status):
    platforms.configure(settings)
    platforms.add_viber_bot(TOKEN, status=status)
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("viber").fetch_account({"auth_token": TOKEN})
    assert refused.value.reason == PlatformRefused.REFUSED
    assert refused.value.message == viber_module.ERR_BLOCKED


def test_a_status_we_do_not_know_is_a_refusal_in_our_words(platforms, settings):
    platforms.configure(settings)
    platforms.add_viber_bot(TOKEN, status=99)
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("viber").fetch_account({"auth_token": TOKEN})
    assert refused.value.message == viber_module.ERR_REFUSED
    assert "scripted" not in refused.value.message


def test_rate_limit_status_12_is_unavailable(bot):
    bot.rate_limit("/viber", retry_after=None)
    with pytest.raises(PlatformUnavailable) as unavailable:
        adapter_for("viber").fetch_account({"auth_token": TOKEN})
    assert unavailable.value.reason == PlatformUnavailable.RATE_LIMITED
    assert unavailable.value.retry_after is None


def test_a_5xx_is_unavailable(bot):
    bot.fail("/viber", status=502)
    with pytest.raises(PlatformUnavailable) as unavailable:
        adapter_for("viber").fetch_account({"auth_token": TOKEN})
    assert unavailable.value.reason == PlatformUnavailable.SERVER_ERROR


def test_a_timeout_is_unavailable(bot):
    bot.fail("/viber/pa/get_account_info", timeout=True)
    with pytest.raises(PlatformUnavailable) as unavailable:
        adapter_for("viber").fetch_account({"auth_token": TOKEN})
    assert unavailable.value.reason == PlatformUnavailable.TIMEOUT


def test_test_send_uses_the_bots_name(bot):
    sent = adapter_for("viber").send_test({"auth_token": TOKEN}, to="01234567890A=", text="Hello")
    assert sent.message_id == bot.sent[-1]["message_id"]
    body = bot.sent[-1]["body"]
    assert body["receiver"] == "01234567890A=" and body["text"] == "Hello" and body["type"] == "text"
    assert body["sender"] == {"name": "Acme Bot"}


def test_test_send_refused_when_the_bot_has_no_webhook(platforms, settings):
    platforms.configure(settings)
    platforms.add_viber_bot(TOKEN, status=10)
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("viber").send_test({"auth_token": TOKEN}, to="01234567890A=", text="Hello")
    assert refused.value.message == viber_module.ERR_NO_WEBHOOK


def test_validate_the_token_shape():
    with pytest.raises(ValidationError) as invalid:
        adapter_for("viber").validate({"auth_token": "not a token!"})
    assert list(invalid.value.message_dict) == ["auth_token"]
    adapter_for("viber").validate({"auth_token": TOKEN})
