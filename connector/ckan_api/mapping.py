"""Our normalised DCAT-AP documents as CKAN package dicts (pure; no Flask, no SQLAlchemy).

The shape follows CKAN's ``package_show`` (ckan/logic/schema ``default_show_package_schema``)
with the DCAT-AP properties as ``extras`` under the keys ckanext-dcat uses for its legacy
profile (``identifier``, ``issued``, ``modified``, ``theme``, ``temporal_start``...), so that
CKAN clients and ckanext-dcat harvesters read them where they expect them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from connector.catalog import dcat, quality

#: CKAN's rule for dataset names (``name_validator``): 2-100 of a-z, 0-9, ``-`` and ``_``.
CKAN_NAME = re.compile(r"^[a-z0-9_-]{2,100}$")



@dataclass(frozen=True)
class Organisation:
    """What a CKAN organization dict needs of ours."""

    slug: str
    title: str
    created: dt.datetime | None = None
    package_count: int | None = None


@dataclass(frozen=True)
class Record:
    """One dataset version with the record facts a package dict shows."""

    id: str
    identifier: str
    version: int
    state: str
    created: dt.datetime
    modified: dt.datetime
    document: dict[str, Any]


def package_name(dataset_id: str, identifier: str) -> str:
    """The CKAN name of a dataset: its identifier when that is a valid CKAN name, else its id
    (a UUID, itself a valid name). Both are unique, so ``package_show`` resolves either."""
    return identifier if CKAN_NAME.match(identifier) else dataset_id


def ckan_time(value: dt.datetime | None) -> str | None:
    """CKAN writes timestamps as naive ISO 8601 in UTC (``2024-05-01T12:00:00.123456``)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat()


def group_name(theme: str) -> str:
    return theme.lower()


def theme_code(group: str) -> str:
    """The data-theme code of a CKAN group name (``heal``) or theme URI."""
    return group.removeprefix(dcat.THEME_AUTHORITY).upper()


def organization(org: Organisation) -> dict[str, Any]:
    """A CKAN organization dict; its ``id`` and ``name`` are our organisation slug."""
    body: dict[str, Any] = {
        "id": org.slug, "name": org.slug, "title": org.title, "display_name": org.title,
        "description": "", "image_url": "", "type": "organization", "is_organization": True,
        "state": "active", "approval_status": "approved", "created": ckan_time(org.created),
    }
    if org.package_count is not None:
        body["package_count"] = org.package_count
    return body


def _texts(value: dict[str, str] | None) -> str:
    return dcat.preferred_text(value) if value else ""


def _tags(document: dict[str, Any]) -> list[dict[str, Any]]:
    words = dict.fromkeys(w for ws in (document.get("keyword") or {}).values() for w in ws)
    return [{"name": w, "display_name": w, "state": "active", "vocabulary_id": None} for w in words]


def _resource(record: Record, position: int, dist: dict[str, Any]) -> dict[str, Any]:
    resource_id = dist.get("identifier") or str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"urn:connector:dataset:{record.id}:distribution:{position}"))
    checksum = dist.get("checksum") or {}
    return {
        "id": resource_id,
        "package_id": record.id,
        "position": position,
        "name": _texts(dist.get("title")),
        "description": _texts(dist.get("description")),
        "url": dist.get("downloadURL") or dist["accessURL"],
        "access_url": dist["accessURL"],
        "download_url": dist.get("downloadURL"),
        "format": dist.get("format", ""),
        "mimetype": dist.get("mediaType"),
        "compress_format": dist.get("compressFormat"),
        "size": dist.get("byteSize"),
        "hash": checksum.get("checksumValue", ""),
        "hash_algorithm": checksum.get("algorithm"),
        "license": dist.get("license"),
        "issued": dist.get("issued"),
        "modified": dist.get("modified"),
        "created": ckan_time(record.created),
        "last_modified": dist.get("modified"),
        "state": "active",
        "url_type": None,
        "resource_type": None,
    }


def _extras(document: dict[str, Any], assessment: quality.Assessment) -> list[dict[str, str]]:
    extras: dict[str, Any] = {
        "identifier": document.get("identifier"),
        "issued": document.get("issued"),
        "modified": document.get("modified"),
        "access_rights": dcat.ACCESS_RIGHT_AUTHORITY + document["accessRights"],
        "theme": [dcat.THEME_AUTHORITY + t for t in document.get("theme", [])] or None,
        "conforms_to": document.get("conformsTo"),
        "spatial_uri": (document.get("spatial") or [None])[0],
        "data_space": document.get("dataSpace"),
        "sector": document.get("sector"),
        "quality_score": str(assessment.points),
        "quality_rating": assessment.rating,
    }
    periods = document.get("temporal") or []
    if periods:
        extras["temporal_start"] = periods[0].get("startDate")
        extras["temporal_end"] = periods[0].get("endDate")
    if "publisher" in document:
        extras["publisher_name"] = _texts(document["publisher"]["name"])
        extras["publisher_url"] = document["publisher"].get("homepage")
        extras["publisher_uri"] = document["publisher"].get("identifier")
    contacts = document.get("contactPoint") or []
    if contacts:
        extras["contact_name"] = contacts[0]["fn"]
        extras["contact_email"] = (contacts[0].get("hasEmail") or "").removeprefix("mailto:") or None
        extras["contact_uri"] = contacts[0].get("hasURL")
    # ckanext-dcat stores lists as JSON strings in extras; CKAN extras values are strings.
    return [{"key": k, "value": v if isinstance(v, str) else json.dumps(v)}
            for k, v in extras.items() if v not in (None, "", [])]


def license_fields(document: dict[str, Any]) -> dict[str, Any]:
    """``license_id`` is the EU licence code (``CC_BY_4_0``) or the licence URI itself."""
    uri = document.get("license")
    if not uri:
        return {"license_id": "", "license_title": "", "license_url": ""}
    code = dcat.licence_code(uri)
    return {"license_id": code, "license_title": code, "license_url": uri}


def package(record: Record, org: Organisation) -> dict[str, Any]:
    """The CKAN package dict of one dataset version."""
    doc = record.document
    contacts = doc.get("contactPoint") or []
    publisher = _texts(doc["publisher"]["name"]) if "publisher" in doc else ""
    assessment = quality.assess(doc)
    resources = [_resource(record, i, d) for i, d in enumerate(doc.get("distribution", []))]
    tags = _tags(doc)
    groups = [{"id": group_name(t), "name": group_name(t), "title": dcat.THEME_LABELS.get(t, t),
               "display_name": dcat.THEME_LABELS.get(t, t), "description": "", "image_display_url": ""}
              for t in doc.get("theme", [])]
    return {
        "id": record.id,
        "name": package_name(record.id, record.identifier),
        "title": _texts(doc["title"]),
        "notes": _texts(doc["description"]),
        "url": doc.get("landingPage", ""),
        "version": str(record.version),
        "type": "dataset",
        "state": "active" if record.state == "active" else "deleted",
        "private": doc["accessRights"] != "PUBLIC",
        "isopen": doc["accessRights"] == "PUBLIC" and bool(doc.get("license")),
        "author": publisher,
        "author_email": None,
        "maintainer": contacts[0]["fn"] if contacts else None,
        "maintainer_email": (contacts[0].get("hasEmail") or "").removeprefix("mailto:") or None
        if contacts else None,
        **license_fields(doc),
        "metadata_created": ckan_time(record.created),
        "metadata_modified": ckan_time(record.modified),
        "owner_org": org.slug,
        "organization": organization(org),
        "groups": groups,
        "tags": tags,
        "num_tags": len(tags),
        "resources": resources,
        "num_resources": len(resources),
        "extras": _extras(doc, assessment),
        "relationships_as_object": [],
        "relationships_as_subject": [],
    }
