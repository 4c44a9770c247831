"""The Graph adapters (WhatsApp, Messenger, Instagram) against the loopback Graph server."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from channels.providers import PlatformRefused, PlatformUnavailable, adapter_for
from channels.providers import meta as meta_module
from channels.providers.base import ERR_REQUIRED, ERR_TOO_LONG
from tests.fixtures.platforms import INSTAGRAM_SCOPES, MESSENGER_SCOPES, WHATSAPP_SCOPES

TOKEN = "EAAGtoken" + "a1" * 20
OTHER_TOKEN = "EAAGother" + "b2" * 20
NUMBER_ID = "106540352242922"
PAGE_ID = "104000000000001"
IG_ID = "17841400000000001"


def whatsapp_credentials(**overrides):
    return {"phone_number_id": NUMBER_ID, "waba_id": "102290129340398", "access_token": TOKEN, **overrides}


@pytest.fixture
def graph(platforms, settings):
    platforms.configure(settings)
    return platforms


@pytest.fixture
def whatsapp(graph):
    graph.add_meta_token(TOKEN, scopes=WHATSAPP_SCOPES, expires_at=datetime(2027, 3, 1, tzinfo=UTC))
    graph.add_whatsapp_number(NUMBER_ID, TOKEN, verified_name="Acme Shop", display_phone_number="+1 555-0100",
                              quality_rating="YELLOW", messaging_limit_tier="TIER_10K")
    return adapter_for("whatsapp")


def test_whatsapp_bind_reads_the_number_and_the_token(whatsapp, graph):
    account = whatsapp.fetch_account(whatsapp_credentials())

    assert account.account_id == NUMBER_ID
    assert account.details["verified_name"] == "Acme Shop"
    assert account.details["display_phone_number"] == "+1 555-0100"
    assert account.details["quality_rating"] == "YELLOW"
    assert account.details["messaging_limit_tier"] == "TIER_10K"
    assert account.details["status"] == "CONNECTED"
    assert account.token_expires_at == datetime(2027, 3, 1, tzinfo=UTC)
    assert set(account.granted_scopes) == set(WHATSAPP_SCOPES)
    debug, number = graph.requests
    assert debug.path.endswith("/debug_token") and debug.query["input_token"] == TOKEN
    assert number.headers["authorization"] == f"Bearer {TOKEN}"
    assert number.query["fields"] == meta_module.WHATSAPP_FIELDS


def test_a_token_that_never_expires_has_no_expiry(graph):
    graph.add_meta_token(TOKEN, scopes=WHATSAPP_SCOPES, expires_at=None)
    graph.add_whatsapp_number(NUMBER_ID, TOKEN)
    assert adapter_for("whatsapp").fetch_account(whatsapp_credentials()).token_expires_at is None


def test_an_unknown_token_is_refused_as_invalid(whatsapp):
    with pytest.raises(PlatformRefused) as refused:
        whatsapp.fetch_account(whatsapp_credentials(access_token=OTHER_TOKEN))
    assert refused.value.reason == PlatformRefused.INVALID_TOKEN
    assert refused.value.message == meta_module.ERR_CREDENTIALS_REFUSED


def test_a_token_debug_token_calls_invalid_is_refused(graph):
    graph.add_meta_token(TOKEN, scopes=WHATSAPP_SCOPES)
    graph.add_meta_token(OTHER_TOKEN, scopes=WHATSAPP_SCOPES, is_valid=False)
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("whatsapp").fetch_account(whatsapp_credentials(access_token=OTHER_TOKEN))
    assert refused.value.reason == PlatformRefused.INVALID_TOKEN


def test_a_number_that_does_not_exist_is_not_found_in_our_words(whatsapp):
    with pytest.raises(PlatformRefused) as refused:
        whatsapp.fetch_account(whatsapp_credentials(phone_number_id="99999999"))
    assert refused.value.reason == PlatformRefused.NOT_FOUND
    assert "99999999" in refused.value.message
    assert "Unsupported get request" not in refused.value.message  # Graph's words are not repeated


def test_a_number_of_another_token_is_not_reachable(whatsapp, graph):
    graph.add_meta_token(OTHER_TOKEN, scopes=WHATSAPP_SCOPES)
    with pytest.raises(PlatformRefused) as refused:
        whatsapp.fetch_account(whatsapp_credentials(access_token=OTHER_TOKEN))
    assert refused.value.reason == PlatformRefused.NOT_FOUND


def test_missing_scopes_are_named(graph):
    graph.add_meta_token(TOKEN, scopes=["whatsapp_business_management"])
    graph.add_whatsapp_number(NUMBER_ID, TOKEN)
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("whatsapp").fetch_account(whatsapp_credentials())
    assert refused.value.reason == PlatformRefused.MISSING_PERMISSION
    assert refused.value.missing_permissions == ["whatsapp_business_messaging"]
    assert "whatsapp_business_messaging" in refused.value.message


@pytest.mark.parametrize("code", [10, 200, 299])
def test_permission_codes(code):
    from channels.providers._http import Response

    body = f'{{"error": {{"message": "(#{code}) needs instagram_basic and <script>", "code": {code}}}}}'.encode()
    error = meta_module.graph_error(Response(403, {}, body), what="x", object_id="1")
    assert isinstance(error, PlatformRefused) and error.reason == PlatformRefused.MISSING_PERMISSION
    assert error.missing_permissions == ["instagram_basic"]
    assert "<script>" not in error.message


def test_an_unknown_graph_code_is_a_refusal_in_our_words():
    from channels.providers._http import Response

    error = meta_module.graph_error(Response(400, {}, b'{"error": {"message": "weird", "code": 368}}'),
                                    what="x", object_id="1")
    assert isinstance(error, PlatformRefused) and error.reason == PlatformRefused.REFUSED
    assert "weird" not in error.message


def test_rate_limit_is_unavailable_with_retry_after(whatsapp, graph):
    graph.rate_limit("/graph", retry_after=120)
    with pytest.raises(PlatformUnavailable) as unavailable:
        whatsapp.fetch_account(whatsapp_credentials())
    assert unavailable.value.reason == PlatformUnavailable.RATE_LIMITED
    assert unavailable.value.retry_after == 120


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_unavailable(whatsapp, graph, status):
    graph.fail("/graph", status=status)
    with pytest.raises(PlatformUnavailable) as unavailable:
        whatsapp.fetch_account(whatsapp_credentials())
    assert unavailable.value.reason == PlatformUnavailable.SERVER_ERROR
    assert str(status) not in unavailable.value.message


def test_a_timeout_is_unavailable(whatsapp, graph):
    graph.fail(f"/graph/v21.0/{NUMBER_ID}", timeout=True)
    with pytest.raises(PlatformUnavailable) as unavailable:
        whatsapp.fetch_account(whatsapp_credentials())
    assert unavailable.value.reason == PlatformUnavailable.TIMEOUT


def test_a_closed_port_is_unavailable(whatsapp, settings):
    from tests.fixtures.servers import free_port

    settings.MKTOPS_META_GRAPH_URL = f"http://127.0.0.1:{free_port()}/v21.0"
    with pytest.raises(PlatformUnavailable) as unavailable:
        whatsapp.fetch_account(whatsapp_credentials())
    assert unavailable.value.reason == PlatformUnavailable.CONNECTION


def test_whatsapp_test_send(whatsapp, graph):
    sent = whatsapp.send_test(whatsapp_credentials(), to="+49 151 1234 5678".replace(" ", ""), text="Hello")
    assert sent.message_id.startswith("wamid.")
    body = graph.sent[-1]["body"]
    assert body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915112345678",
                    "type": "text", "text": {"preview_url": False, "body": "Hello"}}


def test_whatsapp_test_send_refuses_a_bad_number_before_sending(whatsapp, graph):
    with pytest.raises(ValidationError) as invalid:
        whatsapp.send_test(whatsapp_credentials(), to="call me", text="Hello")
    assert "to" in invalid.value.message_dict
    assert graph.sent == []


def test_messenger_bind_and_send(graph):
    graph.add_meta_token(TOKEN, scopes=MESSENGER_SCOPES)
    graph.add_page(PAGE_ID, TOKEN, name="Acme on Facebook")
    adapter = adapter_for("messenger")
    credentials = {"page_id": PAGE_ID, "access_token": TOKEN}
    account = adapter.fetch_account(credentials)
    assert account.account_id == PAGE_ID and account.details == {"page_name": "Acme on Facebook"}
    assert graph.requests[-1].query["fields"] == "name"
    sent = adapter.send_test(credentials, to="6000000000001", text="Hi")
    assert sent.message_id.startswith("m_")
    assert graph.sent[-1]["body"]["recipient"] == {"id": "6000000000001"}


def test_instagram_bind_and_send(graph):
    graph.add_meta_token(TOKEN, scopes=INSTAGRAM_SCOPES)
    graph.add_instagram(IG_ID, TOKEN, username="acme.shop", name="Acme")
    adapter = adapter_for("instagram")
    credentials = {"ig_user_id": IG_ID, "access_token": TOKEN}
    account = adapter.fetch_account(credentials)
    assert account.account_id == IG_ID
    assert account.details == {"username": "acme.shop", "name": "Acme"}
    assert graph.requests[-1].query["fields"] == "username,name"
    assert adapter.send_test(credentials, to="7000000000001", text="Hi").message_id


def test_instagram_without_messaging_permission(graph):
    graph.add_meta_token(TOKEN, scopes=["instagram_basic"])
    graph.add_instagram(IG_ID, TOKEN)
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("instagram").fetch_account({"ig_user_id": IG_ID, "access_token": TOKEN})
    assert refused.value.missing_permissions == ["instagram_manage_messages"]


def test_validate_names_each_field_and_rule():
    adapter = adapter_for("whatsapp")
    with pytest.raises(ValidationError) as invalid:
        adapter.validate({"phone_number_id": "+1 555 0100", "waba_id": "1" * 26, "access_token": ""})
    errors = invalid.value.message_dict
    assert errors["phone_number_id"] == [f"Phone number ID {meta_module.GRAPH_ID_RULE}."]
    assert errors["waba_id"] == [ERR_TOO_LONG.format(label="WhatsApp Business Account ID", limit=25)]
    assert errors["access_token"] == [ERR_REQUIRED.format(label="Access token")]


def test_validate_refuses_unknown_keys_and_non_text():
    with pytest.raises(ValidationError) as invalid:
        adapter_for("messenger").validate({"page_id": ["1"], "access_token": TOKEN, "extra": "x"})
    assert set(invalid.value.message_dict) == {"page_id", "extra"}


def test_validate_accepts_good_credentials():
    adapter_for("whatsapp").validate(whatsapp_credentials())
    adapter_for("instagram").validate({"ig_user_id": IG_ID, "access_token": TOKEN})


def test_identity_fields_mark_the_secret():
    fields = adapter_for("whatsapp").identity_fields
    assert [f.name for f in fields] == ["phone_number_id", "waba_id", "access_token"]
    assert [f.label for f in fields] == ["Phone number ID", "WhatsApp Business Account ID", "Access token"]
    assert [f.name for f in fields if f.secret] == ["access_token"]


def test_unknown_type():
    with pytest.raises(ValueError):
        adapter_for("fax")
