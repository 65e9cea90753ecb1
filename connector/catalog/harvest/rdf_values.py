"""RDF terms as the values our dataset schema holds: texts, dates, URIs, numbers.

Each reader takes the objects of one property and returns a schema-valid value or None.
Values the schema cannot hold are dropped here, never raised: one odd value must not cost
the whole record. Where several values compete, the choice is deterministic (sorted), so an
unchanged source maps to an unchanged document.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from rdflib import Literal, URIRef
from rdflib.namespace import XSD
from rdflib.term import Node
from rfc3986_validator import validate_rfc3986

MAX_TEXT = 20000
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_DATE = re.compile(r"^(-?\d{4,}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?$")
_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:\d{2})?$")
# Characters left as they are when an IRI is turned into a URI (RFC 3987, section 3.1).
_URI_SAFE = ":/?#[]@!$&'()*+,;=-._~%"
# "xsd:date" unexpanded: contexts that use the prefix without declaring it (the official
# DCAT-AP 3 examples' context does) give the datatype IRI "xsd:date" verbatim.
_DATE_TYPES = {XSD.date, XSD.dateTime, XSD.dateTimeStamp, None, XSD.string,
               URIRef("xsd:date"), URIRef("xsd:dateTime")}


def sorted_nodes(nodes: Iterable[Node]) -> list[Node]:
    """Nodes in a stable order (by kind, then value)."""
    return sorted(set(nodes), key=lambda n: (type(n).__name__, str(n), _language(n)))


def _language(node: Node) -> str:
    return (node.language or "") if isinstance(node, Literal) else ""


def text(nodes: Iterable[Node], max_length: int = MAX_TEXT) -> str | dict[str, str] | None:
    """A plain string (only untagged literals) or a language map (one text per language).

    An untagged literal beside tagged ones is kept as English (the schema reads a plain
    string as English) unless it repeats one of them or English is already there.
    """
    plain: list[str] = []
    by_language: dict[str, str] = {}
    for node in sorted_nodes(nodes):
        if not isinstance(node, Literal):
            continue
        value = str(node).strip()
        if not value or len(value) > max_length:
            continue
        if node.language:
            tag = node.language.lower()
            if _LANGUAGE_TAG.match(tag):
                by_language.setdefault(tag, value)
        else:
            plain.append(value)
    if not by_language:
        return plain[0] if plain else None
    if plain and "en" not in by_language and plain[0] not in by_language.values():
        by_language["en"] = plain[0]
    return dict(sorted(by_language.items()))


def one_string(nodes: Iterable[Node], max_length: int = 512) -> str | None:
    """One literal as a plain string: untagged first, then English, then the first language."""
    value = text(nodes, max_length)
    if isinstance(value, dict):
        return value.get("en") or next(iter(value.values()))
    return value


def keywords(nodes: Iterable[Node]) -> list[str] | dict[str, list[str]] | None:
    """Keywords as a list (all untagged) or a language map of lists (untagged go to English)."""
    plain: list[str] = []
    by_language: dict[str, list[str]] = {}
    for node in sorted_nodes(nodes):
        if not isinstance(node, Literal):
            continue
        value = str(node).strip()
        if not value or len(value) > 200:
            continue
        tag = (node.language or "").lower()
        if tag and not _LANGUAGE_TAG.match(tag):
            continue
        target = by_language.setdefault(tag, []) if tag else plain
        if value not in target and len(target) < 200:
            target.append(value)
    if not by_language:
        return plain or None
    for value in plain:
        english = by_language.setdefault("en", [])
        if value not in english and len(english) < 200:
            english.append(value)
    return dict(sorted(by_language.items()))


def uri(node: Node | None, *, http_only: bool = False) -> str | None:
    """An absolute URI from a URI node or a URI-valued literal (IRIs are percent-encoded)."""
    if not isinstance(node, (URIRef, Literal)) or (isinstance(node, Literal) and node.language):
        return None
    value = str(node).strip()
    if not _SCHEME.match(value):
        return None
    value = quote(value, safe=_URI_SAFE)
    if len(value) > 2048 or not validate_rfc3986(value, rule="URI"):
        return None
    if http_only and not value.lower().startswith(("http://", "https://")):
        return None
    return value


def uris(nodes: Iterable[Node], *, http_only: bool = False, limit: int = 100) -> list[str]:
    """Every URI among ``nodes``, sorted, without repeats, at most ``limit``."""
    found = sorted({u for u in (uri(n, http_only=http_only) for n in nodes) if u})
    return found[:limit]


def first_uri(nodes: Iterable[Node], *, http_only: bool = False) -> str | None:
    """The first URI among ``nodes`` in sorted order."""
    found = uris(nodes, http_only=http_only)
    return found[0] if found else None


def date(node: Node | None) -> str | None:
    """An xsd:date or xsd:dateTime as the schema's date or RFC 3339 date-time.

    A dateTime without a time zone keeps only its date (RFC 3339 needs an offset and we do
    not invent one); a date's time zone is dropped. Other forms (gYear, "06/05/2009") are dropped.
    """
    if not isinstance(node, Literal) or node.language or node.datatype not in _DATE_TYPES:
        return None
    value = str(node).strip()
    match = _DATE.match(value)
    if match and node.datatype not in (XSD.dateTime, URIRef("xsd:dateTime")):
        return match.group(1) if _valid_date(match.group(1)) else None
    match = _DATE_TIME.match(value)
    if not match or not _valid_date(match.group(1)):
        return None
    day, time, zone = match.groups()
    if zone is None:
        return day
    if time.count(":") == 1:
        time += ":00"
    stamp = f"{day}T{time}{zone}"
    try:
        dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp


def first_date(nodes: Iterable[Node]) -> str | None:
    """The first valid date among ``nodes`` in sorted order."""
    for node in sorted_nodes(nodes):
        value = date(node)
        if value:
            return value
    return None


def _valid_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def byte_size(nodes: Iterable[Node]) -> int | None:
    """A non-negative whole number of bytes; decimal forms (``"1024.0"``) are coerced."""
    for node in sorted_nodes(nodes):
        if not isinstance(node, Literal):
            continue
        try:
            number = Decimal(str(node).strip())
        except InvalidOperation:
            continue
        if number.is_finite() and number >= 0 and number == number.to_integral_value():
            return int(number)
    return None
