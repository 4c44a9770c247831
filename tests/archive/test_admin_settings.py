"""The archive settings page, per persona: operators configure, support views (never a secret,
never a change), another tenant's operator gets 404, the CSM sees all and repairs."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from archive.models import ArchiveSettings, Destination
from archive.services import config
from archive.services.paths import ERR_TEMPLATE_NEEDS_ID, ERR_TEMPLATE_UNKNOWN_ATTRIBUTE
from mktops.storage import s3
from tests.archive.conftest import email_sent_event, run_all, settings_of

pytestmark = pytest.mark.django_db

FORM_FIELDS = ("destination", "s3_bucket", "s3_bucket_arn", "s3_region", "s3_folder", "s3_kms_key_arn",
               "sftp_host", "sftp_port", "sftp_username", "sftp_password", "sftp_private_key",
               "sftp_host_key_fingerprint", "sftp_folder", "path_template_email", "path_template_sms",
               "path_template_push", "object_lock_mode", "object_lock_days")


def change_url(cfg):
    return reverse("admin:archive_archivesettings_change", args=[cfg.pk])


def form_data(cfg, **overrides):
    data = {name: getattr(cfg, name) for name in FORM_FIELDS}
    data.update({"sftp_password": "", "sftp_private_key": ""})
    data.update(overrides)
    return {k: ("" if v is None else v) for k, v in data.items()}


def tenant_s3(bucket="acme-archive", **extra):
    return {"destination": Destination.S3, "s3_bucket": bucket, "s3_bucket_arn": f"arn:aws:s3:::{bucket}",
            "s3_region": "us-east-1", "s3_folder": "archive", **extra}


@pytest.fixture
def cfg(archive_on):
    return settings_of(archive_on)


def test_changelist_lists_only_own_tenants(cfg, tenant_b, as_operator_a, as_operator_b, as_csm):
    url = reverse("admin:archive_archivesettings_changelist")
    assert as_operator_a.get(url).status_code == 200
    assert "Tenant B" not in as_operator_a.get(url).content.decode()
    assert "Tenant A" not in as_operator_b.get(url).content.decode()
    page = as_csm.get(url).content.decode()
    assert "Tenant A" in page and "Tenant B" in page


def test_operator_sees_policy_channels_and_saves_tenant_bucket(cfg, as_operator_a, settings):
    settings.MKTOPS_PLATFORM_PRINCIPALS = ["arn:aws:iam::123456789012:role/mktops-archive"]
    response = as_operator_a.post(change_url(cfg), form_data(cfg, **tenant_s3()))
    assert response.status_code == 302, response.context["adminform"].form.errors
    cfg.refresh_from_db()
    assert (cfg.destination, cfg.s3_bucket, cfg.s3_folder) == (Destination.S3, "acme-archive", "archive")
    page = as_operator_a.get(change_url(cfg)).content.decode()
    for action in config.POLICY_ACTIONS:
        assert action in page
    assert "arn:aws:iam::123456789012:role/mktops-archive" in page
    assert "arn:aws:s3:::acme-archive/*" in page
    assert "WhatsApp" in page and "Not supported" in page


@pytest.mark.parametrize(("template", "error"), [
    ("{{db_name}}/{{date}}/{{nope}}_{{id}}.eml",
     ERR_TEMPLATE_UNKNOWN_ATTRIBUTE.format(field="email file path", name="nope")),
    ("{{db_name}}/{{date}}/{{cid}}.eml", ERR_TEMPLATE_NEEDS_ID.format(field="email file path")),
])
def test_bad_file_path_template_is_refused_with_a_clear_error(cfg, as_operator_a, template, error):
    response = as_operator_a.post(change_url(cfg), form_data(cfg, **tenant_s3(path_template_email=template)))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["path_template_email"] == [error]
    assert ArchiveSettings.objects.get(pk=cfg.pk).destination == Destination.PLATFORM


def test_bucket_arn_must_match_the_bucket(cfg, as_operator_a):
    response = as_operator_a.post(change_url(cfg), form_data(cfg, **tenant_s3(s3_bucket_arn="arn:aws:s3:::other")))
    assert response.context["adminform"].form.errors["s3_bucket_arn"] == [
        config.ERR_BUCKET_ARN.format(bucket="acme-archive")]


@pytest.mark.parametrize(("bucket", "rule"), [("Acme_Archive", s3.ERR_BUCKET_CHARS), ("192.168.5.4", s3.ERR_BUCKET_IP),
                                             ("acme..archive", s3.ERR_BUCKET_DOTS)])
def test_bucket_name_follows_s3s_rules(cfg, as_operator_a, bucket, rule):
    data = form_data(cfg, **tenant_s3(s3_bucket=bucket, s3_bucket_arn=f"arn:aws:s3:::{bucket}"))
    response = as_operator_a.post(change_url(cfg), data)
    assert response.context["adminform"].form.errors["s3_bucket"] == [config.ERR_BUCKET_NAME.format(rules=rule)]
    assert ArchiveSettings.objects.get(pk=cfg.pk).destination == Destination.PLATFORM


def test_sftp_secret_is_write_only_and_hidden_from_support(cfg, as_operator_a, as_support_a):
    data = form_data(cfg, destination=Destination.SFTP, sftp_host="localhost", sftp_port=22,
                     sftp_username="archive", sftp_password="hunter2-very-secret",
                     sftp_host_key_fingerprint="SHA256:" + "A" * 43, sftp_folder="/upload")
    assert as_operator_a.post(change_url(cfg), data).status_code == 302
    cfg.refresh_from_db()
    assert cfg.sftp_password == "hunter2-very-secret"
    operator_page = as_operator_a.get(change_url(cfg)).content.decode()
    assert "hunter2-very-secret" not in operator_page  # write-only, shown masked
    support_page = as_support_a.get(change_url(cfg)).content.decode()
    assert "hunter2" not in support_page and "sftp_password" not in support_page
    assert "sftp_private_key" not in support_page
    # saving again with the password box blank keeps it
    assert as_operator_a.post(change_url(cfg), {**data, "sftp_password": ""}).status_code == 302
    cfg.refresh_from_db()
    assert cfg.sftp_password == "hunter2-very-secret"
    # and the changelist refuses to filter on it
    url = reverse("admin:archive_archivesettings_changelist") + "?sftp_password=x"
    assert as_operator_a.get(url).status_code in (302, 400)


def test_support_views_but_never_changes(cfg, as_support_a):
    assert as_support_a.get(change_url(cfg)).status_code == 200
    assert as_support_a.post(change_url(cfg), form_data(cfg, **tenant_s3())).status_code == 403
    for name in ("test", "retention", "redeliver_all"):
        url = reverse(f"admin:archive_archivesettings_{name}", args=[cfg.pk])
        assert as_support_a.post(url).status_code == 403
    assert as_support_a.get(reverse("admin:archive_archivesettings_manifests", args=[cfg.pk])).status_code == 403


def test_other_tenants_operator_gets_404(cfg, as_operator_b):
    assert as_operator_b.get(change_url(cfg)).status_code == 404
    for name in ("test", "retention", "redeliver_all"):
        assert as_operator_b.post(reverse(f"admin:archive_archivesettings_{name}", args=[cfg.pk])).status_code == 404
    for name in ("completeness", "manifests"):
        assert as_operator_b.get(reverse(f"admin:archive_archivesettings_{name}", args=[cfg.pk])).status_code == 404


def test_csm_sees_all_and_repairs_operator_may_not_redeliver(cfg, as_csm, as_operator_a):
    assert as_csm.get(change_url(cfg)).status_code == 200
    url = reverse("admin:archive_archivesettings_redeliver_all", args=[cfg.pk])
    assert as_operator_a.post(url).status_code == 403
    assert as_csm.post(url).status_code == 302


def test_choice_is_locked_after_the_first_stored_message(cfg, ingest, s3, as_operator_a, as_csm):
    ingest(email_sent_event(1))
    run_all()
    cfg.refresh_from_db()
    assert cfg.locked_at is not None
    page = as_csm.get(change_url(cfg)).content.decode()
    assert "Locked since" in page and cfg.locked_at.strftime("%Y-%m-%d %H:%M") in page
    # the form shows the locked fields read-only; a forged change is refused by the service
    as_operator_a.post(change_url(cfg), form_data(cfg, **tenant_s3()))
    assert ArchiveSettings.objects.get(pk=cfg.pk).destination == Destination.PLATFORM
    cfg.destination = Destination.S3
    with pytest.raises(ValidationError) as err:
        config.archive_settings_save(cfg=cfg)
    assert err.value.message_dict["destination"][0].startswith("destination: the destination is locked since")


def test_test_connection_reports_success_and_the_reason_of_a_failure(cfg, s3, as_operator_a):
    url = reverse("admin:archive_archivesettings_test", args=[cfg.pk])
    response = as_operator_a.post(url, follow=True)
    assert "Connection works" in response.content.decode()
    assert s3.list_keys() == []  # the probe file was removed
    cfg.refresh_from_db()
    assert cfg.last_test_ok is True
    ArchiveSettings.objects.filter(pk=cfg.pk).update(**tenant_s3(bucket="no-such-bucket-anywhere"))
    response = as_operator_a.post(url, follow=True)
    assert "Bucket missing" in response.content.decode()
    cfg.refresh_from_db()
    assert cfg.last_test_ok is False and "Bucket missing" in cfg.last_test_message
    assert "Bucket missing" in as_operator_a.get(change_url(cfg)).content.decode()


def test_retention_rule_applied_read_back_and_warning(cfg, s3, as_operator_a):
    tenant = cfg.tenant
    tenant.archive_file_retention_days, tenant.event_retention_days = 400, 30
    tenant.save()
    response = as_operator_a.post(reverse("admin:archive_archivesettings_retention", args=[cfg.pk]), follow=True)
    assert "expire after 400 days (read back from the bucket)" in response.content.decode()
    rules = s3.boto3().get_bucket_lifecycle_configuration(Bucket=s3.bucket)["Rules"]
    assert any(r["Filter"]["Prefix"] == "tenant_a/" and r["Expiration"]["Days"] == 400 for r in rules)
    page = as_operator_a.get(change_url(cfg)).content.decode()
    assert "retention-warning" in page and "Events are kept 30 days but files 400 days" in page


# --- a GET writes nothing; the custom views share one helper; each action in the history ---------
def _history(cfg) -> list[str]:
    from django.contrib.admin.models import LogEntry

    return [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(cfg.pk)).order_by("pk")
            if e.content_type.model_class() is ArchiveSettings]


def test_the_changelist_creates_no_row_and_links_to_the_add_form(archive_on, tenant_b, as_operator_a,
                                                                 as_support_a, as_csm):
    changelist = reverse("admin:archive_archivesettings_changelist")
    add = reverse("admin:archive_archivesettings_add") + f"?tenant={archive_on.pk}"
    for client in (as_operator_a, as_support_a, as_csm):
        assert client.get(changelist).status_code == 200
    assert not ArchiveSettings.objects.exists()
    assert f'href="{add}"' in as_operator_a.get(changelist).content.decode()
    support_page = as_support_a.get(changelist).content.decode()
    assert "Archive not set up yet" in support_page and f'href="{add}"' not in support_page
    assert "Tenant B" not in as_operator_a.get(changelist).content.decode()
    # the link opens the add form for that tenant; its Save creates the row
    form = as_operator_a.get(add)
    assert form.status_code == 200 and str(form.context["adminform"].form.initial["tenant"]) == str(archive_on.pk)
    data = form_data(ArchiveSettings(tenant=archive_on))
    response = as_operator_a.post(reverse("admin:archive_archivesettings_add"), {**data, "tenant": archive_on.pk})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert ArchiveSettings.objects.get().tenant == archive_on
    assert "Archive not set up yet" not in as_operator_a.get(changelist).content.decode()


def test_other_tenants_operator_gets_404_on_every_view_with_get_and_post(cfg, as_operator_b):
    for name in ("test", "retention", "redeliver_all", "completeness", "manifests"):
        for method in ("get", "post"):
            response = getattr(as_operator_b, method)(reverse(f"admin:archive_archivesettings_{name}",
                                                              args=[cfg.pk]))
            assert response.status_code == 404, (name, method)


def test_a_get_to_a_post_only_action_is_405_and_does_nothing(cfg, as_operator_a, as_csm):
    for name in ("test", "retention"):
        assert as_operator_a.get(reverse(f"admin:archive_archivesettings_{name}", args=[cfg.pk])).status_code == 405
    assert as_operator_a.get(reverse("admin:archive_archivesettings_redeliver_all",
                                     args=[cfg.pk])).status_code == 403  # the level comes first
    assert as_csm.get(reverse("admin:archive_archivesettings_redeliver_all", args=[cfg.pk])).status_code == 405
    cfg.refresh_from_db()
    assert cfg.last_test_at is None and cfg.lifecycle_checked_at is None
    assert _history(cfg) == []


def test_every_action_is_written_to_the_settings_history(cfg, s3, as_operator_a, as_csm):
    for name in ("test", "retention"):
        assert as_operator_a.post(reverse(f"admin:archive_archivesettings_{name}", args=[cfg.pk])).status_code == 302
    assert as_csm.post(reverse("admin:archive_archivesettings_redeliver_all", args=[cfg.pk])).status_code == 302
    assert as_csm.post(reverse("admin:archive_archivesettings_completeness", args=[cfg.pk])).status_code == 302
    history = _history(cfg)
    assert [h.split(":")[0].split(" ")[0] for h in history] == ["Connection", "File", "Re-delivery", "Re-drive"]
    assert history[0].startswith("Connection test: ") and history[1].startswith("File retention rule: ")
