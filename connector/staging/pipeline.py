"""Stage a stream of record batches as one published version: the staging hot path.

:func:`stage_batches` applies the duties, writes the parts under a temporary prefix, builds the
manifest and ``croissant.json``, and publishes in one step. Any exception, at any point, aborts:
the temporary prefix is removed and no version becomes visible. A process killed outright leaves
only a temporary prefix, which readers never see and :meth:`StorageTier.collect_garbage` removes.

:func:`stage_verbatim` publishes the Parquet parts of a version another connector published
(a Dataspace Protocol transfer) byte for byte, keeping their checksums, when no duty applies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import posixpath
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from connector.staging.croissant import build_croissant
from connector.staging.duties import BoundDuties, Duty, DutyPlan
from connector.staging.errors import QuotaExceeded, StagingError
from connector.staging.manifest import (
    build_manifest,
    encode_manifest,
    prepare_manifest_validation,
    validate_manifest,
)
from connector.staging.sink import HashingFile
from connector.staging.storage import PendingVersion, StorageTier, utcnow
from connector.staging.writer import PartInfo, WriteProgress, write_parts

if TYPE_CHECKING:
    from connector.adapters.dsp import DspStream

log = logging.getLogger(__name__)

Provenance = Iterable[Mapping[str, Any]] | Callable[[], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class PublishedVersion:
    """A published version: where it is and its manifest."""

    url: str
    path: str
    manifest: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    @property
    def bytes(self) -> int:
        return int(self.manifest["bytes"])

    @property
    def files(self) -> list[str]:
        return [f["path"] for f in self.manifest["files"]]


def stage_batches(
    batches: Iterable[pa.RecordBatch],
    *,
    tier: StorageTier,
    project: str,
    dataset: str,
    version: str,
    agreement: str,
    policy: str,
    provenance: Provenance,
    duties: Sequence[Duty | Mapping[str, Any]] = (),
    secret: bytes | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    expires: datetime | None = None,
    dataset_id: str | None = None,
    job: str | None = None,
    schema: pa.Schema | None = None,
    max_bytes: int | None = None,
    writer_options: Mapping[str, Any] | None = None,
    on_progress: Callable[[WriteProgress], None] | None = None,
    before_publish: Callable[[PendingVersion], None] | None = None,
    now: datetime | None = None,
) -> PublishedVersion:
    """Write ``batches`` to ``tier`` as ``<project>/<dataset>/<version>`` and publish it.

    ``duties`` (drop / pseudonymise) are applied on the way; ``secret`` is the service secret
    the project's pseudonymisation key is derived from. ``schema`` fixes the *input* schema
    (otherwise the first batch does). ``provenance`` lists the sources read
    (``{url, bytes, sha256, finalUrl}``); it is read after the last batch, so an adapter may fill
    it while streaming, or pass a callable. ``max_bytes`` bounds the bytes written
    (:class:`QuotaExceeded`); ``on_progress`` is called after each row group and may raise to
    stop. ``before_publish`` runs after everything is written, just before the publish step.
    ``metadata`` (name, description, license, citation, url, creator, ...) goes into Croissant.
    """
    created = now or utcnow()
    if expires is not None and expires <= created:
        raise StagingError(f"the agreement expired at {expires.isoformat()}; nothing staged")
    plan = DutyPlan(duties, project=project, secret=secret)
    options = dict(writer_options or {})
    bound: list[BoundDuties] = [plan.bind(schema)] if schema is not None else []

    def with_duties() -> Iterable[pa.RecordBatch]:
        for batch in batches:
            if not bound:
                bound.append(plan.bind(batch.schema))
            yield bound[0](batch)

    def progress(state: WriteProgress) -> None:
        if max_bytes is not None and state.bytes > max_bytes:
            raise QuotaExceeded(f"staging {project}/{dataset}/{version} would exceed the quota: "
                                f"{state.bytes} bytes written, {max_bytes} allowed")
        if on_progress is not None:
            on_progress(state)

    # The manifest's validators are built while the data streams, not after it (a fresh
    # process pays about 0.2 s for them); a failure here is raised again by validate_manifest.
    warm = threading.Thread(target=_prepare_quietly, name="connector-manifest-schema", daemon=True)
    warm.start()
    pending = tier.begin(project, dataset, version, now=created)
    try:
        result = write_parts(with_duties(), pending.path, filesystem=tier.fs,
                             schema=bound[0].schema if bound else None,
                             fsync=tier.fsync, block_size=tier.block_size, on_row_group=progress,
                             **options)
        sources = provenance() if callable(provenance) else provenance
        manifest = build_manifest(
            project=project, dataset=dataset, version=version, schema=result.schema,
            parts=result.parts, provenance=list(sources), agreement=agreement, policy=policy,
            duties=plan.describe(), created=created, expires=expires, dataset_id=dataset_id,
            job=job, attempt=pending.token, compression=str(options.get("compression", "zstd")))
        warm.join()
        path = _publish(pending, manifest, metadata, result.parts, before_publish)
    except BaseException:
        try:
            pending.abort()
        except Exception:  # noqa: BLE001  (the first error matters; GC removes what is left)
            log.warning("could not remove %s after a failed staging", pending.path, exc_info=True)
        raise
    return PublishedVersion(tier.fs.unstrip_protocol(path), path, manifest)


COPY_CHUNK = 1 << 20


def stage_verbatim(
    source: DspStream, *, tier: StorageTier, project: str, dataset: str, version: str, agreement: str,
    policy: str, metadata: Mapping[str, Any] | None = None, expires: datetime | None = None,
    dataset_id: str | None = None, job: str | None = None, max_bytes: int | None = None,
    on_progress: Callable[[WriteProgress], None] | None = None,
    before_publish: Callable[[PendingVersion], None] | None = None, now: datetime | None = None,
    **_unused: Any,
) -> PublishedVersion:
    """Publish the remote parts of ``source`` unchanged as ``<project>/<dataset>/<version>`` on
    ``tier`` (the arguments of :func:`stage_batches`; no duties apply). Every part is checked
    against the remote manifest (size, sha256, rows); any failure publishes nothing."""
    from connector.adapters.base import display_url
    from connector.adapters.dsp import ChecksumMismatch

    created = now or utcnow()
    pending = tier.begin(project, dataset, version, now=created)
    parts: list[PartInfo] = []
    sources: list[dict[str, Any]] = []
    try:
        for location in source.parts:
            entry = location.key
            target = posixpath.join(pending.path, entry["path"])
            with source.open_part(location) as opened:
                sink = HashingFile(tier.fs.open(target, "wb"), fsync=tier.fsync)
                try:
                    _copy(opened.stream, sink)
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
                on_progress(WriteProgress(rows=sum(p.rows for p in parts), bytes=written, parts=len(parts),
                                          row_groups=sum(p.row_groups for p in parts)))
        manifest = build_manifest(
            project=project, dataset=dataset, version=version, schema=source.schema, parts=parts,
            provenance=sources, agreement=agreement, policy=policy, duties=[], created=created,
            expires=expires, dataset_id=dataset_id, job=job, attempt=pending.token,
            compression=str(source.manifest.get("compression", "zstd")))
        path = _publish(pending, manifest, metadata, parts, before_publish)
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


def _prepare_quietly() -> None:
    with contextlib.suppress(Exception):
        prepare_manifest_validation()


def _publish(pending: PendingVersion, manifest: dict[str, Any], metadata: Any, parts: Sequence[Any],
             before_publish: Callable[[Any], None] | None) -> str:
    """The one publish step of both paths: the manifest checked, its Croissant description
    built, then the parts, ``_manifest.json`` and ``croissant.json`` made visible at once."""
    validate_manifest(manifest)
    croissant = build_croissant(manifest, metadata)
    if before_publish is not None:
        before_publish(pending)
    return pending.publish(manifest=encode_manifest(manifest),
                           croissant=json.dumps(croissant, indent=2).encode("utf-8"),
                           files=[p.name for p in parts])
