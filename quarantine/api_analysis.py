"""`POST /api/v1/deliveries/{delivery_id}/analysis`: the targets of a delivery, checked against
quarantine and the blocklist before it is sent. Added to the core's API from QuarantineConfig.ready().

The conventions of the events API: Bearer key (401), the body through mktops.api_body (400, 411,
413, 415), a body that is not {"channel", "targets"} is 400, more than MAX_TARGETS targets 413,
and bad targets are rejected one by one (index, field, rule) while the others are answered."""

import orjson
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status

from mktops.api import Problem, Rejected
from mktops.api_body import read_json
from quarantine.analysis import REASONS, delivery_analyse

MAX_TARGETS = 100_000
FIELDS = {"channel", "targets"}

router = Router(tags=["quarantine"])


class Excluded(Schema):
    index: int
    uid: str
    address: str
    reason: str


class Counts(Schema):
    quarantined: int
    denylisted: int
    blocklisted: int


class AnalysisResult(Schema):
    delivery_id: str
    channel: str
    targets: int
    to_send: int
    excluded_count: int
    counts: Counts
    excluded: list[Excluded]
    rejected: list[Rejected]


ANALYSIS_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["channel", "targets"],
        "additionalProperties": False,
        "properties": {
            "channel": {"type": "string", "enum": ["email", "sms", "push"]},
            "targets": {
                "type": "array", "maxItems": MAX_TARGETS,
                "items": {
                    "type": "object", "required": ["uid", "address"], "additionalProperties": False,
                    "properties": {
                        "uid": {"type": "string", "minLength": 1, "maxLength": 255,
                                "description": "the contact's uid"},
                        "address": {"type": "string", "description": (
                            "email address (case does not matter), phone number (E.164, or national "
                            "in the default region) or push token")},
                    },
                },
            },
        },
    }}},
}


class ShapeError(ValueError):
    pass


def parse_body(data) -> tuple[str, list]:
    """(channel, targets) of the body, ShapeError (400) or OverflowError (413) saying what is wrong."""
    if not isinstance(data, dict) or not set(data) >= FIELDS:
        raise ShapeError('The body must be a JSON object {"channel": ..., "targets": [...]}.')
    if set(data) - FIELDS:
        raise ShapeError(f'Unknown top-level field(s): {", ".join(sorted(set(data) - FIELDS))}; '
                         'the body is {"channel": ..., "targets": [...]}.')
    if not isinstance(data["targets"], list):
        raise ShapeError('"targets" must be a list of {"uid": ..., "address": ...} objects.')
    if len(data["targets"]) > MAX_TARGETS:
        raise OverflowError(f'The request holds {len(data["targets"])} targets; the limit is {MAX_TARGETS} '
                            "per request: split the delivery's targets over several requests.")
    return data["channel"], data["targets"]


@router.post(
    "/deliveries/{delivery_id}/analysis",
    response={200: AnalysisResult, 400: Problem, 401: Problem, 411: Problem, 413: Problem, 415: Problem},
    openapi_extra={"requestBody": ANALYSIS_BODY},
    summary="Analyse a delivery's targets: which are excluded (quarantined, denylisted, blocklisted)",
    description=(
        f"Up to {MAX_TARGETS} targets per request; a large delivery is analysed in several requests "
        "with the same delivery id (its counts add up). Excluded: the contact is blocklisted on the "
        "channel (its opt-out wins, even over an allowlisted address), or the address is Quarantined "
        "or On denylist. Every other target, allowlisted addresses included, is to be sent. Targets "
        "that cannot be read are listed in `rejected` (index, field, rule) and counted in neither; "
        "each exclusion is logged against the delivery."
    ),
)
def post_analysis(request: HttpRequest, delivery_id: str):
    data = read_json(request)
    try:
        channel, targets = parse_body(data)
    except OverflowError as exc:
        return Status(413, {"detail": str(exc)})
    except ShapeError as exc:
        return Status(400, {"detail": str(exc)})
    try:
        outcome = delivery_analyse(tenant=request.tenant, delivery_id=delivery_id, channel=channel,
                                   targets=targets)
    except ValidationError as exc:
        name, messages = next(iter(exc.message_dict.items()))
        return Status(400, {"detail": f"{name}: {messages[0]}"})
    # written with orjson, not through the response schema: 100,000 excluded targets validated
    # one by one cost more than the analysis
    return HttpResponse(orjson.dumps({
        "delivery_id": outcome.delivery.delivery_id,
        "channel": channel,
        "targets": outcome.targets + len(outcome.rejected),
        "to_send": outcome.to_send,
        "excluded_count": len(outcome.excluded),
        "counts": {reason.value: outcome.counts[reason.value] for reason in REASONS},
        "excluded": [{"index": index, "uid": uid, "address": given, "reason": reason}
                     for index, uid, given, _, reason in outcome.excluded],
        "rejected": [{"index": r.index, "field": r.field, "rule": r.rule} for r in outcome.rejected],
    }), content_type="application/json")
