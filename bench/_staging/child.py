"""What runs in a case's own process: our pipeline, the parse-only floor, the verification."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from _common import MIB, REPO


def run_ours(inp: str, out: str, *, fsync: bool) -> dict[str, Any]:
    """Stage ``inp`` into a fresh tier at ``out`` exactly as the service does; runs in a child."""
    sys.path.insert(0, str(REPO))
    import pyarrow  # noqa: F401  (imports before the clock, as the anchors do)
    import pyarrow.csv  # noqa: F401
    import pyarrow.json  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from connector.adapters import adapter_for, get_adapter
    from connector.adapters.base import SourceSpec
    from connector.config import load_config
    from connector.staging.memory import configure_arrow_memory
    from connector.staging.pipeline import stage_batches
    from connector.staging.storage import StorageTier

    get_adapter("file")
    config = load_config()  # the variables set for this variant, read as the service reads them
    configure_arrow_memory(config["ARROW_MEMORY_POOL"])  # as run_job does
    marks: dict[str, float] = {}
    t0 = time.perf_counter()

    def mark(name: str) -> None:  # phase boundaries, through stage_batches' own hooks
        marks.setdefault(name, time.perf_counter() - t0)

    def batches(stream: Any) -> Any:
        yield from stream
        mark("stream")

    def provenance(stream: Any) -> list[dict[str, Any]]:
        mark("parts_closed")  # write_parts returned: last part closed (and fsynced)
        return [
            {"url": f.url, "bytes": f.bytes, "sha256": f.sha256, "finalUrl": f.final_url}
            for f in stream.provenance.files
        ]

    tier = StorageTier.from_url(Path(out).as_uri(), fsync=fsync)
    spec = SourceSpec(inp, csv_threads=config["CSV_PARSE_THREADS"])
    with adapter_for(spec.url, roots=[os.path.dirname(inp)]).read(spec) as stream:
        published = stage_batches(
            batches(stream),
            tier=tier,
            project="bench",
            dataset="staging",
            version="1",
            agreement="urn:uuid:00000000-0000-4000-8000-000000000001",
            policy="urn:uuid:00000000-0000-4000-8000-000000000002",
            provenance=lambda: provenance(stream),
            metadata={"name": "staging benchmark", "description": "bench/staging.py"},
            before_publish=lambda pending: mark("manifest"),
            writer_options={"encode_threads": config["PARQUET_ENCODE_THREADS"]},
        )
    work = time.perf_counter() - t0
    files = published.manifest["files"]
    edges = [0.0, marks["stream"], marks["parts_closed"], marks["manifest"], work]
    phases = dict(
        zip(
            ("stream_s", "close_s", "manifest_s", "publish_s"),
            (round(b - a, 4) for a, b in zip(edges, edges[1:], strict=False)),
            strict=True,
        )
    )
    return {
        "work_s": round(work, 4),
        "rows": published.rows,
        "parts": len(files),
        "out_bytes": published.bytes,
        "path": published.path,
        "phases": phases,
        "sha256": [f["sha256"][:16] for f in files],
    }


def run_parse(inp: str) -> dict[str, Any]:
    """Only parse ``inp`` with pyarrow's streaming reader (1 MiB blocks), as fast as it goes."""
    import pyarrow.csv as pa_csv
    import pyarrow.json as pa_json

    t0 = time.perf_counter()
    if inp.endswith(".jsonl"):
        reader = pa_json.open_json(inp, read_options=pa_json.ReadOptions(block_size=MIB))
    else:
        reader = pa_csv.open_csv(inp, read_options=pa_csv.ReadOptions(block_size=MIB))
    rows = sum(batch.num_rows for batch in reader)
    return {"work_s": round(time.perf_counter() - t0, 4), "rows": rows}


def verify_ours(version_path: str, inp: str, rows: int | None) -> dict[str, Any]:
    """open_dataset(verify=True), the row count and the provenance sha256; runs in a child."""
    sys.path.insert(0, str(REPO))
    import hashlib

    import pyarrow.parquet as pq

    from connector.client import open_dataset, read_manifest

    t0 = time.perf_counter()
    dataset = open_dataset(version_path, verify=True)
    counted = dataset.count_rows()
    manifest = read_manifest(version_path)
    digest = hashlib.sha256()
    with open(inp, "rb", buffering=0) as f:
        while chunk := f.read(8 * MIB):
            digest.update(chunk)
    source = manifest["provenance"][0] if manifest.get("provenance") else {}
    first = os.path.join(version_path, manifest["files"][0]["path"])
    meta = pq.ParquetFile(first).metadata
    problems = []
    if rows is not None and counted != rows:
        problems.append(f"{counted} rows staged, {rows} in the source")
    if source.get("sha256") != digest.hexdigest():
        problems.append("provenance sha256 differs from hashlib over the source")
    if source.get("bytes") != os.path.getsize(inp):
        problems.append("provenance byte count differs from the source size")
    return {
        "ok": not problems,
        "problems": problems,
        "rows": counted,
        "row_groups": sum(
            pq.ParquetFile(os.path.join(version_path, f["path"])).metadata.num_row_groups
            for f in manifest["files"]
        ),
        "codec": meta.row_group(0).column(0).compression if meta.num_row_groups else None,
        "schema": [f"{f.name}:{f.type}" for f in dataset.schema],
        "event_ts_type": str(dataset.schema.field("event_ts").type)
        if "event_ts" in dataset.schema.names
        else None,
        "manifest_keys": sorted(manifest),
        "verify_s": round(time.perf_counter() - t0, 2),
    }
