"""Every S3 export admin page, per persona: operator A configures, support A reads (403 on every change),
operator B gets 404 on tenant A's objects, the CSM sees all."""

from datetime import timedelta

import pytest
from django.utils.html import escape

from exports.models import ExportConnection, ExportRun, ExportUsage
from exports.services import connections, rules
from mktops import clock as mk_clock
from mktops.jobs import JobStatus
from mktops.models import AuditLog
from mktops.pgp import ERR_PGP_GARBAGE
from mktops.storage import s3 as s3_rules  # not `s3`: that is the S3 server fixture here
from tests.conftest import make_event
from tests.exports.conftest import run_due


def shows(response, text: str) -> bool:
    """The sentence is on the page (as HTML, escaped)."""
    return escape(text) in response.content.decode()

BASE = "/admin/exports/exportconnection/"
RUNS = "/admin/exports/exportrun/"
USAGE = "/admin/exports/exportusage/"


@pytest.fixture
def connection(make_connection):
    return make_connection()


@pytest.fixture
def run(connection, api, clock, s3):
    api("/events", {"events": [make_event(1), make_event(2)]})
    (run,) = run_due()
    return run


def form_data(tenant, bucket_name, **overrides) -> dict:
    data = {"tenant": tenant.pk, "name": "dwh", "bucket": bucket_name, "folder_path": "", "region": "ap-south-1",
            "all_events": "on", "frequency": "15min", "encryption": "none", "pgp_public_key": "", "kms_key_arn": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- connection changelist and change page ------------------------------------------
def test_changelist_per_persona(connection, as_operator_a, as_support_a, as_operator_b, as_csm):
    assert connection.name.encode() in as_operator_a.get(BASE).content
    assert connection.name.encode() in as_support_a.get(BASE).content
    page_b = as_operator_b.get(BASE)
    assert page_b.status_code == 200 and b"warehouse" not in page_b.content
    assert connection.name.encode() in as_csm.get(BASE).content


def test_change_page_shows_region_policy_path_health(connection, as_operator_a, settings):
    page = as_operator_a.get(f"{BASE}{connection.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Asia Pacific (Mumbai) (ap-south-1)" in html
    assert "s3:PutObject" in html and settings.MKTOPS_PLATFORM_PRINCIPALS[0] in html
    assert f"arn:aws:s3:::{connection.bucket}/*" in html
    assert "warehouse/export_day=" in html and ".json.gz" in html
    assert "Waiting for the first file" in html
    assert 'id="test-connection"' in html


def test_kms_key_policy_shown_when_a_key_is_set(make_connection, as_operator_a):
    arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    connection = make_connection(kms_key_arn=arn)
    html = as_operator_a.get(f"{BASE}{connection.pk}/change/").content.decode()
    assert "kms:GenerateDataKey" in html and "s3.us-east-1.amazonaws.com" in html


def test_support_reads_but_changes_nothing(connection, as_support_a, bucket, tenant_a):
    page = as_support_a.get(f"{BASE}{connection.pk}/change/")
    assert page.status_code == 200
    assert b'id="test-connection"' not in page.content and b"Health" in page.content
    assert as_support_a.post(f"{BASE}{connection.pk}/change/", form_data(tenant_a, bucket)).status_code == 403
    assert as_support_a.get(f"{BASE}add/").status_code == 403
    assert as_support_a.post(f"{BASE}add/", form_data(tenant_a, bucket)).status_code == 403
    assert as_support_a.post(f"{BASE}{connection.pk}/delete/", {"post": "yes"}).status_code == 403
    for action in ("test", "pause", "resume", "reexport"):
        assert as_support_a.post(f"{BASE}{connection.pk}/{action}/").status_code == 403
    assert ExportConnection.objects.filter(pk=connection.pk, paused=False).exists()


def test_other_tenants_operator_gets_404(connection, as_operator_b, tenant_a, bucket):
    for url in (f"{BASE}{connection.pk}/change/", f"{BASE}{connection.pk}/delete/"):
        assert as_operator_b.get(url).status_code == 404
    for action in ("test", "pause", "resume", "reexport"):
        assert as_operator_b.post(f"{BASE}{connection.pk}/{action}/").status_code == 404
    response = as_operator_b.post(f"{BASE}add/", form_data(tenant_a, bucket))
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert ExportConnection.objects.count() == 1


def test_csm_sees_and_operates_every_tenant(connection, as_csm):
    assert as_csm.get(f"{BASE}{connection.pk}/change/").status_code == 200
    assert as_csm.post(f"{BASE}{connection.pk}/pause/").status_code == 302


# --- creating and editing ------------------------------------------------------
def test_operator_creates_a_connection(as_operator_a, tenant_a, bucket):
    response = as_operator_a.post(f"{BASE}add/", form_data(tenant_a, bucket, folder_path="my_folder/sub_folder"))
    assert response.status_code == 302, response.content.decode()[:3000]
    connection = ExportConnection.objects.get(tenant=tenant_a, name="dwh")
    assert connection.folder_path == "my_folder/sub_folder" and connection.region == "ap-south-1"
    assert connection.next_run_at is not None and connection.created_by is not None
    assert AuditLog.objects.filter(action="s3_export.create", object_id=str(connection.pk)).exists()


def test_pgp_key_validated_on_save_and_shown(as_operator_a, tenant_a, bucket, gpg_home):
    response = as_operator_a.post(f"{BASE}add/", form_data(tenant_a, bucket, encryption="pgp",
                                                           pgp_public_key="not a key at all"))
    assert response.status_code == 200
    assert shows(response, ERR_PGP_GARBAGE)
    response = as_operator_a.post(f"{BASE}add/", form_data(tenant_a, bucket, encryption="pgp",
                                                           pgp_public_key=gpg_home.public_key))
    assert response.status_code == 302
    connection = ExportConnection.objects.get(name="dwh")
    html = as_operator_a.get(f"{BASE}{connection.pk}/change/").content.decode()
    assert gpg_home.fingerprint in html and "RSA 2048" in html and ".json.gz.gpg" in html


@pytest.mark.parametrize(("field", "value", "message"), [
    ("bucket", "My_Bucket", s3_rules.ERR_BUCKET_CHARS),
    ("bucket", "ab", s3_rules.ERR_BUCKET_LENGTH),
    ("bucket", "192.168.5.4", s3_rules.ERR_BUCKET_IP),
    ("bucket", "my..bucket", s3_rules.ERR_BUCKET_DOTS),
    ("bucket", "-bucket", s3_rules.ERR_BUCKET_EDGES),
    ("bucket", "xn--bucket", s3_rules.ERR_BUCKET_PREFIX),
    ("bucket", "bucket-s3alias", s3_rules.ERR_BUCKET_SUFFIX),
    ("folder_path", "/my_folder", rules.ERR_FOLDER_SLASHES),
    ("folder_path", "my_folder/", rules.ERR_FOLDER_SLASHES),
    ("folder_path", "a//b", rules.ERR_FOLDER_EMPTY_PART),
    ("folder_path", "a/../b", rules.ERR_FOLDER_CHARS),
    ("name", "a/b", rules.ERR_NAME_SLASH),
    ("name", "tab\there", rules.ERR_NAME_CONTROL),
    ("name", "..", rules.ERR_NAME_DOTS),
    ("folder_path", "a/line\nbreak", rules.ERR_FOLDER_CHARS),
    ("folder_path", "é" * 480, rules.ERR_KEY_BYTES.format(limit=rules.PATH_BYTES, used=960 + 1 + 3)),
    ("name", "backfill", rules.ERR_NAME_RESERVED),
    ("kms_key_arn", "not-an-arn", rules.ERR_KMS_ARN),
    ("kms_key_arn", "arn:aws:kms:eu-west-1:123456789012:key/abc",
     rules.ERR_KMS_REGION.format(key_region="eu-west-1", region="ap-south-1")),
    ("encryption", "pgp", rules.ERR_KEY_REQUIRED),
])
def test_bad_input_names_field_and_rule(as_operator_a, tenant_a, bucket, field, value, message):
    response = as_operator_a.post(f"{BASE}add/", {**form_data(tenant_a, bucket), field: value})
    assert response.status_code == 200
    assert shows(response, message)
    assert not ExportConnection.objects.exists()


def test_region_outside_the_list_is_refused(as_operator_a, tenant_a, bucket):
    response = as_operator_a.post(f"{BASE}add/", form_data(tenant_a, bucket, region="mars-north-1"))
    assert response.status_code == 200 and b"Select a valid choice" in response.content


def test_name_unique_within_tenant(connection, as_operator_a, tenant_a, bucket):
    response = as_operator_a.post(f"{BASE}add/", form_data(tenant_a, bucket, name="warehouse"))
    assert response.status_code == 200 and shows(response, rules.ERR_NAME_TAKEN)


def test_selected_events_from_the_catalogue(api, as_operator_a, tenant_a, bucket):
    api("/events", {"events": [make_event(1), make_event(2, event_name="Login", event_code="L",
                                                       user_attributes={"plan": "gold"})]})
    catalogue = f"{BASE}catalogue/%s/?tenant={tenant_a.pk}"
    assert _names(as_operator_a.get(catalogue % "event_names")) == ["Login", "Purchase"]
    assert _names(as_operator_a.get(catalogue % "user_attributes")) == ["plan"]
    response = as_operator_a.post(f"{BASE}add/", form_data(tenant_a, bucket, all_events=None))
    assert shows(response, rules.ERR_EVENTS_NONE)
    response = as_operator_a.post(f"{BASE}add/", {**form_data(tenant_a, bucket, all_events=None),
                                                  "event_names": ["Login"], "user_attributes": ["plan"]})
    assert response.status_code == 302
    connection = ExportConnection.objects.get(name="dwh")
    assert connection.event_names == ["Login"] and connection.user_attributes == ["plan"]
    assert not connection.all_events


def test_unknown_event_name_is_refused_by_the_service(make_connection):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as err:
        make_connection(all_events=False, event_names=["Never Seen"])
    assert err.value.message_dict["event_names"] == [rules.ERR_EVENTS_UNKNOWN.format(names="Never Seen")]


def test_edit_frequency_keeps_the_watermark(connection, run, as_operator_a, tenant_a):
    connection.refresh_from_db()
    watermark = connection.exported_seq
    response = as_operator_a.post(f"{BASE}{connection.pk}/change/",
                                  form_data(tenant_a, connection.bucket, name="warehouse", region="us-east-1",
                                            frequency="daily"))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.frequency == "daily" and connection.exported_seq == watermark == run.to_seq


def test_pause_resume_delete(connection, as_operator_a):
    assert as_operator_a.post(f"{BASE}{connection.pk}/pause/").status_code == 302
    connection.refresh_from_db()
    assert connection.paused
    assert b'id="resume-connection"' in as_operator_a.get(f"{BASE}{connection.pk}/change/").content
    assert as_operator_a.get(f"{BASE}{connection.pk}/pause/").status_code == 405
    assert as_operator_a.post(f"{BASE}{connection.pk}/resume/").status_code == 302
    connection.refresh_from_db()
    assert not connection.paused
    assert as_operator_a.post(f"{BASE}{connection.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not ExportConnection.objects.exists()
    assert AuditLog.objects.filter(action="s3_export.delete").exists()


def test_not_entitled_tenant_is_told(tenant_a, operator_a, as_operator_a, bucket):
    connection = connections.connection_save(
        connection=ExportConnection(tenant=tenant_a, name="dwh", bucket=bucket), by=operator_a)
    for url in (BASE, f"{BASE}add/", f"{BASE}{connection.pk}/change/"):
        assert b"S3 export is not enabled for Tenant A" in as_operator_a.get(url).content


# --- test connection and re-export from the page ------------------------------------
def test_test_connection_reports_success_and_failure(connection, as_operator_a, s3):
    response = as_operator_a.post(f"{BASE}{connection.pk}/test/", follow=True)
    assert b"Test connection succeeded" in response.content
    connection.bucket = "no-such-bucket-anywhere"
    connection.save()
    response = as_operator_a.post(f"{BASE}{connection.pk}/test/", follow=True)
    assert b"Test connection failed" in response.content and b"does not exist" in response.content


def test_reexport_page(connection, as_operator_a, clock):
    url = f"{BASE}{connection.pk}/reexport/"
    assert as_operator_a.get(url).status_code == 200
    today = mk_clock.now().date()
    bad = as_operator_a.post(url, {"date_from": f"{today}", "date_to": f"{today + timedelta(days=2)}"})
    assert bad.status_code == 200 and shows(bad, connections.ERR_RANGE_FUTURE)
    good = as_operator_a.post(url, {"date_from": f"{today - timedelta(days=2)}", "date_to": f"{today}"})
    assert good.status_code == 302
    assert ExportRun.objects.get(connection=connection).object_key.startswith("backfill_warehouse/")


# --- runs ---------------------------------------------------------------------
def test_runs_per_persona(run, as_operator_a, as_support_a, as_operator_b, as_csm):
    for client in (as_operator_a, as_support_a, as_csm):
        assert client.get(RUNS).status_code == 200
        page = client.get(f"{RUNS}{run.pk}/change/")
        assert page.status_code == 200 and run.object_key.encode() in page.content
    assert run.object_key.encode() not in as_operator_b.get(RUNS).content
    assert as_operator_b.get(f"{RUNS}{run.pk}/change/").status_code == 404
    assert as_support_a.post(f"{RUNS}{run.pk}/change/", {}).status_code == 403
    assert as_operator_a.post(f"{RUNS}{run.pk}/delete/", {"post": "yes"}).status_code == 403


def test_connection_page_lists_its_runs(run, connection, as_operator_a):
    html = as_operator_a.get(f"{BASE}{connection.pk}/change/").content.decode()
    assert run.object_key in html and "Done" in html


def test_retry_now_action(make_connection, api, as_operator_a, as_support_a, clock):
    connection = make_connection(bucket="no-such-bucket-for-retry")
    api("/events", {"events": [make_event(1)]})
    (run,) = run_due()
    assert run.status == JobStatus.RETRYING
    data = {"action": "retry_now", "_selected_action": [run.pk]}
    as_support_a.post(RUNS, data)
    run.refresh_from_db()
    assert run.next_attempt_at > mk_clock.now()
    assert as_operator_a.post(RUNS, data).status_code == 302
    run.refresh_from_db()
    assert run.next_attempt_at <= mk_clock.now()
    assert connection.pk == run.connection_id


# --- usage ----------------------------------------------------------------------
def test_usage_visible_to_csm_only(run, entitled, as_csm, as_operator_a, as_support_a, as_operator_b):
    usage = ExportUsage.objects.get(tenant=entitled)
    page = as_csm.get(USAGE)
    assert page.status_code == 200 and b"Tenant A" in page.content and str(usage.bytes).encode() in page.content
    assert as_csm.get(f"{USAGE}{usage.pk}/change/").status_code == 200
    for client in (as_operator_a, as_support_a, as_operator_b):
        assert client.get(USAGE).status_code == 403


# --- the custom views share one helper: 404, 403, 405, and each action in the history ----
ACTIONS = ("test", "pause", "resume", "reexport")
POST_ONLY = ("test", "pause", "resume")


def _history(obj) -> list[str]:
    from django.contrib.admin.models import LogEntry

    return [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(obj.pk)).order_by("pk")
            if e.content_type.model_class() is type(obj)]


def test_other_tenants_operator_gets_404_on_every_action_with_get_and_post(connection, as_operator_b):
    for action in ACTIONS:
        for method in ("get", "post"):
            assert getattr(as_operator_b, method)(f"{BASE}{connection.pk}/{action}/").status_code == 404, action


def test_support_gets_403_on_every_action_before_the_method_is_looked_at(connection, as_support_a):
    for action in ACTIONS:
        assert as_support_a.get(f"{BASE}{connection.pk}/{action}/").status_code == 403, action


def test_a_get_to_a_post_only_action_is_405_and_changes_nothing(connection, as_operator_a):
    for action in POST_ONLY:
        assert as_operator_a.get(f"{BASE}{connection.pk}/{action}/").status_code == 405, action
    connection.refresh_from_db()
    assert not connection.paused and connection.last_test_at is None
    assert _history(connection) == []


def test_every_action_is_written_to_the_connections_history(connection, as_operator_a, s3, clock):
    for action in POST_ONLY:
        assert as_operator_a.post(f"{BASE}{connection.pk}/{action}/").status_code == 302
    today = mk_clock.now().date()
    assert as_operator_a.post(f"{BASE}{connection.pk}/reexport/", {
        "date_from": f"{today - timedelta(days=1)}", "date_to": f"{today}"}).status_code == 302
    history = _history(connection)
    assert [h.split(":")[0].split(" ")[0] for h in history] == ["Connection", "Paused", "Resumed", "Re-export"]
    assert history[0].startswith("Connection test: ")
    page = as_operator_a.get(f"{BASE}{connection.pk}/history/").content.decode()
    assert "Paused" in page and "Re-export of" in page


def test_retry_now_is_written_to_the_runs_history(make_connection, api, as_operator_a, clock):
    make_connection(bucket="no-such-bucket-for-retry")
    api("/events", {"events": [make_event(1)]})
    (run,) = run_due()
    assert as_operator_a.post(RUNS, {"action": "retry_now", "_selected_action": [run.pk]}).status_code == 302
    assert _history(run) == ["Retry now requested."]


# --- the pickers autocomplete over the tenant's catalogue, never list it ---------------------
def _names(response) -> list[str]:
    assert response.status_code == 200, response
    return [r["id"] for r in response.json()["results"]]


@pytest.fixture
def big_catalogue(tenant_a, tenant_b):
    """5,001 event and attribute names in tenant A; a few in tenant B."""
    from mktops.models import EventName, UserAttributeName

    for model in (EventName, UserAttributeName):
        model.objects.bulk_create([model(tenant=tenant_a, name=f"name-{i:05d}") for i in range(5001)])
        model.objects.bulk_create([model(tenant=tenant_b, name=f"bravo-{i}") for i in range(3)])
    return tenant_a


def test_the_form_lists_no_catalogue_only_the_selected_names(big_catalogue, make_connection, as_operator_a):
    connection = make_connection(all_events=False, event_names=["name-04321"], user_attributes=["name-00007"])
    for url in (f"{BASE}add/", f"{BASE}{connection.pk}/change/"):
        response = as_operator_a.get(url)
        page = response.content.decode()
        assert page.count("<option") < 60, url  # region, frequency, encryption, tenant: not 10,000 names
        assert len(response.content) < 200_000
        assert "name-00001" not in page
    page = as_operator_a.get(f"{BASE}{connection.pk}/change/").content.decode()
    assert '<option value="name-04321" selected>' in page and '<option value="name-00007" selected>' in page


def test_the_catalogue_endpoint_pages_the_tenants_names(big_catalogue, as_operator_a):
    url = f"{BASE}catalogue/event_names/?tenant={big_catalogue.pk}"
    first = as_operator_a.get(url).json()
    assert len(first["results"]) == 20 and first["pagination"]["more"]
    second = _names(as_operator_a.get(url + "&page=2"))
    assert second[0] == "name-00020" and not set(second) & {r["id"] for r in first["results"]}
    assert _names(as_operator_a.get(url + "&term=04321")) == ["name-04321"]
    assert not as_operator_a.get(url + "&term=bravo").json()["results"]


def test_the_catalogue_endpoint_is_scoped_to_the_users_tenants(big_catalogue, tenant_b, as_operator_b,
                                                               as_support_a, as_csm):
    url = f"{BASE}catalogue/%s/?tenant={big_catalogue.pk}"
    for kind in ("event_names", "user_attributes"):
        assert as_operator_b.get(url % kind).status_code == 404  # tenant A's names stay A's
        assert as_support_a.get(url % kind).status_code == 403  # support picks nothing
        assert as_csm.get(url % kind).status_code == 200
    assert _names(as_operator_b.get(f"{BASE}catalogue/event_names/?tenant={tenant_b.pk}")) == [
        "bravo-0", "bravo-1", "bravo-2"]
    assert as_operator_b.get(f"{BASE}catalogue/event_names/").status_code == 404
    assert as_operator_b.get(f"{BASE}catalogue/contacts/?tenant={tenant_b.pk}").status_code == 404


def test_a_name_picked_from_another_tenant_is_refused(big_catalogue, tenant_b, as_operator_b, bucket):
    response = as_operator_b.post(f"{BASE}add/", {**form_data(tenant_b, bucket, all_events=None),
                                                  "event_names": ["name-00001"]})
    assert response.status_code == 200
    assert shows(response, rules.ERR_EVENTS_UNKNOWN.format(names="name-00001"))
    assert not ExportConnection.objects.exists()
