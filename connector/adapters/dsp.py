"""Data received over a Dataspace Protocol pull transfer: a connector's data endpoint.

The endpoint (``endpoint`` option, from the transfer's data address) serves ``_manifest.json``
and the Parquet parts it lists; every request carries the data address's bearer token
(``authorization`` option) and passes the SSRF guard of the HTTP adapter (``allowlist``: the
participant's host). Each part's bytes must have the size and sha256 the remote manifest
states, or the read fails. The URL of the source (``dsp://negotiation/<id>``) only names it;
the control plane (:func:`connector.dsp.transfer_consumer.source_options`, registered where the
application is assembled) supplies the options.

Besides record batches, the stream exposes the remote manifest (:attr:`DspStream.manifest`)
and each part it lists, read through the same checks (:meth:`DspStream.open_part`), so that
staging (:func:`connector.staging.pipeline.stage_verbatim`) can copy the parts byte for byte
when no duty changes the data.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from connector.adapters.base import Location, Opened, SourceSpec, SourceStream, _Guard, display_url
from connector.adapters.errors import SourceFormatError, TerminalSourceError
from connector.adapters.http import HttpAdapter
from connector.adapters.streams import Budget, Reader
from connector.manifest_read import check_manifest, decode_schema

MAX_MANIFEST_BYTES = 16 * 1024 * 1024


class ChecksumMismatch(TerminalSourceError):
    code, title = "source-checksum-mismatch", "Data source does not match its manifest"


class _Checked(Reader):
    """Reads through ``inner`` and, at its end, checks size and sha256 against the manifest."""

    def __init__(self, inner: Any, entry: Mapping[str, Any], url: str) -> None:
        super().__init__()
        self._inner, self._entry, self._url = inner, entry, url
        self._hash, self._size, self._checked = hashlib.sha256(), 0, False

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self._hash.update(data)
        self._size += len(data)
        if not data and (n is None or n != 0):
            self.verify()
        return data

    def verify(self) -> None:
        if self._checked:
            return
        self._checked = True
        digest = self._hash.hexdigest()
        if self._size != self._entry["bytes"] or digest != self._entry["sha256"]:
            expected = f"{self._entry['bytes']} bytes with {self._entry['sha256']}"
            raise ChecksumMismatch(f"{display_url(self._url)}: {self._size} bytes with sha256 {digest}, "
                                   f"the manifest says {expected}")

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class DspAdapter(HttpAdapter):
    """Reads the published version behind a pull transfer's data address (see the module)."""

    schemes = ("dsp",)

    def __init__(self, *, endpoint: str, authorization: str, **options: Any) -> None:
        super().__init__(**options)
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.headers = {"Authorization": authorization}

    def _check_scheme(self, url: str) -> None:
        if not url.startswith("dsp://"):
            raise TerminalSourceError(f"the dsp adapter reads dsp:// sources, not {display_url(url)}")

    def read(self, spec: SourceSpec | str) -> DspStream:
        if isinstance(spec, str):
            spec = SourceSpec(spec)
        self._check_scheme(spec.url)
        budget = Budget(max_bytes=spec.max_bytes, deadline=spec.deadline, label=display_url(spec.url))
        with _Guard(budget, self.endpoint):
            manifest = self.get_json(self.endpoint + "_manifest.json", spec, budget, limit=MAX_MANIFEST_BYTES,
                                     headers=self.headers)
            try:
                check_manifest(manifest, where=f"{display_url(self.endpoint)}_manifest.json")
                schema = decode_schema(manifest["schema"]["arrow"])
            except (ValueError, KeyError, TypeError) as exc:
                raise SourceFormatError(f"{display_url(self.endpoint)}: unusable manifest: {exc}") from exc
            spec = dataclasses.replace(spec, format="parquet", compression="none", schema=schema, fields=None)
            locations = [Location(self.endpoint + quote(entry["path"]), entry["path"], key=dict(entry),
                                  format_hint="parquet") for entry in manifest["files"]]
            return DspStream(self, spec, locations, budget, manifest)

    def _open(self, spec: SourceSpec, location: Location, budget: Budget, *, probe: bool = False) -> Opened:
        opened = self.open_url(location.url, spec, budget, headers=dict(self.headers))
        opened.stream = _Checked(opened.stream, location.key, location.url)
        opened.name = location.name
        return opened


class DspStream(SourceStream):
    """Batches of the remote parts; :meth:`open_part` reads one part's bytes instead."""

    def __init__(self, adapter: DspAdapter, spec: SourceSpec, locations: list[Location], budget: Budget,
                 manifest: dict[str, Any]) -> None:
        # The batch generator starts (and reads the first part) only when batches are asked
        # for, so a verbatim copy downloads each part once.
        self.manifest = manifest
        self.url, self.schema = spec.url, spec.schema
        self._files, self._complete, self._batches_started = [], False, False
        self._dsp = adapter
        self._dsp_spec, self._dsp_locations, self._dsp_budget = spec, locations, budget

    def _start_batches(self) -> None:
        if not self._batches_started:
            self._batches_started = True
            super().__init__(self._dsp, self._dsp_spec, self._dsp_locations, self._dsp_budget)

    def __next__(self) -> Any:
        self._start_batches()
        return super().__next__()

    def close(self) -> None:
        if self._batches_started:
            super().close()

    @property
    def parts(self) -> list[Location]:
        """The parts the remote manifest lists, in its order (``key``: the manifest's entry)."""
        return list(self._dsp_locations)

    @contextmanager
    def open_part(self, part: Location) -> Iterator[Opened]:
        """The bytes of one of :attr:`parts`, checked at their end against the size and sha256
        the remote manifest states; failures inside the block are reported as source errors."""
        with _Guard(self._dsp_budget, self._dsp.endpoint):
            opened = self._dsp._open(self._dsp_spec, part, self._dsp_budget)
            with opened.stream:
                yield opened
