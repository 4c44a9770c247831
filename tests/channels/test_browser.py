"""The issue's browser test: an operator creates a WhatsApp channel, binds it against the loopback
Graph server, sees Bound with the verified name, tries to delete it (refused, with the reason);
the CSM unbinds it; the operator deletes it. Screenshots of each page go to /tmp."""

from pathlib import Path

import pytest

from channels import tasks
from channels.models import Channel, ChannelBindJob
from channels.services import lifecycle as svc
from mktops.models import AuditLog
from tests.channels.test_bind import NUMBER, TOKEN, WABA
from tests.fixtures.platforms import WHATSAPP_SCOPES

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/channel-shots")


def shot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_create_bind_refused_delete_unbind_delete(operator_a, csm, page_for, live_server, platforms, settings):
    platforms.configure(settings)
    platforms.add_meta_token(TOKEN, scopes=WHATSAPP_SCOPES)
    platforms.add_whatsapp_number(NUMBER, TOKEN, verified_name="Acme Shop", display_phone_number="+1 555-0100")
    page = page_for(operator_a)

    # create: the chosen type's bound resource and prerequisite appear as it is picked
    page.goto("/admin/channels/channel/add/")
    assert page.locator("#prerequisite-row").is_hidden()
    page.select_option("#id_channel_type", "whatsapp")
    help_box = page.locator(".channel-type-help[data-type=whatsapp]")
    assert help_box.is_visible() and "business verification" in help_box.inner_text()
    assert page.locator(".channel-type-help[data-type=viber]").is_hidden()
    page.fill("#id_name", "Orders WhatsApp")
    page.fill("#id_remarks", "EU number")
    page.click("#create-ok")
    page.wait_for_selector(".errorlist")  # the prerequisite was not confirmed
    assert "Confirm that the prerequisite" in page.content()
    page.check("#id_prerequisite_confirmed")
    shot(page, "01-create")
    page.click("#create-ok")
    page.wait_for_selector("#channel-state")
    assert page.locator("#channel-state").inner_text() == "Unbound"
    channel = Channel.objects.get()

    # bind: the job runs as the worker would, after the POST
    page.click("#bind")
    page.fill("#id_phone_number_id", NUMBER)
    page.fill("#id_waba_id", WABA)
    page.fill("#id_access_token", TOKEN)
    shot(page, "02-bind")
    page.click("#bind-submit")
    page.wait_for_selector("#channel-state")
    assert page.locator("#channel-state").inner_text() == "Binding"
    assert tasks.bind_run(ChannelBindJob.objects.get(channel=channel).pk) == "bound"
    page.reload()
    assert page.locator("#channel-state").inner_text() == "Bound"
    assert "Acme Shop" in page.locator("#channel-binding").inner_text()
    assert TOKEN not in page.content()
    shot(page, "03-bound")

    # delete refused with the reason
    page.click("a.deletelink")
    page.wait_for_selector("#delete-refused")
    assert page.locator("#delete-refused").inner_text() == svc.ERR_DELETE_STATE.format(state="Bound")
    assert page.locator("#delete-form").count() == 0
    shot(page, "04-delete-refused")

    # the CSM unbinds, after seeing what still uses the channel
    csm_page = page_for(csm)
    csm_page.goto(f"/admin/channels/channel/{channel.pk}/change/")
    csm_page.click("#unbind")
    csm_page.wait_for_selector("#channel-usage")
    csm_page.fill("#unbind-reason", "customer request")
    shot(csm_page, "05-unbind")
    csm_page.click("#unbind-submit")
    csm_page.wait_for_selector("#channel-state")
    assert csm_page.locator("#channel-state").inner_text() == "Unbound"
    shot(csm_page, "06-unbound-history")

    # the operator deletes it, typing its name
    page.goto(f"/admin/channels/channel/{channel.pk}/delete/")
    page.fill("#confirm-name", "orders whatsapp")
    page.click("#delete-submit")
    page.wait_for_selector("#delete-error")
    shot(page, "07-delete-confirm")
    page.fill("#confirm-name", "Orders WhatsApp")
    page.click("#delete-submit")
    page.wait_for_url("**/admin/channels/channel/")
    assert "deleted" in page.content()
    shot(page, "08-list-after-delete")
    assert not Channel.objects.exists()
    assert AuditLog.objects.filter(action="channel.delete", user=operator_a).count() == 1
