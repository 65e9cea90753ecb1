"""The DCAT-AP 3.0.1 dataset document: normalisation and the values search needs.

Pure functions over plain dicts (already schema-valid). The normalised form is what the API
returns and what a version stores: text as language maps, vocabulary terms as authority
codes (``HEAL``, ``PUBLIC``, ``CSV``), single contact points and periods as lists.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from connector.catalog import quality

THEME_AUTHORITY = "http://publications.europa.eu/resource/authority/data-theme/"
ACCESS_RIGHT_AUTHORITY = "http://publications.europa.eu/resource/authority/access-right/"
FILE_TYPE_AUTHORITY = "http://publications.europa.eu/resource/authority/file-type/"
LICENCE_AUTHORITY = "http://publications.europa.eu/resource/authority/licence/"

#: The EU data-theme codes the ``theme`` schema accepts, with the authority table's English
#: labels (the export's ``skos:prefLabel``). ``tests/test_schemas.py`` holds
#: schemas/dcat.schema.json to exactly these codes.
THEME_LABELS = {
    "AGRI": "Agriculture, fisheries, forestry and food", "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport", "ENER": "Energy", "ENVI": "Environment",
    "GOVE": "Government and public sector", "HEAL": "Health", "INTR": "International issues",
    "JUST": "Justice, legal system and public safety", "OP_DATPRO": "Provisional data",
    "REGI": "Regions and cities", "SOCI": "Population and society", "TECH": "Science and technology",
    "TRAN": "Transport",
}
THEME_CODES = tuple(THEME_LABELS)
#: The EU access-right codes, with their English labels.
ACCESS_RIGHT_LABELS = {"PUBLIC": "public", "RESTRICTED": "restricted", "NON_PUBLIC": "non-public"}
ACCESS_RIGHT_CODES = tuple(ACCESS_RIGHT_LABELS)
#: A theme or access-right code, or its authority URI; group 1 is the code.
THEME = re.compile(f"^(?:{re.escape(THEME_AUTHORITY)})?({'|'.join(THEME_CODES)})$")
ACCESS_RIGHT = re.compile(f"^(?:{re.escape(ACCESS_RIGHT_AUTHORITY)})?({'|'.join(ACCESS_RIGHT_CODES)})$")
#: A media type as the schema accepts it: RFC 6838 restricted names, lower case, without the
#: ``^`` RFC 6838 allows (it may not appear raw in an IRI, RFC 3987).
MEDIA_TYPE = re.compile(r"^[a-z0-9!#$&_.+-]+/[a-z0-9!#$&_.+-]+$")
#: An e-mail address (the WHATWG HTML "valid e-mail address"), optionally as a ``mailto:`` URI.
EMAIL = re.compile(r"^(?:mailto:)?[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
                   r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")

#: Facets searched and counted, with the dataset property each comes from (``quality`` is the
#: metadata-quality rating of :mod:`connector.catalog.quality`; ``license`` the licence, as its
#: EU authority code when it has one).
FACETS = ("theme", "publisher", "format", "access_rights", "sector", "keyword", "organisation",
          "license", "quality")

MAX_TOKEN_LENGTH = 64
_TOKEN = re.compile(r"[^\W_]+")


def _lang_map(value: str | dict[str, str]) -> dict[str, str]:
    return {"en": value} if isinstance(value, str) else dict(value)


def _code(value: str, authority: str) -> str:
    return value.removeprefix(authority)


def normalise(document: dict[str, Any]) -> dict[str, Any]:
    """The canonical form of a schema-valid dataset document (a new dict; input untouched)."""
    doc = json.loads(json.dumps(document))  # deep copy of plain JSON
    doc.pop("organisation", None)
    for key in ("title", "description"):
        doc[key] = _lang_map(doc[key])
    if "publisher" in doc:
        doc["publisher"]["name"] = _lang_map(doc["publisher"]["name"])
    if isinstance(doc.get("keyword"), list):
        doc["keyword"] = {"en": doc["keyword"]}
    if "theme" in doc:
        # A code and its authority URI name one theme: answered once (the schema's uniqueItems).
        doc["theme"] = list(dict.fromkeys(_code(t, THEME_AUTHORITY) for t in doc["theme"]))
    doc["accessRights"] = _code(doc["accessRights"], ACCESS_RIGHT_AUTHORITY)
    if isinstance(doc.get("contactPoint"), dict):
        doc["contactPoint"] = [doc["contactPoint"]]
    if isinstance(doc.get("temporal"), dict):
        doc["temporal"] = [doc["temporal"]]
    for dist in doc.get("distribution", []):
        for key in ("title", "description"):
            if key in dist:
                dist[key] = _lang_map(dist[key])
        if "format" in dist:
            dist["format"] = format_code(dist["format"])
    return doc


def format_code(value: str) -> str:
    """``CSV`` for ``csv``, ``text/csv``-less names, or the EU file-type URI."""
    value = value.strip()
    if value.startswith(FILE_TYPE_AUTHORITY):
        return value.removeprefix(FILE_TYPE_AUTHORITY)
    if re.fullmatch(r"[A-Za-z0-9_.+-]{1,32}", value):
        return value.upper()
    return value


def licence_code(value: str) -> str:
    """``CC_BY_4_0`` for the EU licence authority URI; any other licence as it is."""
    return value.removeprefix(LICENCE_AUTHORITY)


def content_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON form: equal documents, equal hashes."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def preferred_text(value: dict[str, str] | None, language: str = "en") -> str:
    """The text in ``language`` if present, else the first one given."""
    if not value:
        return ""
    return value.get(language) or next(iter(value.values()))


def facet_values(document: dict[str, Any], organisation: str) -> Iterator[tuple[str, str]]:
    """(facet, value) pairs of a normalised document, without repeats."""
    seen: set[tuple[str, str]] = set()

    def pairs() -> Iterable[tuple[str, str]]:
        for theme in document.get("theme", []):
            yield "theme", theme
        if "publisher" in document:
            yield "publisher", preferred_text(document["publisher"]["name"])
        for dist in document.get("distribution", []):
            if "format" in dist:
                yield "format", dist["format"]
        yield "access_rights", document["accessRights"]
        if "sector" in document:
            yield "sector", document["sector"]
        for words in document.get("keyword", {}).values():
            for word in words:
                yield "keyword", word
        yield "organisation", organisation
        if document.get("license"):
            yield "license", licence_code(document["license"])
        yield "quality", quality.assess(document).rating

    for facet, value in pairs():
        key = (facet, value[:255])
        if key not in seen:
            seen.add(key)
            yield key


def tokens(text: str) -> list[str]:
    """Search tokens: accents removed, case folded, split on anything not a letter or digit.

    Both search backends index and query these tokens, so SQLite FTS5 and PostgreSQL full
    text see the same words and return the same results.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return [t for t in _TOKEN.findall(stripped) if len(t) <= MAX_TOKEN_LENGTH]


def facet_token(facet: str, value: str) -> str:
    """The search token standing for one facet value, indexed with the words so that facet
    filters run inside the full-text index (letters and digits only, like every token)."""
    digest = hashlib.sha1(f"{facet}\x00{value[:255]}".encode(), usedforsecurity=False)
    return "zf" + digest.hexdigest()[:24]


def search_text(document: dict[str, Any]) -> str:
    """The words a dataset is found by: titles, descriptions, keywords, publisher, identifier."""
    parts: list[str] = [document.get("identifier", "")]
    for key in ("title", "description"):
        parts.extend(document[key].values())
    for words in document.get("keyword", {}).values():
        parts.extend(words)
    if "publisher" in document:
        parts.extend(document["publisher"]["name"].values())
    for dist in document.get("distribution", []):
        for key in ("title", "description"):
            parts.extend(dist.get(key, {}).values())
    return " ".join(tokens(" ".join(parts)))
