"""File path templates: `{{db_name}}/{{date}}/email/{{id}}_{{cid}}_{{time}}_email.eml` and friends."""

from __future__ import annotations

import re

ATTRIBUTES = ("cid", "channel", "db_name", "date", "id", "transaction_id", "time", "event_id", "alert_id")

DEFAULT_TEMPLATES = {
    "email": "{{db_name}}/{{date}}/email/{{id}}_{{cid}}_{{time}}_email.eml",
    "sms": "{{db_name}}/{{date}}/sms/{{id}}_{{cid}}_{{time}}_sms.json",
    "push": "{{db_name}}/{{date}}/push/{{id}}_{{cid}}_{{time}}_push_{platform}.json",
}

# `.format` turns "{{" into "{": the list of valid attributes is escaped twice so that it
# reads {{cid}}, the syntax the operator must type, not {cid}
ERR_TEMPLATE_UNKNOWN_ATTRIBUTE = (
    "{field}: {{{{{name}}}}} is not a known attribute; use "
    + ", ".join("{{{{" + a + "}}}}" for a in ATTRIBUTES) + "."
)
ERR_TEMPLATE_NEEDS_ID = "{field}: the file path must contain {{{{id}}}} so that every message gets its own file."
ERR_TEMPLATE_BAD_BRACES = "{field}: write attributes as {{{{name}}}}; found unmatched braces."
ERR_TEMPLATE_BAD_CHARS = (
    "{field}: the file path may not contain line breaks, control characters or quotes (\\r \\n \" ' `)."
)
ERR_TEMPLATE_BAD_PATH = (
    "{field}: the file path must be relative, without empty, '.' or '..' segments, "
    "and at most 512 characters."
)

_ATTR = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# a key with a line break or a quote breaks SFTP paths, S3 listings and the headers that carry it
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\"'`]")


class TemplateError(ValueError):
    pass


def path_template_validate(*, template: str, field: str = "file path") -> str:
    """Return the template if operators may use it; TemplateError naming the field and rule otherwise."""
    if _BAD_CHARS.search(template):
        raise TemplateError(ERR_TEMPLATE_BAD_CHARS.format(field=field))
    template = template.strip()
    for name in _ATTR.findall(template):
        if name not in ATTRIBUTES:
            raise TemplateError(ERR_TEMPLATE_UNKNOWN_ATTRIBUTE.format(field=field, name=name))
    if "{" in _ATTR.sub("", template) or "}" in _ATTR.sub("", template):
        raise TemplateError(ERR_TEMPLATE_BAD_BRACES.format(field=field))
    if "id" not in _ATTR.findall(template):
        raise TemplateError(ERR_TEMPLATE_NEEDS_ID.format(field=field))
    segments = template.split("/")
    if len(template) > 512 or template.startswith("/") or any(s in ("", ".", "..") for s in segments):
        raise TemplateError(ERR_TEMPLATE_BAD_PATH.format(field=field))
    return template


def _safe(value) -> str:
    text = _UNSAFE.sub("_", str(value or "")).strip("_")
    return text or "none"


def path_render(*, template: str, values: dict) -> str:
    """Fill a (validated) template; every value is made safe for a file path."""
    return _ATTR.sub(lambda m: _safe(values.get(m.group(1))), template)


def path_template_for(*, channel: str, platform: str, custom: str) -> str:
    if custom:
        return custom
    return DEFAULT_TEMPLATES[channel].replace("{platform}", platform or "android")
