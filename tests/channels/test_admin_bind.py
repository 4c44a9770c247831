"""The Bind and Rebind pages: the adapter's identity fields, secrets as password inputs that never
echo, errors beside the fields, the POST's secrets kept out of error reports, the outcome on the
channel page (verified name, masked token for operators, nothing for support)."""

import pytest
from django.urls import reverse

from channels import tasks
from channels.models import ChannelBindJob, ChannelState
from tests.channels.lifecycle_helpers import make_channel
from tests.channels.test_bind import NUMBER, TOKEN, WABA

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"admin:channels_channel_{name}", args=args)


@pytest.fixture
def graph(platforms, settings):
    from tests.fixtures.platforms import WHATSAPP_SCOPES

    platforms.configure(settings)
    platforms.add_meta_token(TOKEN, scopes=WHATSAPP_SCOPES)
    platforms.add_whatsapp_number(NUMBER, TOKEN, verified_name="Acme Shop")
    return platforms


@pytest.fixture
def channel(tenant_a, operator_a):
    return make_channel(tenant_a, by=operator_a)


def post_bind(client, channel, capture, **overrides):
    data = {"phone_number_id": NUMBER, "waba_id": WABA, "access_token": TOKEN, **overrides}
    with capture(execute=False):
        return client.post(url("bind", channel.pk), data)


def test_the_bind_page_asks_for_the_types_identity_with_the_token_write_only(as_operator_a, channel):
    page = as_operator_a.get(url("bind", channel.pk)).content.decode()
    for label in ("Phone number ID", "WhatsApp Business Account ID", "Access token"):
        assert label in page
    assert 'type="password" name="access_token"' in page
    assert "business verification" in page  # the prerequisite, again


def test_operator_binds_and_the_page_shows_bound_with_the_verified_name(as_operator_a, as_support_a, channel, graph,
                                                                        django_capture_on_commit_callbacks):
    response = post_bind(as_operator_a, channel, django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response["Location"] == url("change", channel.pk)
    page = as_operator_a.get(url("change", channel.pk)).content.decode()
    assert "Binding" in page and "asking the platform" in page
    tasks.bind_run(ChannelBindJob.objects.get().pk)
    page = as_operator_a.get(url("change", channel.pk)).content.decode()
    assert "Bound" in page and "Acme Shop" in page and NUMBER in page
    assert TOKEN not in page and TOKEN[-4:] in page  # masked: the last four characters only
    support_page = as_support_a.get(url("change", channel.pk)).content.decode()
    assert "Acme Shop" in support_page
    assert TOKEN not in support_page and "Access token" not in support_page and "••••" not in support_page


def test_bind_errors_are_beside_the_fields_and_the_token_is_not_sent_back(as_operator_a, channel, graph,
                                                                         django_capture_on_commit_callbacks):
    response = post_bind(as_operator_a, channel, django_capture_on_commit_callbacks, phone_number_id="12ab",
                         access_token="EAAG-but has spaces")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"phone_number_id", "access_token"}
    assert "digits only" in errors["phone_number_id"][0]
    assert "EAAG-but has spaces" not in response.content.decode()
    channel.refresh_from_db()
    assert channel.state == ChannelState.UNBOUND


def test_bind_of_a_taken_account_is_refused_beside_the_field(as_operator_a, tenant_a, channel, graph,
                                                             django_capture_on_commit_callbacks):
    post_bind(as_operator_a, channel, django_capture_on_commit_callbacks)
    tasks.bind_run(ChannelBindJob.objects.get().pk)
    second = make_channel(tenant_a, name="Second")
    response = post_bind(as_operator_a, second, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    [message] = response.context["form"].errors["phone_number_id"]
    assert "Support line" in message and channel.public_id in message


def test_the_bind_views_hide_the_posted_secrets_from_error_reports(as_operator_a, channel, graph,
                                                                  django_capture_on_commit_callbacks):
    for name in ("bind", "rebind"):
        with django_capture_on_commit_callbacks(execute=False):
            response = as_operator_a.post(url(name, channel.pk), {"access_token": TOKEN})
        # the mark Django's error reporter reads: every POST parameter is hidden from error reports
        assert response.wsgi_request.sensitive_post_parameters == "__ALL__"


def test_a_failed_bind_shows_the_reason_and_the_checklist_and_offers_bind_again(
        as_operator_a, channel, graph, django_capture_on_commit_callbacks):
    post_bind(as_operator_a, channel, django_capture_on_commit_callbacks, access_token="EAAGunknownTokenXXXXXXXX")
    tasks.bind_run(ChannelBindJob.objects.get().pk)
    page = as_operator_a.get(url("change", channel.pk)).content.decode()
    assert "Bind failed" in page and "bind-checklist" in page
    assert "active and in good standing" in page and 'id="bind"' in page


def test_rebind_page_for_a_bound_channel(as_operator_a, channel, graph, django_capture_on_commit_callbacks):
    assert "Only a Bound channel can be rebound" in as_operator_a.get(url("rebind", channel.pk)).content.decode()
    post_bind(as_operator_a, channel, django_capture_on_commit_callbacks)
    tasks.bind_run(ChannelBindJob.objects.get().pk)
    page = as_operator_a.get(url("rebind", channel.pk)).content.decode()
    assert "kept in the channel's history" in page and NUMBER in page
    graph.add_whatsapp_number("106540352243000", TOKEN, verified_name="Acme Outlet")
    with django_capture_on_commit_callbacks(execute=False):
        response = as_operator_a.post(url("rebind", channel.pk), {
            "phone_number_id": "106540352243000", "waba_id": WABA, "access_token": TOKEN})
    assert response.status_code == 302
    tasks.bind_run(ChannelBindJob.objects.order_by("-id").first().pk)
    channel.refresh_from_db()
    assert channel.account_details["verified_name"] == "Acme Outlet"
