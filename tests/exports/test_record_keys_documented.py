"""Issue 13 item 6: the README documents every key an exported record carries (read from a real file in
moto, with every optional key present), and documents no key the export does not write."""

import re
from pathlib import Path

from django.conf import settings

from tests.conftest import make_event
from tests.exports.conftest import read_records

README = Path(settings.BASE_DIR) / "README.md"


def documented_keys() -> set[str]:
    text = README.read_text()
    section = text[text.index("### S3 export files"):]
    section = section[:section.index("\n## ")]
    return set(re.findall(r"^\| `([a-z_.]+)` \|", section, flags=re.MULTILINE))


def keys_of(record: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in record.items():
        keys.add(prefix + key)
        if key == "event":
            keys |= keys_of(value, prefix="event.")
    return keys


def test_every_key_of_a_record_is_documented(make_connection, api, due, s3, bucket):
    api("/events", {"events": [make_event(0, user_attributes={"plan": "gold"})]})
    make_connection(user_attributes=["plan"])
    full = make_event(1, user_attributes={"plan": "gold"}, event_attributes={"a": 1},
                      device_attributes={"os": "ios"}, email_id="a@example.com", mobile_number="+919800000000",
                      push_id="token-1")
    api("/events", {"events": [full, make_event(2)]})
    (run,) = due()
    records = read_records(s3, bucket, run.object_key)
    written = set().union(*(keys_of(r) for r in records))
    assert "event.push_id" in written and "event.email_id" in written
    assert written == documented_keys()
    assert records[0]["export_hour"].isdigit()
