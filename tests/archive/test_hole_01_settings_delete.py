"""Issue 14 item 1: the destination lock cannot be undone by deleting the settings. Operators
and support never delete them (no button, no bulk action, no delete URL); a CSM only for a tenant
that never archived anything; no page makes a new, unlocked row for a tenant that has archived."""

import pytest
from django.urls import reverse

from archive.models import ArchiveSettings, Destination, Outcome
from archive.services import config
from mktops.models import AuditLog
from tests.archive.conftest import email_sent_event, message_for, run_all, settings_of

pytestmark = pytest.mark.django_db


def delete_url(cfg):
    return reverse("admin:archive_archivesettings_delete", args=[cfg.pk])


def changelist():
    return reverse("admin:archive_archivesettings_changelist")


@pytest.fixture
def archived(archive_on, ingest, s3):
    ingest(email_sent_event(1))
    run_all()
    assert message_for("uuid-1").outcome == Outcome.STORED
    return settings_of(archive_on)


def test_operators_and_support_get_no_delete_button_action_or_url(archive_on, as_operator_a, as_support_a):
    cfg = settings_of(archive_on)
    page = as_operator_a.get(reverse("admin:archive_archivesettings_change", args=[cfg.pk])).content.decode()
    assert delete_url(cfg) not in page and "deletelink" not in page
    listing = as_operator_a.get(changelist())
    assert "delete_selected" not in listing.content.decode()
    for client in (as_operator_a, as_support_a):
        assert client.get(delete_url(cfg)).status_code == 403
        assert client.post(delete_url(cfg), {"post": "yes"}).status_code == 403
        client.post(changelist(), {"action": "delete_selected", "_selected_action": [cfg.pk], "post": "yes"})
    assert ArchiveSettings.objects.filter(pk=cfg.pk).exists()


def test_another_tenants_operator_gets_404(archive_on, tenant_b, as_operator_b):
    assert as_operator_b.get(delete_url(settings_of(archive_on))).status_code == 404


def test_csm_cannot_delete_the_settings_of_a_tenant_that_archived(archived, as_csm, csm):
    assert as_csm.get(delete_url(archived)).status_code == 403
    assert as_csm.post(delete_url(archived), {"post": "yes"}).status_code == 403
    as_csm.post(changelist(), {"action": "delete_selected", "_selected_action": [archived.pk], "post": "yes"})
    assert ArchiveSettings.objects.filter(pk=archived.pk).exists()
    with pytest.raises(config.ValidationError) as err:
        config.archive_settings_delete(cfg=archived, by=csm)
    assert err.value.messages == [config.ERR_DELETE_ARCHIVED.format(tenant=archived.tenant)]


def test_csm_deletes_the_settings_of_a_tenant_that_never_archived(archive_on, as_csm):
    cfg = settings_of(archive_on)
    assert as_csm.get(delete_url(cfg)).status_code == 200
    assert as_csm.post(delete_url(cfg), {"post": "yes"}).status_code == 302
    assert not ArchiveSettings.objects.filter(pk=cfg.pk).exists()
    assert AuditLog.objects.filter(action="archive.settings_delete", tenant=archive_on).count() == 1


def test_no_new_unlocked_row_for_a_tenant_that_archived(archived, archive_on, as_operator_a):
    # the row gone by a path around the admin (a shell, a script): the lock must still hold
    ArchiveSettings.objects.filter(pk=archived.pk).delete()
    listing = as_operator_a.get(changelist()).content.decode()
    add_url = reverse("admin:archive_archivesettings_add")
    assert f"{add_url}?tenant={archive_on.pk}" not in listing
    response = as_operator_a.post(f"{add_url}?tenant={archive_on.pk}", {
        "tenant": archive_on.pk, "destination": Destination.SFTP, "sftp_port": 22, "object_lock_days": 0})
    assert response.status_code == 200
    assert config.ERR_SETTINGS_ARCHIVED.format(tenant=archive_on) in response.content.decode()
    assert not ArchiveSettings.objects.filter(tenant=archive_on).exists()


def test_a_row_made_again_around_the_admin_cannot_be_confirmed(archived, archive_on, as_operator_a):
    ArchiveSettings.objects.filter(pk=archived.pk).delete()
    again = ArchiveSettings.objects.create(tenant=archive_on, destination=Destination.PLATFORM)
    response = as_operator_a.post(reverse("admin:archive_archivesettings_confirm", args=[again.pk]),
                                  {"acknowledge": "final"})
    assert response.status_code == 400
    assert ArchiveSettings.objects.get(pk=again.pk).locked_at is None
