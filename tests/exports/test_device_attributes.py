"""Issue 13 item 8: device attributes are chosen along with user attributes (the seed: "user attributes and
device attributes"). None chosen: a record carries all of the event's device attributes, as before; chosen:
only those. The picker's endpoint per persona. Against moto."""

from exports.models import ExportConnection
from exports.services import rules
from tests.conftest import make_event
from tests.exports.conftest import read_records
from tests.exports.test_admin import _names, form_data, shows

BASE = "/admin/exports/exportconnection/"


def _device(records):
    return [r["event"]["device_attributes"] for r in records]


def test_chosen_device_attributes_are_exported_and_no_others(make_connection, ingest, due, s3, bucket):
    connection = make_connection(device_attributes=["os", "app version"])
    ingest(0, 1, device_attributes={"os": "ios", "app version": "7.1", "model": "iPhone 15"})
    ingest(1, 1, device_attributes={"model": "Pixel"})
    ingest(2, 1)
    (run,) = due()
    assert run.device_attributes == ["os", "app version"]
    assert _device(read_records(s3, bucket, run.object_key)) == [{"os": "ios", "app version": "7.1"}, {}, {}]

    # none chosen (as every connection before this field): all the event has
    ExportConnection.objects.filter(pk=connection.pk).update(device_attributes=[])
    ingest(3, 1, device_attributes={"os": "android", "model": "Pixel"})
    (run,) = due()
    assert _device(read_records(s3, bucket, run.object_key)) == [{"os": "android", "model": "Pixel"}]


def test_the_form_saves_device_attributes_picked_from_the_latest_events(api, as_operator_a, tenant_a, bucket):
    api("/events", {"events": [make_event(1, device_attributes={"os": "ios", "model": "x"}),
                               make_event(2, device_attributes={"os": "android", "locale": "ja"})]})
    url = f"{BASE}catalogue/device_attributes/?tenant={tenant_a.pk}"
    assert _names(as_operator_a.get(url)) == ["locale", "model", "os"]
    assert _names(as_operator_a.get(url + "&term=O")) == ["locale", "model", "os"]
    assert _names(as_operator_a.get(url + "&term=loc")) == ["locale"]
    response = as_operator_a.post(f"{BASE}add/", {**form_data(tenant_a, bucket), "device_attributes": ["os"]})
    assert response.status_code == 302
    assert ExportConnection.objects.get(name="dwh").device_attributes == ["os"]
    response = as_operator_a.post(f"{BASE}add/", {**form_data(tenant_a, bucket, name="other"),
                                                  "device_attributes": ["bad\nname"]})
    assert shows(response, rules.ERR_DEVICE_ATTRIBUTE.format(names=repr("bad\nname")))


def test_the_device_picker_per_persona(api, tenant_a, as_operator_b, as_support_a, as_csm):
    api("/events", {"events": [make_event(1, device_attributes={"os": "ios"})]})
    url = f"{BASE}catalogue/device_attributes/?tenant={tenant_a.pk}"
    assert as_operator_b.get(url).status_code == 404
    assert as_support_a.get(url).status_code == 403
    assert _names(as_csm.get(url)) == ["os"]
