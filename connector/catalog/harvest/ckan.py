"""The CKAN harvester: ``package_search`` pages mapped to dataset documents.

Reads ``<portal>/api/3/action/package_search`` (CKAN Action API) in pages of ``rows`` (at most
1000, CKAN's own cap) with ``start``, sorted by ``id`` so that edits during the harvest do not
shift records between pages. Incremental runs (``since`` set) ask first for the packages with
``metadata_modified:[since TO *]`` and then list every id cheaply (``fl=id``): ids not in the
first pass are yielded ``seen_only``, so the service keeps them and still detects deletions.
Each package is mapped by :mod:`ckan_map`; a package that cannot be mapped fails its record only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

from connector.catalog.harvest.ckan_map import MappingError, map_package, package_id
from connector.catalog.harvest.records import (
    Fetch,
    HarvestSourceSpec,
    PageError,
    RemoteRecord,
    change_stamp,
)

MAX_ROWS = 1000


class CkanHarvester:
    """Harvests a CKAN portal (kind ``ckan``). Options: ``rows`` (1-1000), ``fq`` (a Solr
    filter the portal applies, e.g. ``organization:health``)."""

    kind = "ckan"

    def harvest(self, source: HarvestSourceSpec, fetch: Fetch) -> Iterator[RemoteRecord]:
        portal = source.url.rstrip("/")
        rows = max(1, min(int(source.options.get("rows", MAX_ROWS)), MAX_ROWS))
        user_fq = str(source.options.get("fq") or "").strip()
        if not source.since:
            for package in _pages(fetch, portal, rows, user_fq):
                yield package_record(package, portal)
            return
        modified = set()
        since_fq = f"metadata_modified:[{solr_date(source.since)} TO *]"
        for package in _pages(fetch, portal, rows, f"{user_fq} {since_fq}".strip()):
            record = package_record(package, portal)
            modified.add(record.remote_id)
            yield record
        for package in _pages(fetch, portal, rows, user_fq, fields="id"):
            remote_id = package_id(package)
            if remote_id and remote_id not in modified:
                yield RemoteRecord(remote_id=remote_id, seen_only=True)


def solr_date(stamp: str) -> str:
    """A CKAN stamp (``2024-05-05T09:33:20.123456``) as a Solr date, cut to the second (the
    range then includes the stamp's own second: those records come again, unchanged)."""
    match = re.match(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2}))?", stamp)
    if not match:
        raise PageError(f"cannot use {stamp!r} as a metadata_modified stamp")
    return f"{match.group(1)}T{match.group(2) or '00:00:00'}Z"


def _pages(fetch: Fetch, portal: str, rows: int, fq: str, fields: str | None = None
           ) -> Iterator[dict[str, Any]]:
    start, previous_first = 0, None
    while True:
        params = {"q": "*:*", "sort": "id asc", "rows": rows, "start": start}
        if fq:
            params["fq"] = fq
        if fields:
            params["fl"] = fields
        url = f"{portal}/api/3/action/package_search?{urlencode(params)}"
        result = _result(fetch(url, headers={"Accept": "application/json"}), url)
        packages = result["results"]
        if not packages:
            return
        first = package_id(packages[0]) if isinstance(packages[0], Mapping) else None
        if start and first is not None and first == previous_first:
            raise PageError(f"{url}: the portal answered the previous page again (is 'start' ignored?)")
        previous_first = first
        for package in packages:
            if isinstance(package, Mapping):
                yield dict(package)
        start += len(packages)
        count = result.get("count")
        if isinstance(count, int) and start >= count:
            return


def _result(fetched: Any, url: str) -> dict[str, Any]:
    """The ``result`` of a ``package_search`` answer; :class:`PageError` for anything else."""
    body, media = fetched.body, fetched.media_type or "no media type"
    head = body[:512].lstrip().lower()
    if media in ("text/html", "application/xhtml+xml") or head.startswith((b"<!doctype", b"<html")):
        raise PageError(f"{url}: not JSON ({media})")
    try:
        answer = json.loads(body)
    except UnicodeDecodeError as exc:
        raise PageError(f"{url}: not UTF-8 JSON ({media}): {exc.reason}") from exc
    except ValueError as exc:
        what = "truncated JSON" if exc.msg.startswith(("Expecting", "Unterminated")) and \
            exc.pos >= len(body.rstrip()) - 1 else "not JSON"
        raise PageError(f"{url}: {what} ({media}): {exc.msg} at line {exc.lineno} column {exc.colno}"
                        ) from exc
    if not isinstance(answer, dict) or "success" not in answer:
        raise PageError(f"{url}: not a CKAN Action API answer (no 'success')")
    if answer["success"] is not True:
        error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        message = error.get("message") or error.get("__type") or "no message"
        raise PageError(f"{url}: CKAN reported an error: {' '.join(str(message).split())}")
    result = answer.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("results"), list):
        raise PageError(f"{url}: not a package_search result (no 'results' list)")
    return result


def package_record(package: dict[str, Any], portal: str) -> RemoteRecord:
    """One package as a :class:`RemoteRecord` (mapped, or failed with the reason)."""
    remote_id = package_id(package)
    modified, stamp_note = change_stamp(package.get("metadata_modified"))
    if remote_id is None:
        return RemoteRecord(remote_id="(unknown)", error="not a CKAN package: no 'id' or 'name'",
                            modified=modified)
    try:
        document, notes = map_package(package, portal)
    except MappingError as exc:
        return RemoteRecord(remote_id=remote_id, error=str(exc), modified=modified)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # odd shapes: fail the record only
        return RemoteRecord(remote_id=remote_id, error=f"cannot map the package: {type(exc).__name__}: {exc}",
                            modified=modified)
    return RemoteRecord(remote_id=remote_id, document=document, modified=modified,
                        note="; ".join([*notes, *filter(None, [stamp_note])]) or None)
