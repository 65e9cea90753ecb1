"""What a harvester hands to the harvest service, and how it reads its source.

A harvester is a generator of :class:`RemoteRecord` for one source. It reads through a
:data:`Fetch` callable that the service gives it (which applies the source-safety rules,
timeouts and size limits), so harvesters never open connections themselves and can be
tested on recorded pages. A page that cannot be read or parsed raises :class:`PageError`:
the run stops there, keeps what it imported, and withdraws nothing (the listing was not
complete). A record that cannot be mapped is yielded with ``error`` set: that record fails,
the run goes on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

#: An ISO 8601 date, or date and time with or without an offset.
DATE_OR_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}"
                          r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


@dataclass(frozen=True)
class Fetched:
    """One answer of the source: the final URL (after redirects), the body, its media type."""

    url: str
    body: bytes
    media_type: str | None = None


#: ``fetch(url, headers=None) -> Fetched``; raises :class:`PageError` with the reason
#: (refused address, timeout, HTTP status, too large).
Fetch = Callable[..., Fetched]


class PageError(Exception):
    """A page of the source could not be read or parsed; the run stops with this reason."""


@dataclass(frozen=True)
class RemoteRecord:
    """One dataset as the source lists it.

    ``remote_id`` is stable at the source (CKAN package id, DCAT dataset URI). ``document``
    is a dataset document in the shape of ``schemas/dataset.schema.json`` (without
    ``organisation``), or None when ``error`` says why the record could not be mapped, or
    when ``seen_only``: the source lists the record as present and unchanged since the last
    run (incremental harvests), so the service keeps it and withdraws nothing.
    ``modified`` is the source's change stamp (CKAN ``metadata_modified``), if it has one.
    ``note`` is a remark on a mapped record the run reports with its outcome (a fallback the
    mapper took, a value it dropped).
    """

    remote_id: str
    document: dict[str, Any] | None = None
    error: str | None = None
    modified: str | None = None
    seen_only: bool = False
    note: str | None = None


@dataclass(frozen=True)
class HarvestSourceSpec:
    """A harvest source as a harvester needs it: plain values, no database rows.

    ``since`` is the newest ``modified`` stamp of the last complete run (None: harvest all).
    ``options`` are the kind's own settings (CKAN: ``rows``, ``fq``; DCAT: ``format``).
    """

    url: str
    kind: str
    since: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class Harvester(Protocol):
    """Reads one kind of source (``ckan``, ``dcat``)."""

    kind: str

    def harvest(self, source: HarvestSourceSpec, fetch: Fetch) -> Iterator[RemoteRecord]:
        """Every record of ``source``; raises :class:`PageError` when a page fails."""
        ...


def change_stamp(value: Any) -> tuple[str | None, str | None]:
    """A change stamp (CKAN ``metadata_modified``, ISO 8601 with or without an offset) and a
    note: ``(stamp, None)`` with the stamp in CKAN's own form, UTC to the microsecond
    (``2024-05-05T09:33:20.123456``), so that stamps compare as strings and fit the 64
    characters of their columns; ``(None, note)`` for anything else; ``(None, None)`` for None."""
    if value is None:
        return None, None
    if isinstance(value, str) and len(value) <= 64 and DATE_OR_TIME.match(value.strip()):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
            return parsed.isoformat(timespec="microseconds"), None
        except (ValueError, OverflowError):
            pass
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return None, f"change stamp {shown} is not a timestamp: ignored (only a full run reads the record again)"
