"""CSV import and export of quarantine entries.

Import: a header line with channel, address, status and optionally error_reason; each bad line is
reported by its line number, field and rule, the good lines are kept. Export: the entries an
admin user may see, one per line. Both write an audit row."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from mktops.services import audit_log_write
from quarantine.manual import entry_upsert

IMPORT_COLUMNS = ("channel", "address", "status", "error_reason")
REQUIRED_COLUMNS = ("channel", "address", "status")
EXPORT_COLUMNS = ("channel", "address", "status", "error_type", "error_reason", "error_count", "domain",
                  "first_error_at", "last_error_at", "last_significant_error_at", "last_delivery_id",
                  "last_provider", "tenant")
MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_LINES = 100_000
AUDIT_ADDRESSES = 1000  # addresses named in the import's audit row

ERR_FILE_SIZE = f"The file is over {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it."
ERR_FILE_LINES = f"The file has more than {MAX_IMPORT_LINES} lines; split it."
ERR_FILE_ENCODING = "The file must be UTF-8 text (CSV)."
ERR_HEADER = ("The first line must name the columns: channel, address, status and optionally error_reason "
              "(comma-separated); the other columns of an export are read past.")
ERR_COLUMNS = "This line has more values than the header names columns."


@dataclass
class LineError:
    line: int
    field: str
    rule: str


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    errors: list[LineError] = field(default_factory=list)


def _rows(content: bytes) -> csv.DictReader:
    if len(content) > MAX_IMPORT_BYTES:
        raise ValidationError({"file": ERR_FILE_SIZE})
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({"file": ERR_FILE_ENCODING}) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    # an export's other columns are read past, so an export can be imported again
    if not set(REQUIRED_COLUMNS) <= set(header) or set(header) - set(IMPORT_COLUMNS) - set(EXPORT_COLUMNS):
        raise ValidationError({"file": ERR_HEADER})
    reader.fieldnames = header
    return reader


def _cell(row: dict, name: str) -> str:
    value = (row.get(name) or "").strip()
    # an exported cell protected against formula injection starts with a quote
    return value[1:] if value.startswith("'") else value


def entries_import_csv(*, tenant, content: bytes, by) -> ImportResult:
    reader = _rows(content)
    result = ImportResult()
    changed = []
    for row in reader:
        line = reader.line_num
        if line > MAX_IMPORT_LINES + 1:
            result.errors.append(LineError(line, "file", ERR_FILE_LINES))
            break
        if None in row:  # DictReader puts extra values under None
            result.errors.append(LineError(line, "line", ERR_COLUMNS))
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # a blank line
        try:
            entry, before = entry_upsert(
                tenant=tenant, channel=_cell(row, "channel").lower(), address=_cell(row, "address"),
                status=_cell(row, "status").lower(), error_reason=_cell(row, "error_reason").lower())
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                result.errors.append(LineError(line, name, messages[0]))
            continue
        if before is None:
            result.added += 1
        else:
            result.updated += 1
        changed.append(f"{entry.channel}:{entry.address}:{entry.status}")
    audit_log_write(user=by, action="quarantine.csv_import", tenant=tenant, detail={
        "added": result.added, "updated": result.updated, "bad_lines": [e.line for e in result.errors][:1000],
        "entries": changed[:AUDIT_ADDRESSES], "entries_not_listed": max(0, len(changed) - AUDIT_ADDRESSES)})
    return result


def _safe(value) -> str:
    text = "" if value is None else str(value)
    # a cell a spreadsheet would run as a formula (a phone number's "+" too) is quoted
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def entries_export_csv(*, entries, by, tenants) -> str:
    """The entries as CSV text; `tenants` are the tenants the export covers, each gets an audit row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    counts: Counter = Counter()
    for entry in entries.select_related("tenant").iterator(chunk_size=2000):
        writer.writerow([_safe(entry.tenant.slug if name == "tenant" else getattr(entry, name))
                         for name in EXPORT_COLUMNS])
        counts[entry.tenant_id] += 1
    for tenant in tenants:
        audit_log_write(user=by, action="quarantine.csv_export", tenant=tenant, detail={"rows": counts[tenant.pk]})
    return out.getvalue()
