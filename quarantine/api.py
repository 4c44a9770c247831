"""POST /api/v1/delivery-reports: bounces, status reports and push errors from the sending platform.

Same conventions as the events API (mktops/api.py): Bearer API key, the body through
mktops.api_body (400/411/413/415), each report validated on its own and rejected with its
index, field and rule while the others are applied."""

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import BaseModel, ConfigDict, Field

from mktops.api import Problem, Rejected
from mktops.api_body import read_json
from quarantine.intake import ShapeError, TooLarge, delivery_reports_ingest, outcome_counts, parse_body

router = Router(tags=["quarantine"])


class DeliveryReportIn(BaseModel):
    """One piece of delivery feedback (documentation of the shape; validated item by item)."""

    model_config = ConfigDict(extra="forbid", title="DeliveryReportIn")

    channel: str = Field(description="email, sms or push")
    address: str = Field(description="the email address, phone number (E.164, or national in "
                                     "MKTOPS_DEFAULT_PHONE_REGION) or push device token")
    provider: str = Field(description="email: smtp; push: apns or fcm; sms: smpp, sms-generic or the "
                                      "tenant's SMSC name")
    delivery_id: str = Field(description="the delivery the feedback is about (1-100 characters)")
    time: int | float | str = Field(description="when it happened: epoch seconds or ISO 8601 with offset")
    raw: str = Field(description="the feedback as the provider gave it: SMTP reply or DSN, SMPP status "
                                 "report (stat: / err:), inbound SMS text, APNs or FCM error")
    kind: str | None = Field(default=None, description=(
        "email: bounce (default) or complaint (a feedback-loop report; an ARF report in raw is "
        "recognised too); sms: status_report (default), inbound, provider_error, invalid_ack, "
        "send_error; push: error"))


class Outcomes(Schema):
    delivered: int
    quarantined: int
    denylisted: int
    counted: int
    recorded: int


class ReportsResult(Schema):
    accepted: int
    duplicates: int
    rejected: list[Rejected]
    outcomes: Outcomes


def _body_schema() -> dict:
    item = DeliveryReportIn.model_json_schema()
    return {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["reports"], "additionalProperties": False,
            "properties": {"reports": {"type": "array", "maxItems": settings.MKTOPS_API_MAX_REPORTS,
                                       "items": item}},
        }}},
    }


@router.post(
    "/delivery-reports",
    response={200: ReportsResult, 400: Problem, 401: Problem, 411: Problem, 413: Problem, 415: Problem},
    openapi_extra={"requestBody": _body_schema()},
    summary="Report delivery feedback (bounces, SMS status reports, push errors)",
    description=(
        f"At most {settings.MKTOPS_API_MAX_REPORTS} reports per request. Each report is validated on "
        "its own: a rejected one is listed with its index, field and rule, the others are applied. "
        "A report already applied (same address, provider, delivery_id, time and raw) is counted as a "
        "duplicate and changes nothing. `outcomes` counts what the accepted reports did: delivered "
        "(a success), quarantined, denylisted (spam complaint, SMS opt-out), counted (a soft error "
        "below the threshold, or one more error on a quarantined address) and recorded (evidence "
        "only: an ignored error, a rejection that is the sender's fault, an allowlisted address)."
    ),
)
def post_delivery_reports(request: HttpRequest):
    data = read_json(request)
    try:
        items = parse_body(data, max_reports=settings.MKTOPS_API_MAX_REPORTS)
    except TooLarge as exc:
        return Status(413, {"detail": str(exc)})
    except ShapeError as exc:
        return Status(400, {"detail": str(exc)})
    outcome = delivery_reports_ingest(tenant=request.tenant, items=items)
    return Status(200, {
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "rejected": [r.__dict__ for r in outcome.rejected],
        "outcomes": outcome_counts(outcome),
    })
