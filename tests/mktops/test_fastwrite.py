"""The plain-SQL helpers of the ingest hot path."""

import orjson
from django.db import connection

from mktops.fastwrite import array_literal

NASTY = ['plain', '', 'with "quotes"', "back\\slash", "tail\\", '{braces},commas', "NULL", " spaced ", "Zoë 用户 😀",
         '{"json": "\\"x\\""}', "new\nline\ttab"]


def test_array_literal_quotes_every_element():
    assert array_literal(["a", 'b"c', "d\\e"]) == '{"a","b\\"c","d\\\\e"}'
    assert array_literal([1, 22]) == "{1,22}"
    assert array_literal([]) == "{}"


def test_array_literal_round_trips_through_the_database(db):
    if connection.vendor != "postgresql":
        # SQLite has no arrays; the literal's text is what the test above pins
        assert array_literal(NASTY).count('"') >= 2 * len(NASTY)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [array_literal(NASTY)])
        assert cursor.fetchone()[0] == NASTY
        cursor.execute("SELECT %s::jsonb[]", [array_literal(['{"a": "x\\"y"}', "[1, 2]"])])
        assert [orjson.loads(v) if isinstance(v, str) else v for v in cursor.fetchone()[0]] == [{"a": 'x"y'}, [1, 2]]


def test_load_contacts_takes_more_uids_than_one_statement_may_hold(tenant_a):
    from mktops.fastwrite import load_contacts
    from mktops.models import Contact

    Contact.objects.create(tenant=tenant_a, uid="first", attributes={"a": 1})
    Contact.objects.create(tenant=tenant_a, uid="last", email="l@example.com")
    uids = ["first", *(f"nobody-{i}" for i in range(40_000)), "last"]
    found = load_contacts(tenant_a.pk, uids)
    assert set(found) == {"first", "last"}
    assert found["first"].attributes == {"a": 1} and found["last"].email == "l@example.com"
