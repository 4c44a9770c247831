"""In a real browser: an operator creates a connection with a PGP key, presses Test connection and sees it
succeed, then sees the first run on the connection page."""

from datetime import timedelta

import pytest

from exports.models import ExportConnection, ExportRun
from mktops import clock as mk_clock
from mktops.jobs import JobStatus
from tests.conftest import make_event
from tests.exports.conftest import run_due

pytestmark = pytest.mark.browser


def test_operator_sets_up_an_encrypted_export_and_sees_the_first_run(
        transactional_db, page_for, entitled, operator_a, bucket, gpg_home, api, clock, s3):
    page = page_for(operator_a)
    page.goto("/admin/exports/exportconnection/add/")
    page.fill("#id_name", "warehouse")
    page.fill("#id_bucket", bucket)
    page.fill("#id_folder_path", "mktops/events")
    page.select_option("#id_region", label="US East (N. Virginia) (us-east-1)")
    page.select_option("#id_encryption", "pgp")
    page.fill("#id_pgp_public_key", gpg_home.public_key)
    page.click("input[name=_continue]")
    page.wait_for_selector("#test-connection")
    connection = ExportConnection.objects.get(tenant=entitled, name="warehouse")
    assert gpg_home.fingerprint in page.content()
    assert f"s3://{bucket}/mktops/events_warehouse/export_day=" in page.locator("#export-path").inner_text()

    page.click("#test-connection")
    page.wait_for_selector(".messagelist:not([hidden])")
    assert "Test connection succeeded" in page.locator(".messagelist:not([hidden])").inner_text()
    assert "succeeded" in page.locator("#export-last-test").inner_text()

    api("/events", {"events": [make_event(i) for i in range(5)]})
    mk_clock.advance(connection.next_run_at - mk_clock.now() + timedelta(seconds=1))
    (run,) = run_due(advance=None)
    assert run.status == JobStatus.DONE

    page.reload()
    rows = page.locator("#export-runs .export-run")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "Done" in row and ExportRun.objects.get().object_key in row and "5" in row
    assert "Healthy" in page.locator("#export-health").inner_text()


def test_the_path_is_shown_as_the_operator_types(transactional_db, page_for, entitled, operator_a, bucket, s3):
    page = page_for(operator_a)
    page.goto("/admin/exports/exportconnection/add/")
    preview = page.locator("#export-path-preview")
    page.fill("#id_bucket", bucket)
    page.fill("#id_folder_path", "my_folder")
    page.fill("#id_name", "nightly")
    text = preview.inner_text()
    assert text.startswith(f"s3://{bucket}/my_folder_nightly/export_day=") and text.endswith(".json.gz")
    page.select_option("#id_encryption", "pgp")
    assert preview.inner_text().endswith(".json.gz.gpg")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path="/tmp/h_exports_add_form.png", full_page=True)
    assert not ExportConnection.objects.exists()  # before saving
