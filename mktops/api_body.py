"""The request body of every API route: its headers checked, read, decoded and parsed once.

`mktops.api` applies `check_headers` to every operation (before authentication: the
answer depends on nothing but the request) and reads bodies with `read_json`, also
through its parser, so that a route added later (the quarantine's delivery reports)
gets the same answers: 400 for a Content-Length that is not a number or a body that
is not JSON or repeats a top-level key, 411 for a chunked body the server cannot
read, 413 past MKTOPS_API_MAX_BYTES (before and after decoding), 415 for a body
that is not JSON or is encoded otherwise than gzip or deflate.
"""

import re
import zlib
from collections import Counter
from collections.abc import Iterator

import orjson
from django.conf import settings
from django.http import HttpRequest

BODY_METHODS = ("POST", "PUT", "PATCH")
ENCODINGS = ("gzip", "x-gzip", "deflate")
READ_SIZE = 64 * 1024
_DIGITS = re.compile(r"[0-9]+")
_JSON_TYPE = re.compile(r"application/(?:[\w.+-]+\+)?json")


class BodyRefused(Exception):
    """The request's body cannot be taken: `status` and a sentence saying why."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def check_headers(request: HttpRequest) -> None:
    """Refuses, from its headers alone, a request whose body cannot be taken."""
    meta = request.META
    declared = meta.get("CONTENT_LENGTH") or ""
    if declared and not _DIGITS.fullmatch(declared):
        raise BodyRefused(400, "The Content-Length header must be a whole number of bytes.")
    chunked = _chunked(meta)
    if chunked and not _reads_chunked(meta):
        raise BodyRefused(411, "This server cannot read a chunked body: send it with a Content-Length header.")
    # no body at all is answered as JSON that is not valid, whatever its type
    if request.method in BODY_METHODS and (chunked or declared.strip("0")):
        _check_content_type(request)
    encoding = meta.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding not in ("", "identity", *ENCODINGS):
        raise BodyRefused(415, "The Content-Encoding must be gzip or deflate, or none; "
                               "this server cannot decode any other.")
    limit = settings.MKTOPS_API_MAX_BYTES
    if declared and int(declared) > limit:
        raise BodyRefused(413, f"The body is {declared} bytes; the limit is {limit} bytes per request.")


def _check_content_type(request: HttpRequest) -> None:
    given = request.content_type or ""
    if not _JSON_TYPE.fullmatch(given.lower()):
        said = f"this request said {given[:100]!r}" if given else "this request gave none"
        raise BodyRefused(415, f"The body must be JSON, sent as Content-Type: application/json ({said}).")
    charset = request.content_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise BodyRefused(415, "A JSON body must be UTF-8; send it without a charset or with charset=utf-8.")


def _chunked(meta) -> bool:
    """A body sent in chunks, of a length nobody said."""
    return "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and not meta.get("CONTENT_LENGTH")


def _reads_chunked(meta) -> bool:
    # a WSGI server that de-chunks the body says so (gunicorn does); Django's runserver
    # does not, and its stream would then hang or read the next request. Under ASGI the
    # server hands over the whole body, chunked or not.
    return "wsgi.input" not in meta or bool(meta.get("wsgi.input_terminated"))


def read_early(request: HttpRequest) -> None:
    """Reads and decodes, before the route runs, a body that Django's `request.body` would
    get wrong (encoded, or chunked without a length), so that code reading `request.body`
    (ninja's body parameters among it) sees the JSON. Bounded like any read by
    MKTOPS_API_MAX_BYTES; a plain body is read only when the route asks for it."""
    meta = request.META
    if request.method in BODY_METHODS and (_chunked(meta) or meta.get("HTTP_CONTENT_ENCODING", "").strip()):
        read_body(request)


def read_body(request: HttpRequest) -> bytes:
    """The body, decoded, read at most once per request; BodyRefused past the limit."""
    if not hasattr(request, "_mktops_body"):
        limit = settings.MKTOPS_API_MAX_BYTES
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        chunks = _limited(_raw_chunks(request), limit)
        body = _inflate(chunks, encoding, limit) if encoding in ENCODINGS else b"".join(chunks)
        # request.body is the decoded JSON from here on, for any code that reads it
        request._mktops_body = request._body = body
    return request._mktops_body


def _raw_chunks(request: HttpRequest) -> Iterator[bytes]:
    meta = request.META
    # without a Content-Length Django's WSGI request reads nothing; the server that
    # de-chunked the body (see _reads_chunked) ends its input stream at the body's end
    stream = meta["wsgi.input"] if _chunked(meta) and "wsgi.input" in meta else request
    while chunk := stream.read(READ_SIZE):
        yield chunk


def _too_large(limit: int) -> BodyRefused:
    return BodyRefused(413, f"The body is more than {limit} bytes; the limit is {limit} bytes per request.")


def _limited(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk


def _inflate(chunks: Iterator[bytes], encoding: str, limit: int) -> bytes:
    """The gzip or deflate body decoded a piece at a time: a small body that inflates
    past `limit` (a zip bomb) is refused once the limit is passed, not after."""
    out, size, inflater = [], 0, None
    try:
        for chunk in chunks:
            data = chunk
            while data:
                if inflater is None:
                    inflater = zlib.decompressobj(_wbits(encoding, data))
                piece = inflater.decompress(data, limit + 1 - size)
                size += len(piece)
                if size > limit:
                    raise _too_large(limit)
                out.append(piece)
                data = inflater.unconsumed_tail
                if inflater.eof:
                    data = inflater.unused_data
                    if not data.strip(b"\x00"):
                        data = b""  # padding after the end
                    elif encoding == "deflate":
                        raise BodyRefused(400, "The deflate body goes on after the end of its data.")
                    else:
                        inflater = None  # gzip: the next member
    except zlib.error:
        raise BodyRefused(400, f"The body is not valid {_name(encoding)} data "
                               f"(Content-Encoding: {encoding}).") from None
    if inflater is None or not inflater.eof:
        raise BodyRefused(400, f"The {_name(encoding)} body ends before its data does.")
    return b"".join(out)


def _name(encoding: str) -> str:
    return "deflate" if encoding == "deflate" else "gzip"


def _wbits(encoding: str, first: bytes) -> int:
    if encoding != "deflate":
        return 16 + zlib.MAX_WBITS
    # HTTP's deflate is the zlib format, but some clients send the raw stream
    zlib_header = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] * 256 + first[1]) % 31 == 0
    return zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS


def read_json(request: HttpRequest):
    """The body parsed as JSON; BodyRefused (400) when it is not JSON or its top-level
    object repeats a key (orjson would keep the last one silently)."""
    body = read_body(request)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyRefused(400, f"The body is not valid JSON: {exc}.") from None
    if isinstance(data, dict):
        repeated = repeated_key(body, data)
        if repeated is not None:
            raise BodyRefused(400, f"The body gives the top-level key {repeated!r} more than once; give it once.")
    return data


_SPECIAL = re.compile(r'[^\x20-\x7e]|["\\/]')


def repeated_key(body: bytes, data: dict) -> str | None:
    """A key the top-level object of `body` (parsed: `data`) gives more than once.

    Cheap in the usual case: a repeated key is in `data`, so its text occurs twice in the
    body unless one occurrence is spelled with escapes; when each key's text occurs once
    and no character of the keys is written as an escape anywhere, nothing repeats.
    Otherwise the top level is read again with the standard parser, keeping its pairs."""
    keys = list(data)
    if all(not _SPECIAL.search(k) for k in keys) and all(body.count(orjson.dumps(k)) == 1 for k in keys):
        escapes = {f"{ord(c):02x}" for k in keys for c in k}
        if not escapes or not re.search(rb"\\u00(?i:" + "|".join(sorted(escapes)).encode() + rb")", body):
            return None
    return _repeated_by_pairs(body)


def _repeated_by_pairs(body: bytes) -> str | None:
    import json

    top: list = []

    def keep_pairs(pairs):
        # objects close inside out: the last one to close is the top level
        top[:] = [key for key, _ in pairs]

    try:
        json.loads(body, object_pairs_hook=keep_pairs)
    except RecursionError:
        raise BodyRefused(400, "The body is nested too deeply.") from None
    counts = Counter(top)
    return next((key for key, n in counts.items() if n > 1), None)
