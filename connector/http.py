"""What every blueprint shares: strict JSON bodies, the caller, the services' collaborators."""

from __future__ import annotations

import json
import re
from typing import Any, overload

from flask import Response, current_app, g, request

from connector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from connector.identity import service as identity
from connector.identity.principal import Principal
from connector.uow import UnitOfWork


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def nesting_depth_exceeds(raw: str, limit: int) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (checked before parsing,
    because the parser would recurse once per level)."""
    depth = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


#: ``\u0000`` not itself escaped (``\\u0000`` is a backslash and "u0000"); a raw NUL byte is
#: already malformed JSON.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def parse_json(raw: bytes, *, max_depth: int) -> Any:
    """Parse a request body strictly: UTF-8, no NaN/Infinity, no duplicate keys, bounded depth."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the body is not UTF-8") from exc
    if nesting_depth_exceeds(text, max_depth):
        raise BadRequest(f"JSON nested deeper than {max_depth} levels")
    if _NUL_ESCAPE.search(text):
        raise BadRequest("the body holds U+0000 (NUL) in a string, which stored text cannot hold")
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc


def json_body() -> Any:
    """The request's JSON body, parsed strictly; 413 past ``MAX_CONTENT_LENGTH``."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    if not request.mimetype or not (
        request.mimetype == "application/json" or request.mimetype.endswith("+json")
    ):
        raise UnsupportedMediaType("send the body as application/json")
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    return parse_json(raw, max_depth=current_app.config["MAX_JSON_DEPTH"])


def extension() -> Any:
    return current_app.extensions["connector"]


def uow() -> UnitOfWork:
    """A fresh unit of work for this request."""
    return UnitOfWork(extension().session_factory)


def validate(name: str, document: Any) -> None:
    extension().schemas.validate(name, document)


def principal() -> Principal:
    """The authenticated caller (cached for the request); 401 without a valid bearer token."""
    if "principal" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        g.principal = identity.authenticate(uow(), token.strip() if scheme.lower() == "bearer" else None)
    return g.principal


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None,
                  mimetype: str = "application/json") -> Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, headers=headers, mimetype=mimetype)


@overload
def int_arg(name: str, default: int, maximum: int, *, minimum: int = 1) -> int: ...
@overload
def int_arg(name: str, default: None, maximum: int, *, minimum: int = 1) -> int | None: ...


def int_arg(name: str, default: int | None, maximum: int, *, minimum: int = 1) -> int | None:
    """The query parameter ``name`` as a whole number from ``minimum`` to ``maximum``
    (``default`` when absent); otherwise a 422 naming it. Only ASCII digits count, and no more
    of them than ``maximum`` has, so "²" or a 10**30-size number never reaches ``int()``."""
    raw = request.args.get(name)
    if raw is None:
        return default
    digits = len(str(maximum))
    if not re.fullmatch(f"[0-9]{{1,{digits}}}", raw) or not minimum <= int(raw) <= maximum:
        raise ValidationFailed([{"path": f"$.{name}",
                                 "message": f"{name} must be a whole number from {minimum} to {maximum}"}])
    return int(raw)
