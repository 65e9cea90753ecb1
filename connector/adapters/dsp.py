"""Data received over a Dataspace Protocol pull transfer: a connector's data endpoint.

The endpoint (``endpoint`` option, from the transfer's data address) serves ``_manifest.json``
and the Parquet parts it lists; every request carries the data address's bearer token
(``authorization`` option) and passes the SSRF guard of the HTTP adapter (``allowlist``: the
participant's host). Each part's bytes must have the size and sha256 the remote manifest
states, or the read fails. The URL of the source (``dsp://negotiation/<id>``) only names it;
the control plane (:func:`connector.dsp.transfer_consumer.source_options`) supplies the options.

Besides record batches, the stream offers :meth:`DspStream.stage_verbatim`: the remote parts
copied byte for byte into a version of our tier (same checksums), for use when no duty
changes the data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pyarrow.parquet as pq

from connector.adapters.base import Location, Opened, SourceSpec, SourceStream, _Guard, display_url
from connector.adapters.errors import SourceFormatError, TerminalSourceError
from connector.adapters.http import HttpAdapter
from connector.adapters.streams import Budget, Reader

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
COPY_CHUNK = 1 << 20


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
            from connector.staging.manifest import check_manifest, decode_schema

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
    """Batches of the remote parts; :meth:`stage_verbatim` copies them instead."""

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

    def stage_verbatim(self, *, tier: Any, project: str, dataset: str, version: str, agreement: str,
                       policy: str, metadata: Mapping[str, Any] | None = None,
                       expires: datetime | None = None,
                       dataset_id: str | None = None, job: str | None = None, max_bytes: int | None = None,
                       on_progress: Callable[[Any], None] | None = None,
                       before_publish: Callable[[Any], None] | None = None, now: datetime | None = None,
                       **_unused: Any) -> Any:
        """Publish the remote parts unchanged as ``<project>/<dataset>/<version>`` on ``tier``
        (the arguments of :func:`connector.staging.pipeline.stage_batches`; no duties apply).
        Every part is checked against the remote manifest; any failure publishes nothing."""
        from connector.staging.croissant import build_croissant
        from connector.staging.errors import QuotaExceeded
        from connector.staging.manifest import build_manifest, encode_manifest, validate_manifest
        from connector.staging.pipeline import PublishedVersion
        from connector.staging.sink import HashingFile
        from connector.staging.storage import utcnow
        from connector.staging.writer import PartInfo, WriteProgress

        created = now or utcnow()
        pending = tier.begin(project, dataset, version, now=created)
        parts: list[PartInfo] = []
        sources: list[dict[str, Any]] = []
        try:
            with _Guard(self._dsp_budget, self._dsp.endpoint):
                for location in self._dsp_locations:
                    entry = location.key
                    target = posixpath.join(pending.path, entry["path"])
                    opened = self._dsp._open(self._dsp_spec, location, self._dsp_budget)
                    with opened.stream as source:
                        sink = HashingFile(tier.fs.open(target, "wb"), fsync=tier.fsync)
                        try:
                            _copy(source, sink)
                        except BaseException:
                            sink.discard()
                            raise
                        sink.close()
                    with tier.fs.open(target, "rb") as handle:
                        footer = pq.ParquetFile(handle).metadata
                    if footer.num_rows != entry["rows"]:
                        raise ChecksumMismatch(f"{display_url(location.url)}: {footer.num_rows} rows, "
                                               f"the manifest says {entry['rows']}")
                    parts.append(PartInfo(entry["path"], target, footer.num_rows, sink.size,
                                          sink.hash.hexdigest(), footer.num_row_groups))
                    sources.append({"url": location.url, "bytes": sink.size, "sha256": sink.hash.hexdigest(),
                                    "finalUrl": opened.final_url})
                    written = sum(p.bytes for p in parts)
                    if max_bytes is not None and written > max_bytes:
                        raise QuotaExceeded(f"staging {project}/{dataset}/{version} would exceed the quota: "
                                            f"{written} bytes written, {max_bytes} allowed")
                    if on_progress is not None:
                        on_progress(WriteProgress(
                            rows=sum(p.rows for p in parts), bytes=written, parts=len(parts),
                            row_groups=sum(p.row_groups for p in parts)))
            manifest = build_manifest(
                project=project, dataset=dataset, version=version, schema=self.schema, parts=parts,
                provenance=sources, agreement=agreement, policy=policy, duties=[], created=created,
                expires=expires, dataset_id=dataset_id, job=job, attempt=pending.token,
                compression=str(self.manifest.get("compression", "zstd")))
            validate_manifest(manifest)
            croissant = build_croissant(manifest, metadata)
            if before_publish is not None:
                before_publish(pending)
            path = pending.publish(manifest=encode_manifest(manifest),
                                   croissant=json.dumps(croissant, indent=2).encode("utf-8"),
                                   files=[p.name for p in parts])
        except BaseException:
            pending.abort()
            raise
        return PublishedVersion(tier.fs.unstrip_protocol(path), path, manifest)


def _copy(source: Any, sink: Any) -> None:
    while True:
        chunk = source.read(COPY_CHUNK)
        if not chunk:
            return
        sink.write(chunk)

