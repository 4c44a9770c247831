"""The ingestion HTTP API: the sending platform reports events and sent messages.

Schema at /api/v1/openapi.json, browsable docs at /api/v1/docs.
"""

from django.conf import settings
from django.http import HttpRequest
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from mktops.ingest import EventIn, ShapeError, TenantGone, TooLarge, events_ingest, parse_batch
from mktops.services import api_key_authenticate


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request, token):
        key = api_key_authenticate(token)
        if key is None:
            return None
        request.tenant = key.tenant
        return key


class Rejected(Schema):
    index: int
    field: str
    rule: str


class IngestResult(Schema):
    accepted: int
    duplicates: int
    rejected: list[Rejected]


class Problem(Schema):
    detail: str


class MktopsAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        # the events body is validated item by item (see ingest.py), so it is
        # declared by hand; its item models are added to the components here
        schema = super().get_openapi_schema(*args, **kwargs)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        item = EventIn.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(item.pop("$defs", {}))
        components["EventIn"] = item
        for model in ("EmailMessage", "SmsMessage", "PushMessage"):
            from mktops import ingest

            components[model] = getattr(ingest, model).model_json_schema(
                ref_template="#/components/schemas/{model}", by_alias=True
            )
            components.update(components[model].pop("$defs", {}))
        return schema


api = MktopsAPI(
    title="mktops ingestion API",
    version="1",
    description=(
        "The sending platform reports events and the messages it sent. Authenticate with "
        "`Authorization: Bearer <API key>`. A batch holds at most "
        f"{settings.MKTOPS_API_MAX_EVENTS} events and {settings.MKTOPS_API_MAX_BYTES} bytes "
        "(413 beyond). Events are validated one by one: valid events are stored even when "
        "others in the batch are rejected; a repeated `event_uuid` is counted as a duplicate "
        "and stores nothing."
    ),
    auth=ApiKeyAuth(),
    urls_namespace="api",
)


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return api.create_response(
        request, {"detail": "Missing, unknown or revoked API key: send 'Authorization: Bearer <key>'."},
        status=401,
    )


@api.exception_handler(Exception)
def _never_a_traceback(request, exc):  # pragma: no cover - the last line of defence
    import logging

    logging.getLogger(__name__).exception("ingestion API error")
    return api.create_response(request, {"detail": "Internal error; nothing in this request was "
                                         "stored unless it was reported as accepted."}, status=500)


EVENTS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["events"],
                "additionalProperties": False,
                "properties": {
                    "events": {
                        "type": "array",
                        "maxItems": settings.MKTOPS_API_MAX_EVENTS,
                        "items": {"$ref": "#/components/schemas/EventIn"},
                    }
                },
            }
        }
    },
}


@api.post(
    "/events",
    response={200: IngestResult, 400: Problem, 401: Problem, 413: Problem},
    openapi_extra={"requestBody": EVENTS_BODY},
    summary="Ingest a batch of events",
)
def post_events(request: HttpRequest):
    limit = settings.MKTOPS_API_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        return Status(413, {"detail": f"The body is {declared} bytes; the limit is {limit} bytes per request."})
    body = request.body
    if len(body) > limit:
        return Status(413, {"detail": f"The body is {len(body)} bytes; the limit is {limit} bytes per request."})
    try:
        items = parse_batch(body, max_events=settings.MKTOPS_API_MAX_EVENTS)
    except TooLarge as exc:
        return Status(413, {"detail": str(exc)})
    except ShapeError as exc:
        return Status(400, {"detail": str(exc)})
    try:
        outcome = events_ingest(tenant=request.tenant, items=items)
    except TenantGone:
        return Status(401, {"detail": "The tenant of this API key has been deleted; nothing was stored."})
    return Status(200, {
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "rejected": [r.__dict__ for r in outcome.rejected],
    })
