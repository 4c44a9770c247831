"""Webhooks benchmark: N events fanned out to 2 endpoints on a local receiver by a real qcluster.

    REDIS_URL=redis://127.0.0.1:6379/<n> .venv/bin/python bench/webhooks.py [--events N] [--batch 500]

Uses the configured DATABASE_URL (a separate `<name>_whbench` database on PostgreSQL, a temporary
file on SQLite) and the Redis broker (required: it is how the cluster is deployed). Starts a
recording HTTP receiver on loopback (a process of its own) and `manage.py qcluster`. Events of a
subscribed type go in through the API in batches; the events_ingested receiver records the
deliveries and enqueues `webhooks.tasks.deliver_endpoint`, which the cluster runs. Two runs:
- throughput: N events ingested before the cluster starts; deliveries per second from the first
  arrival to the last (the ingestion API's own speed is bench/ingest.py's subject);
- live: N more events ingested while the cluster runs, at a steady rate: by default the load the
  throughput target promises to carry (half the floor's deliveries a second, so a quarter of it
  in events, each going to 2 endpoints; of the throughput just measured when that is higher);
  the p95 latency from an event's ingestion (`received_at`) to its arrival at the receiver, and
  the end-to-end rate. A latency target only means something
  below capacity: ingested as fast as one process goes (`--rate 0`), events arrive here faster
  than they can be delivered (ingestion, the database, the workers and the receiver share two
  cores), the backlog grows through the run and its p95 measures the run's length.
Floor: the same signed payloads POSTed over one keep-alive connection by one plain process.
Target: at least 0.5 of the floor; p95 under 1 second. The last line is the ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import free_port, prepare_database, wait_for  # noqa: E402 - bench/ is the script's folder

ENV = dict(DEBUG="0", SECRET_KEY="bench-" + "k" * 50, MKTOPS_FIELD_KEYS="q1R0bVwE7dAm6m0c9oWJ8sJq1m2nJ4y6fQyb0c9S3JI=",
           ALLOWED_HOSTS="testserver", SECURE_SSL_REDIRECT="0", MKTOPS_STATIC_MANIFEST="0", LOG_LEVEL="ERROR",
           MKTOPS_ALLOW_PRIVATE_TARGETS="1", DJANGO_SETTINGS_MODULE="mktops.settings")


def serve_receiver(port: int) -> None:
    """The receiver's process: records the arrival time of every webhook-id and answers 200 over
    keep-alive; `GET /_count` and `GET /_arrived` report to the benchmark, `GET /_reset` forgets."""
    arrived: dict[str, float] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # the answer goes out in two writes: with Nagle on, each keep-alive request waits
        # for the client's delayed ACK (~40 ms)
        disable_nagle_algorithm = True

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                arrived[self.headers.get("webhook-id", "")] = time.time()
            self._answer(b"ok")

        def do_GET(self):
            with lock:
                if self.path == "/_reset":  # the floor's arrivals are not deliveries
                    arrived.clear()
                answer = json.dumps(len(arrived) if self.path == "/_count" else arrived).encode()
            self._answer(answer)

        def _answer(self, body: bytes):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    parent = os.getppid()

    def orphaned():  # the benchmark died without stopping us
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


class Receiver:
    """The loopback receiver in a process of its own, as a tenant's server would be: it does not
    share the benchmark's interpreter (ingestion, the floor's client)."""

    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, __file__, "--receiver", str(self.port)])
        wait_for(self.port, "the receiver")

    def _get(self, path: str):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", path)
        answer = json.loads(conn.getresponse().read())
        conn.close()
        return answer

    def count(self) -> int:
        return self._get("/_count")

    def arrived(self) -> dict[str, float]:
        return self._get("/_arrived")

    def reset(self) -> None:
        self._get("/_reset")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def event(i: int, now: int) -> dict:
    # recent event times: the cluster also runs the retention purge, which would delete old ones
    return {"uid": f"bench-user-{i % 2000}", "event_code": "prize.points_added", "event_name": "Points added",
            "event_uuid": f"bench-{i}", "event_time": now - 60 + i % 60, "event_attributes": {"points": i % 500}}


def ingest(tenant, events: int, batch: int, rate: float = 0) -> float:
    """POST the events in batches; with `rate`, at that many events a second (a batch when its
    turn comes), else as fast as this process goes. Returns when the first batch was sent."""
    import orjson
    from django.test import Client

    from mktops import services

    _, key = services.api_key_create(tenant=tenant, name="bench")
    client = Client()
    started = time.time()
    now = int(started)
    for start in range(0, events, batch):
        if rate:
            time.sleep(max(0.0, started + start / rate - time.time()))
        body = orjson.dumps({"events": [event(i, now) for i in range(start, min(events, start + batch))]})
        response = client.post("/api/v1/events", data=body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {key}")
        if response.status_code != 200:
            raise SystemExit(f"ingest failed: {response.status_code}")
    return started


def floor(receiver: Receiver, endpoint_ids, *, ours: bool = False) -> float:
    """The same signed payloads over one keep-alive connection, one plain process: with the
    standard library's http.client (the floor), or with `ours` the deliveries' own client
    (webhooks.http.Sender), which shows how much of the gap is the client itself."""
    from webhooks import http as webhooks_http
    from webhooks.models import Endpoint, Message
    from webhooks.services.delivery import headers_for

    messages = list(Message.objects.filter(endpoint_id__in=endpoint_ids).select_related("endpoint"))
    prepared = [(m.body.encode(), headers_for(endpoint=m.endpoint, message=m, body=m.body.encode()))
                for m in messages]
    url = Endpoint.objects.get(pk=endpoint_ids[0]).url
    path = url.split(str(receiver.port), 1)[1]
    started = time.perf_counter()
    if ours:
        with webhooks_http.Sender(url) as sender:
            for body, headers in prepared:
                sender.post(body, headers)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=15)
        for body, headers in prepared:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            conn.getresponse().read()
        conn.close()
    return len(prepared) / (time.perf_counter() - started)


def _endpoints(slug: str, receiver: Receiver) -> tuple:
    from mktops import services
    from webhooks.services import endpoints

    tenant = services.tenant_create(slug=slug, name=slug)
    tenant.webhook_zone1_enabled = True
    tenant.save()
    ids = [endpoints.endpoint_create(tenant=tenant, name=f"e{n}", url=f"http://127.0.0.1:{receiver.port}/{slug}/e{n}",
                                     event_types=["prize.points_added"], by=None).pk for n in (1, 2)]
    return tenant, ids


def _arrivals(receiver: Receiver, endpoint_ids, expected: int, wait: float) -> list[tuple[float, float]]:
    """(ingested at, arrived at) of every delivery to these endpoints, once all have arrived."""
    from mktops.models import Event
    from webhooks.models import Message

    deadline = time.time() + wait
    while receiver.count() < expected and time.time() < deadline:
        time.sleep(0.2)
    arrived = receiver.arrived()
    messages = list(Message.objects.filter(endpoint_id__in=endpoint_ids).values_list("webhook_id", "event_id"))
    missing = sum(1 for webhook_id, _ in messages if webhook_id not in arrived)
    if missing:
        raise SystemExit(f"{missing} of {len(messages)} deliveries did not arrive within {wait:.0f} s")
    received = dict(Event.objects.filter(pk__in=[e for _, e in messages]).values_list("pk", "received_at"))
    return [(received[event_id].timestamp(), arrived[webhook_id]) for webhook_id, event_id in messages]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for every delivery")
    parser.add_argument("--rate", type=float, default=None,
                        help="events/s offered in the live run (default: the throughput target's load, "
                             "a quarter of the floor's deliveries/s, as each event goes to 2 endpoints, or of "
                             "the measured throughput when higher; 0: as fast as this process ingests)")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)  # the receiver's own process
    args = parser.parse_args()
    if args.receiver:
        return serve_receiver(args.receiver)
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("set REDIS_URL: the benchmark runs the cluster with the Redis broker")
    url = prepare_database(os.environ.get("DATABASE_URL", "sqlite:///"), "whbench")
    os.environ.update(ENV, DATABASE_URL=url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django_q.brokers import get_broker

    get_broker().purge_queue()
    receiver = Receiver()
    expected = 2 * args.events
    # 1. throughput: the events ingested (their tasks enqueued) before the cluster starts, so the
    #    deliveries' own speed is measured, not the ingestion API's (bench/ingest.py measures that)
    backlog_tenant, backlog_ids = _endpoints("whbench-backlog", receiver)
    ingest(backlog_tenant, args.events, args.batch)
    # the floor first, while nothing else runs (it sends the same rows' payloads; forgotten after);
    # the better of two rounds: one keep-alive connection on this machine varies by a third
    floor_rate = max(floor(receiver, backlog_ids), floor(receiver, backlog_ids))
    ours_rate = floor(receiver, backlog_ids, ours=True)
    receiver.reset()
    cluster = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env={**os.environ},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        arrivals = [at for _, at in _arrivals(receiver, backlog_ids, expected, args.wait)]
        backlog_rate = (len(arrivals) - 1) / (max(arrivals) - min(arrivals))
        # 2. latency: events ingested while the cluster runs, ingestion to arrival at the receiver,
        #    at the load the throughput target promises: half the floor's deliveries a second, or
        #    half the throughput just measured when that is higher (a low floor makes no easy load)
        rate = max(floor_rate, backlog_rate) * 0.5 / 2 if args.rate is None else args.rate
        live_tenant, live_ids = _endpoints("whbench-live", receiver)
        started = ingest(live_tenant, args.events, args.batch, rate)
        ingested = time.time() - started
        live = _arrivals(receiver, live_ids, 2 * expected, args.wait)
    finally:
        cluster.terminate()
        cluster.wait(timeout=60)
    last = max(at for _, at in live)
    live_rate = len(live) / (last - started)
    latencies = sorted(at - received for received, at in live)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    receiver.stop()
    engine = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    load = f"{rate:.0f} events/s offered" if rate else "as fast as this process ingests"
    print(f"database: {engine}; broker: Redis; workers: {os.environ.get('Q_WORKERS', '2')}")
    print(f"webhooks: {backlog_rate:8.0f} deliveries/s  ({args.events} events x 2 endpoints queued, then a qcluster "
          "started; first to last arrival)")
    print(f"live:     {live_rate:8.0f} deliveries/s  end to end, ingested while the cluster ran, {load} "
          f"(ingestion took {ingested:.1f} s of {last - started:.1f} s)")
    p50 = latencies[len(latencies) // 2]
    print(f"p95 ingestion to delivery (live): {p95:.3f} s  (target < 1 s; p50 {p50:.3f} s)")
    print(f"floor:    {floor_rate:8.0f} deliveries/s  (same signed payloads, one keep-alive connection, http.client)")
    print(f"          {ours_rate:8.0f} deliveries/s  (the same with the deliveries' own HTTP client, for reference)")
    print(f"webhooks / floor: {backlog_rate / floor_rate:.2f}  (target >= 0.5)")


if __name__ == "__main__":
    main()
