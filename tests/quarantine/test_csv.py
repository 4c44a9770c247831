"""CSV import (bad lines by number and rule, good lines kept) and export."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError

from mktops.models import AuditLog
from quarantine import csv_io
from quarantine.addresses import BAD_PHONE
from quarantine.models import QuarantineEntry

GOOD_AND_BAD = (
    "channel,address,status,error_reason\n"
    "email,Ann@Example.com,quarantined,unknown_user\n"      # line 2
    "sms,not a number,quarantined,\n"                      # line 3: bad address
    "push,tok-1,denylisted,\n"                             # line 4
    "fax,x,quarantined,\n"                                 # line 5: bad channel
    "email,bob@example.com,lost,\n"                        # line 6: bad status
    "\n"
    "sms,'+33612345678,allowlisted,\n"                     # line 8: an exported, formula-safe number
    "email,c@example.com,valid,,extra\n"                   # line 9: too many values
)


def test_bad_lines_are_reported_by_number_and_rule_and_good_lines_kept(tenant_a, operator_a):
    result = csv_io.entries_import_csv(tenant=tenant_a, content=GOOD_AND_BAD.encode(), by=operator_a)
    assert (result.added, result.updated) == (3, 0)
    assert [(e.line, e.field) for e in result.errors] == [
        (3, "address"), (5, "channel"), (6, "status"), (9, "line")]
    assert result.errors[0].rule == BAD_PHONE
    assert dict(QuarantineEntry.objects.values_list("address", "status")) == {
        "ann@example.com": "quarantined", "tok-1": "denylisted", "+33612345678": "allowlisted"}
    row = AuditLog.objects.get(action="quarantine.csv_import")
    assert (row.detail["added"], row.detail["bad_lines"]) == (3, [3, 5, 6, 9])


def test_importing_again_updates(tenant_a, operator_a):
    csv_io.entries_import_csv(tenant=tenant_a, content=b"channel,address,status\nemail,a@example.com,quarantined\n",
                              by=operator_a)
    result = csv_io.entries_import_csv(tenant=tenant_a, content=b"channel,address,status\nemail,A@example.com,valid\n",
                                       by=operator_a)
    assert (result.added, result.updated) == (0, 1)
    assert QuarantineEntry.objects.get().status == "valid"


@pytest.mark.parametrize("content, rule", [
    (b"address,status\nx,y\n", csv_io.ERR_HEADER),
    (b"channel,address,status,colour\n", csv_io.ERR_HEADER),
    ("channel,address,status\nemail,é@example.com,valid\n".encode("latin-1"), csv_io.ERR_FILE_ENCODING),
])
def test_a_file_that_cannot_be_read_is_refused_whole(tenant_a, operator_a, content, rule):
    with pytest.raises(ValidationError) as exc:
        csv_io.entries_import_csv(tenant=tenant_a, content=content, by=operator_a)
    assert exc.value.message_dict == {"file": [rule]}
    assert not QuarantineEntry.objects.exists()


def test_export_round_trips_and_is_formula_safe(tenant_a, operator_a):
    csv_io.entries_import_csv(tenant=tenant_a, content=GOOD_AND_BAD.encode(), by=operator_a)
    text = csv_io.entries_export_csv(entries=QuarantineEntry.objects.all(), by=operator_a, tenants=[tenant_a])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["address"] for r in rows} == {"ann@example.com", "tok-1", "'+33612345678"}
    assert AuditLog.objects.get(action="quarantine.csv_export").detail == {"rows": 3}
    QuarantineEntry.objects.all().delete()
    again = csv_io.entries_import_csv(tenant=tenant_a, content=text.encode(), by=operator_a)
    assert (again.added, again.errors) == (3, [])
    assert set(QuarantineEntry.objects.values_list("address", flat=True)) == {
        "ann@example.com", "tok-1", "+33612345678"}
