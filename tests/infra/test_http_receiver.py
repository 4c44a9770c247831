"""The `http_receiver` fixture, driven with urllib."""

import json
import socket
import urllib.error
import urllib.request

import pytest


def post(url, payload, timeout=5.0):
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json", "X-Signature": "abc"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback test server
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_records_requests(http_receiver):
    assert post(http_receiver.url + "/hooks/a?x=1", {"n": 1}) == 200
    [request] = http_receiver.requests
    assert request.method == "POST"
    assert request.path == "/hooks/a?x=1"
    assert request.headers["x-signature"] == "abc"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"n": 1}
    assert request.status == 200
    assert request.at > 0


def test_scripted_statuses(http_receiver):
    http_receiver.script([500, 503, 200])
    statuses = [post(http_receiver.url, {"n": n}) for n in range(4)]
    assert statuses == [500, 503, 200, 200]
    assert [r.json()["n"] for r in http_receiver.requests] == [0, 1, 2, 3]
    assert [r.status for r in http_receiver.requests] == [500, 503, 200, 200]


def test_delay_trips_a_client_timeout(http_receiver):
    http_receiver.delay = 1.0
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        post(http_receiver.url, {"slow": True}, timeout=0.2)
    http_receiver.delay = 0
    http_receiver.script([(201, 0.5)])  # one slow answer, within the client's patience
    assert post(http_receiver.url, {"slow": False}, timeout=5) == 201
    assert len(http_receiver.wait_for(2)) == 2


def test_stop_refuses_connections(http_receiver):
    http_receiver.stop()
    with pytest.raises(urllib.error.URLError):
        post(http_receiver.url, {})
    http_receiver.start()
    assert post(http_receiver.url, {}) == 200
