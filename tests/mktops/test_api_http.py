"""The API's answers to the body as HTTP sends it: encodings, chunks, content types, duplicate
keys and lengths that are not numbers, under Django's test client, its own server (the
live_server, as runserver) and gunicorn."""

import gzip
import http.client
import io
import os
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import orjson
import pytest
from django.db import connection
from django.test import Client
from django.urls import path
from ninja import Router, Schema

from mktops import api_body, services
from mktops.api import MktopsAPI
from mktops.models import Event
from tests.conftest import make_event
from tests.fixtures.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BATCH = orjson.dumps({"events": [make_event(1), make_event(2)]})


def post(api_key, body: bytes, *, content_type="application/json", **extra):
    return Client().post("/api/v1/events", data=body, content_type=content_type,
                         HTTP_AUTHORIZATION=f"Bearer {api_key}", **extra)


def refused(response, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert detail.endswith(".") and "Traceback" not in detail
    return detail


# --- Content-Encoding --------------------------------------------------------------------
def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


ENCODED = {
    "gzip": ("gzip", gzip.compress(BATCH)),
    "x-gzip": ("x-gzip", gzip.compress(BATCH)),
    "gzip in two members": ("gzip", gzip.compress(BATCH[:10]) + gzip.compress(BATCH[10:])),
    "deflate (zlib)": ("deflate", zlib.compress(BATCH)),
    "deflate (raw)": ("deflate", _raw_deflate(BATCH)),
    "identity": ("identity", BATCH),
    "upper case": ("GZIP", gzip.compress(BATCH)),
}


@pytest.mark.parametrize("encoding, body", ENCODED.values(), ids=ENCODED.keys())
def test_an_encoded_body_is_decoded(api_key_a, tenant_a, encoding, body):
    response = post(api_key_a, body, HTTP_CONTENT_ENCODING=encoding)
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2
    assert Event.objects.filter(tenant=tenant_a).count() == 2


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "gzip, gzip"])
def test_another_encoding_is_415_saying_so(api_key_a, encoding):
    detail = refused(post(api_key_a, gzip.compress(BATCH), HTTP_CONTENT_ENCODING=encoding), 415)
    assert "Content-Encoding must be gzip or deflate" in detail
    assert not Event.objects.exists()


@pytest.mark.parametrize("encoding, body, sentence", [
    ("gzip", BATCH, "not valid gzip data"),
    ("gzip", gzip.compress(BATCH)[:-12], "ends before its data does"),
    ("deflate", b"\x00\x01\x02garbage", "not valid deflate data"),
    ("deflate", zlib.compress(BATCH) + b"more", "goes on after the end"),
])
def test_a_body_that_does_not_decode_is_400(api_key_a, encoding, body, sentence):
    detail = refused(post(api_key_a, body, HTTP_CONTENT_ENCODING=encoding), 400)
    assert sentence in detail
    assert "UTF-8" not in detail


def test_a_zip_bomb_is_413(api_key_a, settings):
    # 1 GiB of zeros in about 1 MiB: one 16 MiB member, repeated
    member = gzip.compress(bytes(16 * 1024 * 1024))
    response = post(api_key_a, member * 64, HTTP_CONTENT_ENCODING="gzip")
    assert f"limit is {settings.MKTOPS_API_MAX_BYTES} bytes" in refused(response, 413)


def test_decoding_stops_once_past_the_limit():
    """The bomb is decoded a piece at a time: what comes after the limit is never read."""
    read = []
    packer = zlib.compressobj()
    stream = packer.compress(bytes(50 * 1024 * 1024)) + packer.flush()
    parts = [stream[i:i + 1024] for i in range(0, len(stream), 1024)]

    def counted():
        for n, part in enumerate(parts):
            read.append(n)
            yield part

    with pytest.raises(api_body.BodyRefused) as refusal:
        api_body._inflate(counted(), "deflate", 1024 * 1024)
    assert refusal.value.status == 413
    assert len(read) < len(parts) / 10


def test_the_decoded_body_counts_against_the_byte_limit(api_key_a, settings):
    settings.MKTOPS_API_MAX_BYTES = 2048
    body = orjson.dumps({"events": [make_event(1, user_attributes={"blob": "x" * 4096})]})
    compressed = gzip.compress(body)
    assert len(compressed) < 2048
    assert "limit is 2048 bytes" in refused(post(api_key_a, compressed, HTTP_CONTENT_ENCODING="gzip"), 413)


# --- Content-Type -------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                                          "application/jsonx", "text/json", "application/octet-stream"])
def test_a_body_that_is_not_json_is_415(api_key_a, content_type):
    detail = refused(post(api_key_a, BATCH, content_type=content_type), 415)
    assert "must be JSON" in detail and content_type in detail
    assert not Event.objects.exists()


def test_a_body_without_a_content_type_is_415(api_key_a):
    detail = refused(post(api_key_a, BATCH, CONTENT_TYPE=""), 415)
    assert "gave none" in detail


def test_json_in_another_charset_is_415(api_key_a):
    assert "must be UTF-8" in refused(post(api_key_a, BATCH, content_type="application/json; charset=latin-1"), 415)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON; charset=UTF-8", "application/vnd.mktops+json"])
def test_json_content_types_are_taken(api_key_a, content_type):
    response = post(api_key_a, BATCH, content_type=content_type)
    assert response.status_code == 200, response.content


def test_the_type_is_checked_before_the_key(db):
    response = Client().post("/api/v1/events", data=BATCH, content_type="text/plain")
    refused(response, 415)


# --- duplicate top-level keys -----------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    b'{"events": [], "events": [{"uid": "x"}]}',
    b'{"events": [{"event_name": "events"}], "events": []}',
    b'{"events": [], "event\\u0073": []}',
    b'{"\\u0065vents": [], "events": []}',
])
def test_a_repeated_top_level_key_is_400_naming_it(api_key_a, raw):
    detail = refused(post(api_key_a, raw), 400)
    assert "'events' more than once" in detail
    assert not Event.objects.exists()


def test_the_word_events_elsewhere_in_the_body_is_no_repeat(api_key_a, tenant_a):
    body = orjson.dumps({"events": [make_event(1, event_attributes={"events": "events"}, uid="\u00e9vents")]})
    body = body.replace(b"\xc3\xa9", b"\\u00e9")  # an escape in the body, not in a key
    response = post(api_key_a, body)
    assert response.status_code == 200, response.content
    assert Event.objects.get(tenant=tenant_a).uid == "\u00e9vents"


def test_repeated_keys_inside_events_are_left_to_the_event_rules(api_key_a):
    # inside an event orjson keeps the last value: the event's own rules then apply
    raw = b'{"events": [{"uid": "a", "uid": "b", "event_code": "C", "event_name": "N", "event_uuid": "u",' \
          b' "event_time": 1790000000}]}'
    assert post(api_key_a, raw).json()["accepted"] == 1


# --- lengths and chunks under the test client ----------------------------------------------------
@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "12 ", "\u0661\u0662"])
def test_a_content_length_that_is_not_a_number_is_400(api_key_a, length):
    assert "Content-Length" in refused(post(api_key_a, BATCH, CONTENT_LENGTH=length), 400)


def test_a_chunked_body_is_read_when_the_server_decodes_chunks(api_key_a, tenant_a):
    # what gunicorn hands over: no Content-Length, the de-chunked body, its end marked
    response = post(api_key_a, BATCH, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked",
                    **{"wsgi.input": io.BytesIO(BATCH), "wsgi.input_terminated": True})
    assert response.status_code == 200, response.content
    assert Event.objects.filter(tenant=tenant_a).count() == 2


def test_a_chunked_body_the_server_cannot_read_is_411(api_key_a):
    detail = refused(post(api_key_a, BATCH, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked"), 411)
    assert "Content-Length" in detail


# --- every route of such an API, and the schema ---------------------------------------------------
class Report(Schema):
    address: str


later = MktopsAPI(title="later", urls_namespace="later-api", auth=None)
reports = Router()


@reports.post("/reports")
def post_report(request, report: Report):
    return {"address": report.address}


later.add_router("/delivery", reports)
urlpatterns = [path("later/", later.urls)]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("body, extra, status", [
    (gzip.compress(b'{"address": "a@example.com"}'), {"HTTP_CONTENT_ENCODING": "gzip"}, 200),
    (b'{"address": "a@example.com"}', {"HTTP_CONTENT_ENCODING": "br"}, 415),
    (b'{"address": "a@example.com"}', {"content_type": "text/plain"}, 415),
    (b'{"address": "a", "address": "b"}', {}, 400),
    (b'{"address": "a"}', {"CONTENT_LENGTH": "abc"}, 400),
    (b"", {"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked",
           "wsgi.input_terminated": True, "wsgi.input": io.BytesIO(b'{"address": "a@example.com"}')}, 200),
])
def test_a_route_added_later_gets_the_same_answers(db, body, extra, status):
    extra = {"content_type": "application/json", **extra}
    response = Client().post("/later/delivery/reports", data=body, **extra)
    assert response.status_code == status, response.content
    if status == 200:
        assert response.json() == {"address": "a@example.com"}
    else:
        refused(response, status)


def test_the_schema_lists_the_body_answers(client, db):
    responses = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/events"]["post"]["responses"]
    assert {"400", "411", "413", "415"} <= set(responses)


# --- real servers -------------------------------------------------------------------------------------
def _exchange(port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _bad_length_request(port: int, key: str) -> bytes:
    return (f"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n").encode() + BATCH


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@pytest.fixture
def gunicorn(transactional_db):
    """gunicorn on the test database, as deployed (README)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": _database_url()}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "mktops.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, seconds=30)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def committed_key(transactional_db):
    tenant = services.tenant_create(slug="http", name="HTTP")
    _, raw = services.api_key_create(tenant=tenant, name="http")
    return tenant, raw


def _post_chunked(port: int, key: str, parts: list[bytes], **headers) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        # the chunks framed by hand and sent with the headers in one write: a server that answers
        # 411 as soon as it has read the headers then closes a socket that has nothing unread
        # (sent chunk by chunk, a late chunk could meet the closed socket: a broken pipe, not a 411)
        body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
        conn.request("POST", "/api/v1/events", body=body, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Transfer-Encoding": "chunked",
            **headers})
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        conn.close()


def test_gunicorn_reads_a_chunked_body(gunicorn, committed_key):
    tenant, key = committed_key
    status, answer = _post_chunked(gunicorn, key, [BATCH[:7], BATCH[7:30], BATCH[30:]])
    assert status == 200, answer
    assert answer["accepted"] == 2
    assert Event.objects.filter(tenant=tenant).count() == 2


def test_gunicorn_reads_a_chunked_gzip_body(gunicorn, committed_key):
    tenant, key = committed_key
    packed = gzip.compress(BATCH)
    status, answer = _post_chunked(gunicorn, key, [packed[:5], packed[5:]], **{"Content-Encoding": "gzip"})
    assert (status, answer["accepted"]) == (200, 2)


def test_gunicorn_refuses_a_content_length_that_is_not_a_number(gunicorn, committed_key):
    _, key = committed_key
    status, _ = _exchange(gunicorn, _bad_length_request(gunicorn, key))
    assert status == 400  # gunicorn's own answer: it does not pass such a request on


def test_the_live_server_refuses_a_content_length_that_is_not_a_number(live_server, committed_key):
    _, key = committed_key
    port = int(live_server.url.rsplit(":", 1)[1])
    status, body = _exchange(port, _bad_length_request(port, key))
    assert status == 400
    assert "Content-Length" in orjson.loads(body)["detail"]


def test_the_live_server_answers_a_chunked_body_with_411(live_server, committed_key):
    _, key = committed_key
    port = int(live_server.url.rsplit(":", 1)[1])
    status, answer = _post_chunked(port, key, [BATCH[:7], BATCH[7:]])
    assert status == 411
    assert "Content-Length" in answer["detail"]
