"""The CKAN mapping, used by the harvester in :mod:`ckan`.

:func:`map_package` is pure: a CKAN package dict (core fields, classic ``extras`` and the
top-level fields of ckanext-scheming / ckanext-dcat) to a ``dataset`` document. Values our
schema cannot hold are dropped, never fatal; only a missing title fails a record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from connector.catalog.dcat import (
    ACCESS_RIGHT,
    EMAIL,
    LICENCE_AUTHORITY,
    MEDIA_TYPE,
    THEME,
)
from connector.catalog.harvest.records import DATE_OR_TIME

MEDIA_TYPE_PREFIX = "http://www.iana.org/assignments/media-types/"

#: CKAN's default licence ids, as the EU Licence authority table names them.
LICENCES = {
    "cc-by": "CC_BY_4_0",
    "cc-by-4.0": "CC_BY_4_0",
    "cc-by-sa": "CC_BYSA_4_0",
    "cc-by-sa-4.0": "CC_BYSA_4_0",
    "cc-nc": "CC_BYNC_4_0",
    "cc-by-nc-4.0": "CC_BYNC_4_0",
    "cc-zero": "CC0",
    "cc0-1.0": "CC0",
    "odc-by": "ODC_BY",
    "odc-odbl": "ODC_BL",
    "odc-pddl": "ODC_PDDL",
}
_HTTP = re.compile(r"^https?://\S+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_HEX = re.compile(r"^[0-9a-fA-F]{32,128}$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_CHECKSUM_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
_ALGORITHMS = ("sha1", "sha256", "sha384", "sha512", "md5")


class MappingError(ValueError):
    """The package lacks what every dataset needs (a title)."""


def package_id(package: Mapping[str, Any]) -> str | None:
    """The package's ``id`` (else its ``name``), the record's remote id."""
    for key in ("id", "name"):
        value = package.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def extras_of(package: Mapping[str, Any]) -> dict[str, Any]:
    """Classic ``extras`` (a list of key/value pairs) as a dict; JSON-looking values parsed."""
    out: dict[str, Any] = {}
    for item in package.get("extras") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            continue
        value = item.get("value")
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[item["key"]] = value
    return out


def _field(package: Mapping[str, Any], extras: Mapping[str, Any], *names: str) -> Any:
    """The first non-empty value among top-level (scheming) fields, then extras."""
    for name in names:
        for holder in (package, extras):
            value = holder.get(name)
            if value not in (None, "", [], {}):
                return value
    return None


def _text(value: Any, limit: int = 20000) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def _translated(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    out = {lang: text for lang, raw in value.items()
           if isinstance(lang, str) and _LANG.match(lang) and (text := _text(raw))}
    return out or None


def _list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _date(value: Any) -> str | None:
    """An xsd:date or xsd:dateTime our schema accepts (a zone added when the source has none)."""
    if not isinstance(value, str) or not DATE_OR_TIME.match(value.strip()):
        return None
    value = value.strip().replace(" ", "T")
    if "T" not in value:
        return value
    date, clock = value.split("T", 1)
    if re.search(r"(Z|[+-]\d{2}:?\d{2})$", clock) is None:
        clock += "Z"
    if clock.count(":") == 1 or re.match(r"^\d{2}:\d{2}(Z|[+-])", clock):
        clock = clock[:5] + ":00" + clock[5:]
    return f"{date}T{clock}"


def _agent(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    name = _translated(value.get("name_translated")) or _text(value.get("name"), 20000) \
        or _text(value.get("title"))
    if not name:
        return None
    agent: dict[str, Any] = {"name": name}
    identifier = _text(value.get("identifier"), 512) or _text(value.get("uri"), 512)
    if identifier:
        agent["identifier"] = identifier
    homepage = value.get("url")
    if isinstance(homepage, str) and _HTTP.match(homepage) and len(homepage) <= 2048:
        agent["homepage"] = homepage
    kind = _text(value.get("type"), 512)
    if kind:
        agent["type"] = kind
    return agent


def _contact(name: Any, email: Any, url: Any = None) -> dict[str, str] | None:
    fn = _text(name, 512) or _text(email, 512)
    contact: dict[str, str] = {}
    if isinstance(email, str) and EMAIL.match(email.strip()) and len(email) < 500:
        email = email.strip()
        contact["hasEmail"] = email if email.startswith("mailto:") else f"mailto:{email}"
    if isinstance(url, str) and _HTTP.match(url) and len(url) <= 2048:
        contact["hasURL"] = url
    if not fn or not contact:
        return None
    return {"fn": fn, **contact}


def _licence(package: Mapping[str, Any], extras: Mapping[str, Any]) -> str | None:
    url = package.get("license_url")
    if isinstance(url, str) and _URI.match(url) and len(url) <= 2048:
        return url
    licence_id = _field(package, extras, "license_id", "license")
    if isinstance(licence_id, str):
        if _URI.match(licence_id) and len(licence_id) <= 2048:
            return licence_id
        code = LICENCES.get(licence_id.strip().lower())
        if code:
            return LICENCE_AUTHORITY + code
    return None


def _distribution(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    urls = {key: value.strip() for key in ("access_url", "url", "download_url")
            if isinstance(value := resource.get(key), str) and _URI.match(value.strip())
            and len(value) <= 2048}
    access = urls.get("access_url") or urls.get("url") or urls.get("download_url")
    if not access:
        return None
    dist: dict[str, Any] = {"accessURL": access}
    if "download_url" in urls:
        dist["downloadURL"] = urls["download_url"]
    identifier = _text(resource.get("id"), 512)
    if identifier:
        dist["identifier"] = identifier
    title = _translated(resource.get("name_translated")) or _text(resource.get("name"))
    if title:
        dist["title"] = title
    description = _translated(resource.get("description_translated")) or _text(resource.get("description"))
    if description:
        dist["description"] = description
    fmt = _text(resource.get("format"), 512)
    media = _text(resource.get("mimetype"), 255)
    if media:
        media = media.removeprefix(MEDIA_TYPE_PREFIX).lower()
    if fmt and fmt.startswith(MEDIA_TYPE_PREFIX):
        fmt = fmt.removeprefix(MEDIA_TYPE_PREFIX)
    if fmt and "/" in fmt and MEDIA_TYPE.match(fmt.lower()) and not fmt.startswith("http"):
        media = media or fmt.lower()  # a media type given as the format (CKAN guesses so)
        fmt = fmt.split("/", 1)[1].upper() if fmt.lower().split("/", 1)[1].isalnum() else None
    if fmt:
        dist["format"] = fmt
    if media and MEDIA_TYPE.match(media):
        dist["mediaType"] = media
    compress = resource.get("compress_format")
    if isinstance(compress, str):
        compress = compress.removeprefix(MEDIA_TYPE_PREFIX).lower()
        if MEDIA_TYPE.match(compress):
            dist["compressFormat"] = compress
    size = resource.get("size")
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size.strip())
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        dist["byteSize"] = size
    checksum = resource.get("hash")
    if isinstance(checksum, str):
        algorithm_hint, _, value = checksum.strip().rpartition(":")
        if _HEX.match(value):
            algorithm = str(resource.get("hash_algorithm") or algorithm_hint).rsplit("_", 1)[-1].lower()
            algorithm = algorithm if algorithm in _ALGORITHMS else _CHECKSUM_LENGTHS.get(len(value))
            if algorithm:
                dist["checksum"] = {"algorithm": algorithm, "checksumValue": value.lower()}
    licence = resource.get("license")
    if isinstance(licence, str) and _URI.match(licence) and len(licence) <= 2048:
        dist["license"] = licence
    for key in ("issued", "modified"):
        value = _date(resource.get(key) or (resource.get("created") if key == "issued" else
                                            resource.get("last_modified")))
        if value:
            dist[key] = value
    return dist


def map_package(package: Mapping[str, Any], portal: str) -> tuple[dict[str, Any], list[str]]:
    """A CKAN package as a ``dataset`` document (without ``organisation``), with remarks on
    what was taken as a fallback or dropped. Raises :class:`MappingError` without a title."""
    extras = extras_of(package)
    notes: list[str] = []
    title = _translated(package.get("title_translated")) or _text(package.get("title"))
    if not title:
        raise MappingError("no title: a dataset needs one (CKAN 'title')")
    description = _translated(package.get("notes_translated")) or _text(package.get("notes"))
    if not description:
        description = title
        notes.append("no description (CKAN 'notes') at the source: the title stands in")
    document: dict[str, Any] = {"title": title, "description": description}

    identifier = _text(_field(package, extras, "identifier", "uri", "guid"), 512)
    if not identifier:
        identifier = f"{portal}/dataset/{package_id(package)}"
    document["identifier"] = identifier[:512]

    keywords = list(dict.fromkeys(
        name for tag in package.get("tags") or []
        if isinstance(tag, Mapping) and (name := _text(tag.get("name") or tag.get("display_name"), 200))))
    tags_translated = package.get("tags_translated")
    if isinstance(tags_translated, Mapping):
        translated = {lang: [t[:200] for t in words if isinstance(t, str) and t.strip()][:200]
                      for lang, words in tags_translated.items()
                      if isinstance(lang, str) and _LANG.match(lang) and isinstance(words, list)}
        translated = {lang: words for lang, words in translated.items() if words}
        if translated:
            document["keyword"] = translated
    if "keyword" not in document and keywords:
        document["keyword"] = keywords[:200]

    publisher = next((a for a in map(_agent, _list(_field(package, extras, "publisher"))) if a), None)
    if publisher is None and _text(extras.get("dcat_publisher_name") or extras.get("publisher_name")):
        publisher = _agent({"name": extras.get("dcat_publisher_name") or extras.get("publisher_name"),
                            "url": extras.get("dcat_publisher_url") or extras.get("publisher_url"),
                            "identifier": extras.get("publisher_uri")})
    organisation = package.get("organization")
    if publisher is None and isinstance(organisation, Mapping):
        publisher = _agent({"name": organisation.get("title") or organisation.get("name"),
                            "identifier": organisation.get("name")})
    if publisher:
        document["publisher"] = publisher

    contacts = [c for item in _list(_field(package, extras, "contact")) if isinstance(item, Mapping)
                and (c := _contact(item.get("name"), item.get("email"), item.get("url")))]
    if not contacts:
        for name_key, email_key in (("contact_name", "contact_email"),
                                    ("dcat_contact_name", "dcat_contact_email"),
                                    ("maintainer", "maintainer_email"), ("author", "author_email")):
            contact = _contact(_field(package, extras, name_key), _field(package, extras, email_key))
            if contact:
                contacts = [contact]
                break
    if contacts:
        document["contactPoint"] = contacts[:20]

    themes = []
    for theme in _list(_field(package, extras, "theme")):
        match = THEME.match(theme) if isinstance(theme, str) else None
        if match and match.group(1) not in themes:
            themes.append(match.group(1))
    if themes:
        document["theme"] = themes[:14]
    elif _field(package, extras, "theme"):
        notes.append("themes outside the EU data-theme table dropped")

    licence = _licence(package, extras)
    if licence:
        document["license"] = licence
    elif _field(package, extras, "license_id"):
        notes.append(f"licence {_field(package, extras, 'license_id')!r} has no URI: dropped")

    rights = _field(package, extras, "access_rights")
    match = ACCESS_RIGHT.match(rights) if isinstance(rights, str) else None
    document["accessRights"] = match.group(1) if match else "PUBLIC"

    periods = []
    for item in _list(_field(package, extras, "temporal_coverage")):
        if isinstance(item, Mapping):
            period = {k: v for k, v in (("startDate", _date(item.get("start"))),
                                        ("endDate", _date(item.get("end")))) if v}
            if period:
                periods.append(period)
    if not periods:
        period = {k: v for k, v in (("startDate", _date(_field(package, extras, "temporal_start"))),
                                    ("endDate", _date(_field(package, extras, "temporal_end")))) if v}
        if period:
            periods.append(period)
    if periods:
        document["temporal"] = periods[:20]

    spatial = []
    for item in _list(_field(package, extras, "spatial_coverage")):
        value = item.get("uri") or item.get("text") if isinstance(item, Mapping) else None
        if isinstance(value, str) and value.strip():
            spatial.append(value.strip()[:2048])
    for key in ("spatial_uri", "spatial_text"):
        value = extras.get(key)
        if isinstance(value, str) and value.strip() and value.strip() not in spatial:
            spatial.append(value.strip()[:2048])
    if spatial:
        document["spatial"] = spatial[:100]

    for key, sources in (("issued", ("issued", "dcat_issued", "metadata_created")),
                         ("modified", ("modified", "dcat_modified", "metadata_modified"))):
        value = next((v for name in sources if (v := _date(_field(package, extras, name)))), None)
        if value:
            document[key] = value

    landing = _field(package, extras, "url", "landing_page")
    if isinstance(landing, str) and _HTTP.match(landing) and len(landing) <= 2048:
        document["landingPage"] = landing

    conforms = [c for c in _list(_field(package, extras, "conforms_to"))
                if isinstance(c, str) and _URI.match(c) and len(c) <= 2048]
    if conforms:
        document["conformsTo"] = conforms[:50]
    elif _field(package, extras, "conforms_to"):
        notes.append("conforms_to values that are not URIs dropped")

    distributions = [d for d in (_distribution(r) for r in package.get("resources") or []
                                 if isinstance(r, Mapping)) if d]
    skipped = len(package.get("resources") or []) - len(distributions)
    if skipped:
        notes.append(f"{skipped} resource(s) without a usable URL dropped")
    if distributions:
        document["distribution"] = distributions[:1000]
    return document, notes
