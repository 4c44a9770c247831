"""Issue 13 item 10: Test connection from the add form, before saving, with the same checks as on a saved
connection (the form's rules, the probe, the per-tenant limit); nothing saved. In Chromium against moto,
and per persona."""

import pytest

from exports.models import ExportConnection
from exports.services import rules
from mktops.models import AuditLog
from tests.exports.test_admin import form_data

URL = "/admin/exports/exportconnection/test-unsaved/"


def test_a_good_destination_is_tested_and_nothing_saved(as_operator_a, entitled, bucket, s3):
    answer = as_operator_a.post(URL, form_data(entitled, bucket, name="My S3 Export", folder_path="f",
                                               region="us-east-1")).json()
    assert answer["ok"], answer
    assert "Test connection succeeded" in answer["message"]
    (probe,) = [k for k in s3.list_keys(bucket) if "mktops_connection_test" in k]
    assert probe.startswith("f_My S3 Export/")
    assert not ExportConnection.objects.exists()
    row = AuditLog.objects.get(action="s3_export.test")
    assert row.object_id == "" and row.detail["ok"] is True


def test_bad_fields_are_named_and_nothing_is_uploaded(as_operator_a, entitled, bucket, s3):
    answer = as_operator_a.post(URL, form_data(entitled, bucket, name="a/b", region="us-east-1")).json()
    assert not answer["ok"] and answer["errors"]["name"] == [rules.ERR_NAME_SLASH]
    assert s3.list_keys(bucket) == []
    assert not AuditLog.objects.filter(action="s3_export.test").exists()


def test_a_missing_bucket_fails_with_the_reason(as_operator_a, entitled, s3):
    answer = as_operator_a.post(URL, form_data(entitled, "mktops-no-such-bucket-42", region="us-east-1")).json()
    assert not answer["ok"] and answer["message"].startswith("Test connection failed:")


def test_per_persona(as_operator_b, as_support_a, as_operator_a, entitled, bucket, s3):
    data = form_data(entitled, bucket, region="us-east-1")
    answer = as_operator_b.post(URL, data).json()  # tenant A is not a choice for B's operator
    assert not answer["ok"] and "tenant" in answer["errors"]
    assert as_support_a.post(URL, data).status_code == 403
    assert as_operator_a.get(URL).status_code == 405
    assert s3.list_keys(bucket) == [] and not ExportConnection.objects.exists()


@pytest.mark.browser
def test_the_operator_tests_from_the_add_form_in_the_browser(transactional_db, page_for, entitled, operator_a,
                                                             bucket, s3):
    page = page_for(operator_a)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/admin/exports/exportconnection/add/")
    page.fill("#id_name", "warehouse")
    page.fill("#id_bucket", bucket)
    page.select_option("#id_region", "us-east-1")
    page.click("#test-unsaved")
    result = page.locator("#test-unsaved-result li")
    result.wait_for()
    page.wait_for_function("document.querySelector('#test-unsaved-result li').textContent.length > 0")
    assert "Test connection succeeded" in result.inner_text()
    page.screenshot(path="/tmp/h_exports_test_unsaved.png", full_page=True)
    assert page.input_value("#id_name") == "warehouse"  # the form is as it was
    assert not ExportConnection.objects.exists()
    page.fill("#id_bucket", "mktops-no-such-bucket-42")
    page.click("#test-unsaved")
    page.wait_for_function("document.querySelector('#test-unsaved-result li').textContent.includes('failed')")
    assert "error" in result.get_attribute("class")
