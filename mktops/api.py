"""The ingestion HTTP API: the sending platform reports events and sent messages.

Schema at /api/v1/openapi.json, browsable docs at /api/v1/docs.
"""

import functools

from django.conf import settings
from django.http import HttpRequest
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.parser import Parser
from ninja.security import HttpBearer

from mktops.api_body import BODY_METHODS, BodyRefused, check_headers, read_early, read_json
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


# what every route that takes a body may answer before it runs (mktops.api_body)
BODY_ANSWERS = {
    "400": "Content-Length is not a number, or the body is not JSON or repeats a top-level key",
    "411": "a chunked body this server cannot read: send a Content-Length",
    "413": "the body (after decoding a gzip or deflate body) is over the limit",
    "415": "the body is not JSON (Content-Type application/json or +json, UTF-8), or is encoded "
           "otherwise than gzip or deflate",
}


class JsonBodyParser(Parser):
    """Ninja's parser for body parameters, so that every route reads its body as post_events does."""

    def parse_body(self, request):
        return read_json(request)


class MktopsAPI(NinjaAPI):
    """Every route of an API of this kind (routers added later too) takes its body through
    mktops.api_body: refused from its headers before authentication or the route's own
    code when it cannot be taken, read and decoded by its parser for body parameters."""

    def __init__(self, **kwargs):
        kwargs.setdefault("parser", JsonBodyParser())
        super().__init__(**kwargs)
        self.add_decorator(self._body_checked, mode="view")
        self.add_exception_handler(BodyRefused, self._body_refused)
        self.add_exception_handler(HttpError, self._http_error)

    def _body_checked(self, run):
        @functools.wraps(run)
        def checked(request, *args, **kwargs):
            try:
                check_headers(request)
                read_early(request)
            except BodyRefused as exc:
                return self._body_refused(request, exc)
            return run(request, *args, **kwargs)

        return checked

    def _body_refused(self, request, exc: BodyRefused):
        return self.create_response(request, {"detail": exc.detail}, status=exc.status)

    def _http_error(self, request, exc: HttpError):
        # ninja answers "Cannot parse request body" for whatever its parser raised:
        # the parser's own refusal says more
        if isinstance(exc.__cause__, BodyRefused):
            return self._body_refused(request, exc.__cause__)
        return self.create_response(request, {"detail": str(exc)}, status=exc.status_code)

    def get_openapi_schema(self, *args, **kwargs):
        # the events body is validated item by item (see ingest.py), so it is
        # declared by hand; its item models are added to the components here
        schema = super().get_openapi_schema(*args, **kwargs)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Problem", Problem.model_json_schema())
        problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                if method.upper() in BODY_METHODS:
                    for status, description in BODY_ANSWERS.items():
                        operation.setdefault("responses", {}).setdefault(
                            status, {"description": description, "content": problem})
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
        "(413 beyond, also after decoding). The body is JSON (`Content-Type: application/json`, UTF-8), "
        "as is or with `Content-Encoding: gzip` or `deflate`, with a Content-Length or chunked; each "
        "top-level key once. Events are validated one by one: valid events are stored even when "
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
    response={200: IngestResult, 400: Problem, 401: Problem, 411: Problem, 413: Problem, 415: Problem},
    openapi_extra={"requestBody": EVENTS_BODY},
    summary="Ingest a batch of events",
)
def post_events(request: HttpRequest):
    # headers checked by MktopsAPI._body_checked; BodyRefused answered by _body_refused
    data = read_json(request)
    try:
        items = parse_batch(data, max_events=settings.MKTOPS_API_MAX_EVENTS)
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
