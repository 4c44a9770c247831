"""Delivery: the rows for ingested events, the signed POST, the outcome and the retry policy.

A Message is a `mktops.jobs.Job` row: the receiver makes it (one INSERT per
ingested batch), a task claims the endpoint's next due messages in event order
(`messages_claim_next`) and sends them over one keep-alive connection
(`messages_send`); the outcomes are written in bulk, each only while the row is
still this attempt's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, F, Value, When

from mktops import clock, ratelimit
from mktops.errors import OutsideError
from mktops.jobs import ACTIVE, JobStatus, claim, claim_many, due_filter, enqueue_on_commit, gone_after, worker_name
from mktops.models import Event, Tenant, WorkerHeartbeat
from mktops.services import audit_log_write
from webhooks import http
from webhooks.models import EVENT_TYPES, Attempt, Endpoint, EndpointStatus, Message, Outcome, new_webhook_id
from webhooks.services.endpoints import SECRET_PREFIX, zone_is_active
from webhooks.services.rows import rows_insert

# after the 1st, 2nd, … failed attempt; after the last, the message has failed
RETRY_DELAYS = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
# a Retry-After longer than the schedule's interval is waited for, up to this
RETRY_AFTER_MAX = timedelta(hours=10)
DISABLE_AFTER = timedelta(days=5)

DISABLED_GONE = "The endpoint answered 410 Gone: it asked not to receive deliveries any more."
DISABLED_FAILING = "Every delivery failed for 5 days without a success in between."
TYPE_UNKNOWN = "Choose one of the event types."
NOT_FINISHED = "This delivery is still being attempted; resend it once it has finished."

TASK = "webhooks.tasks.deliver_endpoint"
# messages one task claims and sends at a time, over one connection
BATCH = 500
# successes are written together at most this long after they were sent
FLUSH_SECONDS = 0.5
# how often a batch's lease is looked at (it is extended when less than two timeouts are left)
LEASE_CHECK_SECONDS = 10
# the sweep looks back through a tenant's events this many at a time, at most this many times
BACKFILL_SCAN = 5000
BACKFILL_PAGES = 20


# --- the body and its signature -------------------------------------------
EVENT_FIELDS = ("pk", "seq", "uid", "event_uuid", "event_code", "event_name", "event_type", "event_time",
                "event_source", "event_attributes", "user_attributes", "device_attributes")


def event_data(event: Event) -> dict:
    """The event as ingested; a `message.first_open` also carries, at the top, the event id the
    sender gave in its attributes (`event_id`: the sender's id of the message it opened)."""
    data = {
        "uid": event.uid,
        "event_uuid": event.event_uuid,
        "event_code": event.event_code,
        "event_name": event.event_name,
        "event_type": event.event_type,
        "event_time": event.event_time.isoformat(),
        "event_source": event.event_source,
        "event_attributes": event.event_attributes,
        "user_attributes": event.user_attributes,
        "device_attributes": event.device_attributes,
    }
    if event.event_code == "message.first_open" and isinstance(event.event_attributes, dict) \
            and event.event_attributes.get("event_id") not in (None, ""):
        data["event_id"] = event.event_attributes["event_id"]
    return data


def body_for(*, event_type: str, timestamp: datetime, data: dict) -> str:
    return json.dumps({"type": event_type, "timestamp": timestamp.isoformat(), "data": data},
                      separators=(",", ":"), ensure_ascii=False)


def signature(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the secret's decoded bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers_for(*, endpoint: Endpoint, message: Message, body: bytes) -> dict[str, str]:
    # the real time, not mktops' clock: receivers compare it with their own clock
    timestamp = int(time.time())
    signatures = [signature(secret=s, webhook_id=message.webhook_id, timestamp=timestamp, body=body)
                  for s in endpoint.signing_secrets()]
    return {"webhook-id": message.webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signatures)}


# --- recording rows for ingested events ---------------------------------------
def messages_record(*, tenant: Tenant, event_ids) -> list[int]:
    """A Message per event of one of the types and per active or paused endpoint subscribed to it.

    Idempotent (one row per endpoint and event). Returns the endpoints with new due rows.
    """
    # no secrets read here (each would be decrypted): the receiver runs inside ingestion
    endpoints = [e for e in Endpoint.objects.filter(tenant=tenant, status__in=(EndpointStatus.ACTIVE,
                                                                                EndpointStatus.PAUSED))
                 .only("pk", "status", "event_types") if e.event_types]
    if not endpoints:
        return []
    wanted = {t for e in endpoints for t in e.event_types
              if t in EVENT_TYPES and zone_is_active(tenant=tenant, zone=EVENT_TYPES[t][0])}
    events = Event.objects.filter(tenant=tenant, pk__in=list(event_ids), event_code__in=wanted) \
        .only(*EVENT_FIELDS).order_by("seq")
    now = clock.now()
    rows = []
    for event in events:
        body = body_for(event_type=event.event_code, timestamp=event.event_time, data=event_data(event))
        for endpoint in endpoints:
            if event.event_code in endpoint.event_types:
                due = now if endpoint.status == EndpointStatus.ACTIVE else None  # paused: kept for resume
                rows.append({"tenant_id": tenant.pk, "endpoint_id": endpoint.pk, "event_id": event.pk,
                             "webhook_id": new_webhook_id(), "event_type": event.event_code, "body": body,
                             "next_attempt_at": due})
    # one INSERT for the batch; a row the sweep (or a second receiver) made already is left as it is
    rows_insert(Message, rows, ignore_conflicts=True)
    return sorted({r["endpoint_id"] for r in rows if r["next_attempt_at"] is not None})


def on_events_ingested(sender, *, tenant, event_ids, **kwargs) -> None:
    """The events_ingested receiver: record the rows, enqueue one task per endpoint."""
    for endpoint_id in messages_record(tenant=tenant, event_ids=event_ids):
        enqueue_on_commit(TASK, endpoint_id)


def messages_backfill(*, since: timedelta = timedelta(hours=1)) -> list[int]:
    """The sweep's part: rows for recent events a receiver missed. Returns endpoints with due rows."""
    start = clock.now() - since
    touched = set()
    for tenant in Tenant.objects.filter(webhook_endpoints__status=EndpointStatus.ACTIVE).distinct():
        touched.update(_backfill_tenant(tenant=tenant, start=start))
    return sorted(touched)


def _backfill_tenant(*, tenant: Tenant, start) -> set[int]:
    """Page back through the tenant's events since `start`, newest first through the (tenant, -id)
    index, a page at a time and at most BACKFILL_PAGES: the events of a type without any row yet
    get theirs. A busy tenant's missed batch is found however many events came after it."""
    endpoint_ids = list(Endpoint.objects.filter(tenant=tenant).values_list("pk", flat=True))
    touched: set[int] = set()
    before = None
    for _ in range(BACKFILL_PAGES):
        page = Event.objects.filter(tenant=tenant) if before is None else Event.objects.filter(tenant=tenant,
                                                                                              pk__lt=before)
        page = list(page.order_by("-id").values_list("pk", "received_at", "event_code")[:BACKFILL_SCAN])
        ids = [pk for pk, received_at, code in page if received_at >= start and code in EVENT_TYPES]
        # through the (endpoint, event_id) index
        recorded = set(Message.objects.filter(endpoint_id__in=endpoint_ids, event_id__in=ids)
                       .values_list("event_id", flat=True))
        missed = [pk for pk in ids if pk not in recorded]
        if missed:
            touched.update(messages_record(tenant=tenant, event_ids=missed))
        if len(page) < BACKFILL_SCAN or page[-1][1] < start:
            return touched
        before = page[-1][0]
    return touched


# --- one attempt -----------------------------------------------------------------
def _retry_after(response: http.Response) -> timedelta | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            wait = parsedate_to_datetime(value) - clock.now()
        except (TypeError, ValueError):
            return None
    return max(timedelta(0), min(wait, RETRY_AFTER_MAX))


def _describe(response: http.Response) -> tuple[str, str]:
    """(outcome, our sentence) for an HTTP answer."""
    code = response.status
    if 200 <= code < 300:
        return Outcome.SUCCESS, ""
    if 300 <= code < 400:
        return Outcome.REDIRECT, ("The endpoint answered with a redirect; deliveries do not follow redirects. "
                                  "Enter the final URL.")
    if code == 429:
        return Outcome.HTTP_ERROR, "The endpoint asked us to slow down (too many requests); retrying later."
    if code >= 500:
        return Outcome.HTTP_ERROR, "The endpoint had an internal error or was unavailable; retrying later."
    return Outcome.HTTP_ERROR, ("The endpoint refused the delivery (a client error status). Check its "
                                "authentication and that it accepts JSON POSTs.")


def attempt_once(*, endpoint: Endpoint, message: Message,
                 sender: http.Sender | None = None) -> tuple[dict, http.Response | None]:
    """POST the message once (over `sender`'s connection, or one of its own); the Attempt row's
    values (by attname; not saved) and the answer. The caller saves attempts with the jobs'
    outcomes, in bulk: values, not Attempt instances, which cost a tenth of a delivery to make."""
    body = message.body.encode()
    headers = headers_for(endpoint=endpoint, message=message, body=body)
    started = clock.now()
    response = None
    try:
        response = sender.post(body, headers) if sender else http.post(endpoint.url, body, headers)
        outcome, error = _describe(response)
    except OutsideError as exc:
        outcome, error = exc.reason, exc.message
    attempt = {
        "tenant_id": message.tenant_id, "endpoint_id": endpoint.pk, "message_id": message.pk,
        "number": message.attempts, "at": started, "outcome": outcome, "error": error,
        "http_status": response.status if response else None,
        "latency_ms": response.latency_ms if response else None,
        "response_excerpt": response.excerpt.decode("utf-8", "replace") if response else "",
        "request_headers": headers}
    return attempt, response


# --- a batch per endpoint, in event order, over one connection ------------------------
def _being_sent(*, endpoint_id: int, now) -> bool:
    """Some of the endpoint's messages are held by a live worker (lease running, still beating)."""
    gone = WorkerHeartbeat.objects.filter(seen_at__lt=now - gone_after()).values("owner")
    return Message.objects.filter(endpoint_id=endpoint_id, status=JobStatus.RUNNING, is_test=False,
                                  lease_until__gte=now).exclude(lease_owner__in=gone).exists()


# what sending and recording a claimed message read (the rest is not loaded: five dates a row
# cost a fifth of a claim to decode)
CLAIMED_FIELDS = ("tenant_id", "endpoint_id", "webhook_id", "event_type", "body")


def messages_claim_next(*, endpoint_id: int, limit: int = BATCH) -> list[Message] | None:
    """The endpoint's next due messages in event order, claimed by this worker ([] when none is due).

    None when the endpoint is not active, or while another worker is sending some of its messages:
    one sender per endpoint at a time is what keeps its deliveries in event order. The endpoint's
    row lock makes two workers' claims take turns (SQLite's IMMEDIATE transactions do the same).
    It is FOR NO KEY UPDATE: a plain FOR UPDATE would also wait for, and deadlock with, the
    receiver's INSERT of new rows, whose foreign key check holds FOR KEY SHARE on the endpoint.
    """
    now = clock.now()
    with transaction.atomic():
        active = Endpoint.objects.select_for_update(no_key=True).filter(pk=endpoint_id,
                                                                        status=EndpointStatus.ACTIVE)
        if not list(active.values_list("pk", flat=True)) or _being_sent(endpoint_id=endpoint_id, now=now):
            return None
        return claim_many(Message, _due_ids(endpoint_id=endpoint_id, now=now, limit=limit), now=now,
                          only=CLAIMED_FIELDS)


def _due_ids(*, endpoint_id: int, now, limit: int) -> list[int]:
    """The endpoint's first due rows by pk (rows are made in event order; a retry due again takes
    its place in that order). One index range per status on (endpoint, status, id): delivered rows
    are never read, however many there are; `claim_many` checks each is still due."""
    ids: list[int] = []
    for status in (JobStatus.PENDING, JobStatus.RETRYING):
        ids += Message.objects.filter(endpoint_id=endpoint_id, status=status, next_attempt_at__lte=now,
                                      is_test=False).order_by("pk").values_list("pk", flat=True)[:limit]
    # abandoned rows (their worker died): none while the endpoint is being sent, few otherwise
    ids += Message.objects.filter(due_filter(now), endpoint_id=endpoint_id, status=JobStatus.RUNNING,
                                  is_test=False).values_list("pk", flat=True)[:limit]
    return sorted(ids)[:limit]


def messages_send(*, endpoint: Endpoint, messages: list[Message], sender: http.Sender,
                  until: float | None = None) -> int:
    """Send claimed messages one after the other over the sender's connection; returns deliveries.

    Attempts and outcomes are written in bulk, one transaction per flush: every `FLUSH_SECONDS`
    or at the batch's end for successes, at once after a failure (it may disable the endpoint).
    After each flush the endpoint is read again: paused, disabled, deleted or given a new URL,
    the rest of the batch is handed back unattempted; so is it once `until` (a time.monotonic()
    value) has passed, so that a slow endpoint gives its worker back to the other endpoints.
    """
    delivered, sent, flushed_at = 0, [], time.monotonic()
    lease_checked_at = flushed_at
    for i, message in enumerate(messages):
        if time.monotonic() - lease_checked_at >= LEASE_CHECK_SECONDS:
            _keep_lease(messages[i:])
            lease_checked_at = time.monotonic()
        attempt, response = attempt_once(endpoint=endpoint, message=message, sender=sender)
        sent.append((message, attempt, response))
        last = i == len(messages) - 1
        if attempt["outcome"] != Outcome.SUCCESS or last or time.monotonic() - flushed_at >= FLUSH_SECONDS:
            delivered += _record(endpoint=endpoint, sent=sent)
            sent, flushed_at = [], time.monotonic()
            if last:
                break
            fresh = Endpoint.objects.filter(pk=endpoint.pk).first()
            if fresh is None or fresh.status != EndpointStatus.ACTIVE or fresh.url != endpoint.url:
                _release(messages[i + 1:], due=fresh is not None and fresh.status == EndpointStatus.ACTIVE)
                break
            if until is not None and time.monotonic() >= until:
                _release(messages[i + 1:], due=True)
                break
            endpoint = fresh
    return delivered


def _keep_lease(rest: list[Message]) -> None:
    """Extend the lease of the batch's unsent rows before it could run out under a slow endpoint."""
    now = clock.now()
    if not rest or rest[0].lease_until - now >= 2 * timedelta(seconds=http.TIMEOUT_SECONDS):
        return
    until = now + Message.LEASE
    Message.objects.filter(pk__one_of=[m.pk for m in rest], status=JobStatus.RUNNING, lease_owner=worker_name()) \
        .update(lease_until=until)
    for m in rest:
        m.lease_until = until


def _release(rest: list[Message], *, due: bool) -> None:
    """Hand unattempted claimed rows back: the attempt they were counted for was not made."""
    if not rest:
        return
    Message.objects.filter(pk__one_of=[m.pk for m in rest], status=JobStatus.RUNNING, lease_owner=worker_name()) \
        .update(status=Case(When(attempts=1, then=Value(JobStatus.PENDING)), default=Value(JobStatus.RETRYING)),
                attempts=F("attempts") - 1, next_attempt_at=clock.now() if due else None,  # paused: for resume
                lease_until=None, lease_owner="")


def _record(*, endpoint: Endpoint, sent: list[tuple[Message, dict, http.Response | None]]) -> int:
    """One transaction: the attempt rows (every attempt made is logged), the successes in one UPDATE
    per attempt number (each only while the row is still this attempt's), a failure's outcome."""
    now = clock.now()
    succeeded = [m for m, a, _ in sent if a["outcome"] == Outcome.SUCCESS]
    with transaction.atomic():
        rows_insert(Attempt, [a for _, a, _ in sent])
        won = 0
        for attempts in {m.attempts for m in succeeded}:
            won += Message.objects.filter(pk__one_of=[m.pk for m in succeeded if m.attempts == attempts],
                                          status=JobStatus.RUNNING, attempts=attempts).update(
                status=JobStatus.DONE, finished_at=now, next_attempt_at=None, last_error="",
                lease_until=None, lease_owner="")
        if succeeded and endpoint.failing_since is not None:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            endpoint.failing_since = None
        for message, attempt, response in sent:
            if attempt["outcome"] != Outcome.SUCCESS:
                _record_outcome(endpoint=endpoint, message=message, attempt=attempt, response=response)
    return won


def _record_outcome(*, endpoint: Endpoint, message: Message, attempt: dict,
                    response: http.Response | None) -> None:
    """A failed attempt's outcome: retry on the schedule, fail, or disable the endpoint."""
    now = clock.now()
    if response is not None and response.status == 410:
        message.fail(DISABLED_GONE)
        endpoint_disable(endpoint=endpoint, reason=DISABLED_GONE)
        return
    if endpoint.failing_since is None:
        Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
        endpoint.failing_since = now
    elif now - endpoint.failing_since >= DISABLE_AFTER:
        message.fail(attempt["error"])
        endpoint_disable(endpoint=endpoint, reason=DISABLED_FAILING)
        return
    if message.attempts > len(RETRY_DELAYS):
        message.fail(attempt["error"])
        return
    wait = RETRY_DELAYS[message.attempts - 1]
    if response is not None and response.status in (429, 503):
        # never sooner than the schedule (a Retry-After of 0 would make a hot loop), later if asked
        wait = max(wait, _retry_after(response) or wait)
    # counted from the attempt's start, as the schedule promises (a batch's rows start one by one)
    message.retry_at(attempt["at"] + wait, attempt["error"], last_attempt_at=attempt["at"])


def endpoint_disable(*, endpoint: Endpoint, reason: str) -> None:
    """Stop delivering; the rows still owed are kept (not due) and go out if an operator resumes."""
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).update(status=EndpointStatus.DISABLED, status_reason=reason,
                                                       status_changed_at=clock.now())
        Message.objects.filter(endpoint=endpoint, status__in=(JobStatus.PENDING, JobStatus.RETRYING)) \
            .update(next_attempt_at=None)
        audit_log_write(user=None, action="webhook_endpoint_disable", tenant=endpoint.tenant, obj=endpoint,
                        detail={"reason": reason})


def endpoints_disable_failing() -> int:
    """The sweep's part: endpoints failing for 5 days with nothing left to attempt are disabled too."""
    limit = clock.now() - DISABLE_AFTER
    count = 0
    for endpoint in Endpoint.objects.filter(status=EndpointStatus.ACTIVE, failing_since__lte=limit):
        endpoint_disable(endpoint=endpoint, reason=DISABLED_FAILING)
        count += 1
    return count


def disable_warning(*, endpoint: Endpoint) -> datetime | None:
    """When the endpoint will be disabled if nothing succeeds before then (None while healthy)."""
    if endpoint.status != EndpointStatus.ACTIVE or endpoint.failing_since is None:
        return None
    return endpoint.failing_since + DISABLE_AFTER


# --- operators' actions ---------------------------------------------------------
SAMPLE_DATA = {
    "receipt.receipt_validated": {"receipt_number": "AB-12345678", "amount": 1280, "currency": "TWD"},
    "form.surveycake_submitted": {"form_id": "sample-form", "answers": {"q1": "Yes"}},
    "pnp.status_updated": {"message_id": "sample-message", "status": "delivered"},
    "prize.points_added": {"points": 100, "balance": 1100},
    "message.first_open": {"message_id": "sample-message", "event_id": "sample-event-id"},
}


def endpoint_send_test(*, endpoint: Endpoint, event_type: str, by) -> Attempt:
    """POST a sample event of `event_type` now, once (no retries); the Attempt says what happened.

    Limited per tenant like every connection test (mktops.ratelimit): a tenant's URL and the
    answers shown would otherwise make it a tool for probing a host at will."""
    if event_type not in EVENT_TYPES:
        raise ValidationError({"event_type": TYPE_UNKNOWN})
    try:
        limit_row = ratelimit.attempt_start(tenant=endpoint.tenant, action="webhook_test_send.attempt",
                                            what="test sends", user=by, obj=endpoint)
    except ratelimit.RateLimited as err:
        raise ValidationError({"__all__": err.message}) from err
    now = clock.now()
    data = {"uid": "sample-user", "event_uuid": "sample-event", "event_code": event_type, "event_name": event_type,
            "event_time": now.isoformat(), "event_attributes": SAMPLE_DATA[event_type], "test": True}
    message = Message.objects.create(tenant=endpoint.tenant, endpoint=endpoint, event_type=event_type,
                                     is_test=True, next_attempt_at=now,
                                     body=body_for(event_type=event_type, timestamp=now, data=data))
    message = claim(Message, message.pk)
    values, _ = attempt_once(endpoint=endpoint, message=message)
    attempt = Attempt(**values)
    with transaction.atomic():
        attempt.save()
        if attempt.outcome == Outcome.SUCCESS:
            message.succeed()
        else:
            message.fail(attempt.error)
    audit_log_write(user=by, action="webhook_test_send", tenant=endpoint.tenant, obj=endpoint,
                    detail={"event_type": event_type, "outcome": attempt.outcome})
    ratelimit.attempt_finish(limit_row, event_type=event_type, outcome=attempt.outcome)
    return attempt


@transaction.atomic
def message_resend(*, message: Message, by) -> Message:
    """Deliver a finished message again, with the same webhook-id and a fresh retry schedule."""
    if message.status in ACTIVE:
        raise ValidationError({"__all__": NOT_FINISHED})
    _requeue(Message.objects.filter(pk=message.pk))
    audit_log_write(user=by, action="webhook_message_resend", tenant=message.tenant, obj=message)
    enqueue_on_commit(TASK, message.endpoint_id)
    message.refresh_from_db()
    return message


@transaction.atomic
def messages_recover(*, endpoint: Endpoint, since: datetime, by) -> int:
    """Deliver again every failed message of the endpoint made since `since`. Returns how many."""
    count = _requeue(Message.objects.filter(endpoint=endpoint, status=JobStatus.FAILED, is_test=False,
                                            created_at__gte=since))
    audit_log_write(user=by, action="webhook_messages_recover", tenant=endpoint.tenant, obj=endpoint,
                    detail={"since": since.isoformat(), "count": count})
    if count:
        enqueue_on_commit(TASK, endpoint.pk)
    return count


def _requeue(queryset) -> int:
    return queryset.update(status=JobStatus.PENDING, attempts=0, next_attempt_at=clock.now(), finished_at=None,
                           lease_until=None, last_error="")
