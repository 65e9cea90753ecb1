"""CKAN action parameters, read into our search query (pure).

Parameters arrive from a query string (every value a string, repeated keys as lists) or from
a JSON body (typed values); each reader accepts both. ``q`` and ``fq`` are read as the small
subset of Solr syntax CKAN clients send for filtering: ``field:value``, ``field:"quoted
value"``, ``field:(a OR b)``, ``+field:value``, clauses joined by spaces or ``AND``, and
``*:*``. Fields are CKAN's names for our facets (``tags``, ``organization``, ``res_format``,
``license_id``, ``groups``) or our own facet names. Anything else is refused with a
Validation Error that names it; nothing is silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.catalog import dcat
from connector.ckan_api.mapping import theme_code
from connector.errors import ValidationFailed

#: CKAN field name -> our facet.
FIELDS = {"tags": "keyword", "organization": "organisation", "owner_org": "organisation",
          "res_format": "format", "license_id": "license", "groups": "theme",
          **{name: name for name in dcat.FACETS}}

_VALUE: dict[str, Callable[[str], str]] = {
    "theme": theme_code,
    "format": dcat.format_code,
    "license": dcat.licence_code,
    "access_rights": lambda v: v.removeprefix(dcat.ACCESS_RIGHT_AUTHORITY).upper(),
    "quality": str.lower,
}

#: CKAN sort strings -> our sort. There is no relevance score: ``score desc`` sorts by change.
SORTS = {"score desc, metadata_modified desc": "-updated", "metadata_modified desc": "-updated",
         "score desc": "-updated", "metadata_modified asc": "updated", "title_string asc": "title",
         "title_string desc": "-title", "title asc": "title", "title desc": "-title"}

MAX_ROWS = 1000
DEFAULT_ROWS = 10
DEFAULT_FACET_LIMIT = 50

_CLAUSE = re.compile(
    r'(?P<sign>[+-]?)(?P<field>[A-Za-z_][\w.]*):'
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|\((?P<group>[^)]*)\)|(?P<bare>(?:[^\s\\()"]|\\.)+))'
)
_GROUP_ITEM = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_ESCAPE = re.compile(r"\\(.)")


def invalid(key: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"path": key, "message": message}], detail=f"{key}: {message}")


def integer(params: Mapping[str, Any], key: str, default: int, minimum: int = 0,
            maximum: int | None = None, clamp: bool = False) -> int:
    """A whole-number parameter; CKAN caps ``rows`` silently, so ``clamp`` does too."""
    raw = params.get(key, default)
    if isinstance(raw, str) and re.fullmatch(r"-?[0-9]{1,9}", raw.strip()):
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise invalid(key, f"must be a whole number of at least {minimum}")
    if maximum is not None and raw > maximum:
        if not clamp:
            raise invalid(key, f"must be at most {maximum}")
        raw = maximum
    return raw


def boolean(params: Mapping[str, Any], key: str, default: bool) -> bool:
    raw = params.get(key, default)
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return raw.strip().lower() in ("true", "1", "yes")
    raise invalid(key, "must be true or false")


def string_list(params: Mapping[str, Any], key: str) -> list[str]:
    """A list parameter: a JSON list, a JSON-encoded list in a string (CKAN's GET form), or
    one string."""
    raw = params.get(key)
    if raw is None:
        return []
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                raw = json.loads(text)
            except ValueError as exc:
                raise invalid(key, f"is not a JSON list: {exc}") from exc
        else:
            raw = [text] if text else []
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise invalid(key, "must be a list of strings")
    return raw


def text(params: Mapping[str, Any], key: str) -> str:
    raw = params.get(key, "")
    if not isinstance(raw, str):
        raise invalid(key, "must be a string")
    return raw


@dataclass
class Parsed:
    """Filters (our facet -> accepted values) and the free words left over."""

    filters: dict[str, list[str]] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)


def _facet(key: str, name: str) -> str:
    facet = FIELDS.get(name)
    if facet is None:
        raise invalid(key, f"cannot filter on {name!r}; use one of {', '.join(sorted(FIELDS))}")
    return facet


def parse_filters(key: str, expression: str, parsed: Parsed, *, words_allowed: bool) -> None:
    """Add the clauses of one ``q``/``fq`` expression to ``parsed``.

    Clauses AND together; the values inside ``field:(a OR b)`` are alternatives. Two clauses
    on one field must name the same values (an AND of two values is not supported)."""
    pos = 0
    while pos < len(expression):
        ws = re.match(r"\s+|AND\b|&&", expression[pos:])
        if ws:
            pos += ws.end()
            continue
        if expression.startswith("*:*", pos):
            pos += 3
            continue
        match = _CLAUSE.match(expression, pos)
        if match:
            pos = match.end()
            if match["sign"] == "-":
                raise invalid(key, f"negated filters ({match.group(0)}) are not supported")
            if match["group"] is not None:
                items = [_unescape(q or b) for q, b in _GROUP_ITEM.findall(match["group"]) if b != "OR"]
            else:
                items = [_unescape(match["quoted"] if match["quoted"] is not None else match["bare"])]
            if match["field"] not in FIELDS and words_allowed:
                parsed.words.extend(items)  # title:x, notes:x... search the words
                continue
            facet = _facet(key, match["field"])
            values = sorted({_VALUE.get(facet, str)(v) for v in items if v})
            if not values:
                raise invalid(key, f"no value for {match['field']!r}")
            if facet in parsed.filters and parsed.filters[facet] != values:
                raise invalid(key, f"{match['field']!r} is filtered twice; use {match['field']}:(a OR b)"
                                   " for any of several values")
            parsed.filters[facet] = values
            continue
        if not words_allowed:
            raise invalid(key, f"cannot read {expression[pos:pos + 40]!r}; use field:value clauses")
        word = re.match(r"\S+", expression[pos:])
        assert word is not None
        if word.group(0) not in ("OR", "NOT"):
            parsed.words.append(word.group(0))
        pos += word.end()


def _unescape(value: str) -> str:
    return _ESCAPE.sub(r"\1", value)


def sort(params: Mapping[str, Any]) -> str:
    raw = text(params, "sort") or "score desc, metadata_modified desc"
    key = re.sub(r"\s+", " ", raw.strip().lower()).replace(" ,", ",")
    if key not in SORTS:
        raise invalid("sort", f"unsupported sort {raw!r}; use one of {', '.join(SORTS)}")
    return SORTS[key]


def facet_fields(params: Mapping[str, Any]) -> dict[str, str]:
    """Requested facet fields as CKAN names -> our facets (none when ``facet`` is false)."""
    if not boolean(params, "facet", True):
        return {}
    return {name: _facet("facet.field", name) for name in string_list(params, "facet.field")}
