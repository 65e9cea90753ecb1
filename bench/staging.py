#!/usr/bin/env python
"""Staging benchmark (issue 4, item 10): CSV and JSON Lines to Parquet, end to end, beside anchors.

One run generates (or reuses, cached under ``--data``) a 1 GiB and a 4 GiB CSV and a 512 MiB
JSON Lines file with the anchors' generator (``../shared/bench-anchors/gen_data.py``, seed 42:
ints, floats, timestamps, strings, nulls), then stages each file

* through **our real code path**: ``adapter_for(path, roots=[...]).read(SourceSpec(path))``
  (``LocalAdapter`` with allowed roots, sha256 of the source bytes for provenance) into
  ``connector.staging.pipeline.stage_batches`` on a ``file://`` ``StorageTier`` under ``--work``
  (streaming Parquet zstd via ``write_parts``, sha256 of every part inline, manifest validated
  against its JSON Schema, ``croissant.json``, fsync and atomic rename on publish: the tier's
  defaults, as the service runs it); ``connector_nofsync`` is the same with ``fsync=False``,
  ``connector_serial`` with the serial CSV reader and ``connector_one_encoder`` with one Parquet
  encoding thread (the writer before parts were encoded in parallel);
* and, side by side on the same file, the anchors of research/performance.md, run unchanged
  from ``../shared/bench-anchors/cases.py``: bare pyarrow streaming (``open_csv`` into
  ``ParquetWriter``, zstd), the tuned pyarrow pipeline (with and without inline sha256), DuckDB
  ``COPY ... TO parquet`` (defaults, and ``preserve_insertion_order=false``), polars
  ``sink_parquet`` and pandas (``read_csv(chunksize)`` into ``ParquetWriter`` zstd for CSV,
  ``read_json(lines=True)`` for JSON Lines);
* and, as a floor rather than an anchor, pyarrow's streaming reader alone (``open_csv`` /
  ``open_json`` iterated, nothing written): no pipeline built on it can be faster.

Every run is its own process under GNU time (peak RSS = its ``%M``); the time compared is the
work inside the process (reading, writing, closing; imports excluded), as the anchors measure
it; process wall time is recorded too. The input is read once with ``cat`` before every run
(warm page cache) and the previous output is removed and ``sync``ed, untimed. Repetitions run
round-robin over the cases. Before each repetition the script waits (``--quiet-wait`` seconds
at most over the whole run) until other processes use less than ``--quiet-cpus`` CPUs, and it
records the CPU other processes used during every run. The first run of our pipeline on each file is verified
afterwards: ``connector.client.open_dataset(verify=True)`` (manifest, sizes, sha256 of every
part), the row count, and the provenance sha256 against ``hashlib`` over the source.

Output: a table per file (medians, ratios ours / best anchor and ours / bare pyarrow), the
targets of issue 4 (wall time at most 1.1x the best anchor on the same file; peak RSS under
300 MiB and within 15% between the smallest and largest CSV), JSON under ``bench/results/``
and the section between ``<!-- staging:begin -->`` and ``<!-- staging:end -->`` of
``docs/benchmarks.md``.

    .venv/bin/python bench/staging.py                                   # full run, ~30 min
    .venv/bin/python bench/staging.py --csv-mib 64,256 --jsonl-mib 32 --reps 1 --no-docs  # smoke

Needs duckdb, polars, pandas and psutil beside the connector (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ANCHORS = REPO.parent / "shared" / "bench-anchors"
RESULTS_DIR = REPO / "bench" / "results"
DOCS_PATH = REPO / "docs" / "benchmarks.md"
SCRATCH = os.path.join(tempfile.gettempdir(), "connector-bench-staging")
MARK_BEGIN = "<!-- staging:begin -->"
MARK_END = "<!-- staging:end -->"
MIB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
RSS_LIMIT_MIB = 300.0
RSS_FLAT = 0.15
WALL_TARGET = 1.10

OURS = "connector"
BARE = {"csv": "pa_csv_stream_zstd", "jsonl": "pa_json_stream_zstd"}
TUNED = {"csv": "pa_csv_stream_zstd_tuned", "jsonl": "pa_json_stream_zstd_tuned"}
FLOOR = "parse_only_floor"

# (name, kind, runner, key, description). runner "ours:<fsync>" runs our pipeline in this file,
# "floor:parse" only parses the input with pyarrow's streaming reader and writes nothing (the
# floor of every pipeline built on it; not an anchor); any other runner is a case of the anchors'
# cases.py. Cases that are not ``key`` run only ``--large-reps`` times on CSV files above 1 GiB
# (they are slow and only anchor the picture).
CASES: list[tuple[str, str, str, bool, str]] = [
    (
        OURS,
        "csv",
        "ours:fsync",
        True,
        "ours: LocalAdapter (source sha256) -> stage_batches -> file:// tier "
        "(fsync, part sha256, manifest, croissant, rename)",
    ),
    ("connector_nofsync", "csv", "ours:nofsync", False, "ours, tier with fsync=False"),
    (
        "connector_serial",
        "csv",
        "ours:serial",
        False,
        "ours with the serial CSV reader (CONNECTOR_CSV_PARSE_THREADS=1), the path before parallel parsing",
    ),
    (
        "connector_one_encoder",
        "csv",
        "ours:one_encoder",
        False,
        "ours with one Parquet encoding thread (CONNECTOR_PARQUET_ENCODE_THREADS=1), the writer before "
        "parallel encoding",
    ),
    (
        FLOOR,
        "csv",
        "floor:parse",
        False,
        "floor, not an anchor: pyarrow open_csv(path) (1 MiB blocks) iterated, nothing written",
    ),
    (
        "pa_csv_stream_zstd",
        "csv",
        "pa_csv_stream_zstd",
        False,
        "bare pyarrow: open_csv (1 MiB blocks) -> ParquetWriter zstd, 128k-row groups",
    ),
    (
        "pa_csv_stream_zstd_tuned",
        "csv",
        "pa_csv_stream_zstd_tuned",
        True,
        "tuned pyarrow: + parse/encode in two threads, dictionary for strings only",
    ),
    (
        "pa_csv_stream_zstd_tuned_sha256",
        "csv",
        "pa_csv_stream_zstd_tuned_sha256",
        True,
        "tuned pyarrow + inline sha256 of the Parquet written",
    ),
    (
        "duckdb_csv_zstd",
        "csv",
        "duckdb_csv_zstd",
        False,
        "DuckDB COPY read_csv_auto TO parquet zstd, threads=2",
    ),
    (
        "duckdb_csv_zstd_noorder",
        "csv",
        "duckdb_csv_zstd_noorder",
        True,
        "the same with preserve_insertion_order=false",
    ),
    (
        "polars_csv_zstd",
        "csv",
        "polars_csv_zstd",
        False,
        "polars scan_csv(try_parse_dates) -> sink_parquet zstd",
    ),
    (
        "pandas_csv_chunked",
        "csv",
        "pandas_csv_chunked",
        False,
        "pandas read_csv(chunksize=500k) -> ParquetWriter zstd (event_ts stays text)",
    ),
    (OURS, "jsonl", "ours:fsync", True, "ours, as for CSV"),
    ("connector_nofsync", "jsonl", "ours:nofsync", True, "ours, tier with fsync=False"),
    (
        FLOOR,
        "jsonl",
        "floor:parse",
        True,
        "floor, not an anchor: pyarrow open_json(path) (1 MiB blocks) iterated, nothing written",
    ),
    (
        "pa_json_stream_zstd",
        "jsonl",
        "pa_json_stream_zstd",
        True,
        "bare pyarrow: open_json (1 MiB blocks) -> ParquetWriter zstd, 128k-row groups",
    ),
    (
        "pa_json_stream_zstd_tuned",
        "jsonl",
        "pa_json_stream_zstd_tuned",
        True,
        "tuned pyarrow: two threads, dictionary for strings only",
    ),
    (
        "duckdb_json_zstd",
        "jsonl",
        "duckdb_json_zstd",
        True,
        "DuckDB COPY read_json_auto TO parquet zstd, threads=2",
    ),
    ("polars_json_zstd", "jsonl", "polars_json_zstd", True, "polars scan_ndjson -> sink_parquet zstd"),
    (
        "pandas_json_naive",
        "jsonl",
        "pandas_json_naive",
        True,
        "pandas read_json(lines=True) + to_parquet (snappy; loads everything)",
    ),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- our case (child)


def run_ours(inp: str, out: str, *, fsync: bool) -> dict[str, Any]:
    """Stage ``inp`` into a fresh tier at ``out`` exactly as the service does; runs in a child."""
    sys.path.insert(0, str(REPO))
    import pyarrow  # noqa: F401  (imports before the clock, as the anchors do)
    import pyarrow.csv  # noqa: F401
    import pyarrow.json  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from connector.adapters import adapter_for, get_adapter
    from connector.adapters.base import SourceSpec
    from connector.staging.memory import configure_arrow_memory
    from connector.staging.pipeline import stage_batches
    from connector.staging.storage import StorageTier

    get_adapter("file")
    configure_arrow_memory(os.environ.get("CONNECTOR_ARROW_MEMORY_POOL", "jemalloc"))  # as run_job does
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
    spec = SourceSpec(inp)
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


# --------------------------------------------------------------------------- machine


def cpu_busy_seconds() -> float:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def other_processes(seconds: float = 3.0) -> tuple[float, list[tuple[str, float]]]:
    """CPUs used by processes outside this process tree over ``seconds``, and the top ones."""
    import psutil

    me = psutil.Process()
    mine = {me.pid} | {p.pid for p in me.children(recursive=True)}
    procs = {}
    for p in psutil.process_iter(["pid"]):
        if p.pid in mine:
            continue
        try:
            procs[p.pid] = (p, p.cpu_times())
        except psutil.Error:
            pass
    time.sleep(seconds)
    used = []
    for p, before in procs.values():
        try:
            after = p.cpu_times()
            name = " ".join(p.cmdline()[:3])[:80] or p.name()
        except psutil.Error:
            continue
        delta = (after.user + after.system) - (before.user + before.system)
        if delta > 0:
            used.append((name, delta / seconds))
    used.sort(key=lambda x: -x[1])
    return round(sum(u for _, u in used), 2), [(n, round(u, 2)) for n, u in used[:3]]


def wait_quiet(args: argparse.Namespace, label: str) -> dict[str, Any]:
    """Wait until other processes use at most ``--quiet-cpus``; ``--quiet-wait`` is the budget
    for the whole run (``args.quiet_left``), so a machine that stays busy costs it only once."""
    started = time.monotonic()
    last = -1e9
    while True:
        others, top = other_processes()
        waited = time.monotonic() - started if last > -1e9 else 0.0
        if others <= args.quiet_cpus:
            args.quiet_left -= waited
            return {"quiet": True, "waited_s": round(waited), "other_cpus": others, "top": top}
        if waited >= args.quiet_left:
            args.quiet_left = 0.0
            log(
                f"{label}: still busy after {waited:.0f} s (others use {others} CPUs: {top}); "
                "measuring anyway"
            )
            return {"quiet": False, "waited_s": round(waited), "other_cpus": others, "top": top}
        if waited - last >= 60:
            last = waited
            log(f"{label}: waiting for a quiet machine (others use {others} CPUs: {top})")
        time.sleep(args.quiet_poll)


def machine_facts() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
        facts["cpu"] = re.search(r"model name\s*:\s*(.*)", cpuinfo).group(1).strip()
        flags = re.search(r"flags\s*:\s*(.*)", cpuinfo).group(1).split()
        facts["sha_ni"] = "sha_ni" in flags
        with open("/proc/meminfo") as f:
            facts["mem_gib"] = round(int(re.search(r"MemTotal:\s*(\d+)", f.read()).group(1)) / (1 << 20), 1)
    except (OSError, AttributeError):
        pass
    for pkg in ("pyarrow", "duckdb", "polars", "pandas", "numpy", "fsspec", "psutil"):
        try:
            facts[pkg] = version(pkg)
        except PackageNotFoundError:
            facts[pkg] = None
    try:
        import pyarrow as pa

        facts["arrow_memory_pool"] = pa.default_memory_pool().backend_name
        facts["arrow_cpu_count"] = pa.cpu_count()
    except ImportError:
        pass
    try:
        fs = (
            subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True, text=True)
            .stdout.splitlines()[-1]
            .split()
        )
        facts["tmp_fs"] = f"{fs[1]} on {fs[0]}"
    except (OSError, IndexError):
        pass
    return facts


def git_state() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout

    changed = [
        line[3:]  # "XY path": two status letters (either may be a space) and a space
        for line in git("status", "--porcelain").splitlines()
        if line[3:].startswith(("connector/", "bench/staging.py"))
    ]
    return {"commit": git("rev-parse", "HEAD").strip()[:12], "changed": changed}


# --------------------------------------------------------------------------- data


def ensure_data(args: argparse.Namespace, kind: str, mib: int) -> dict[str, Any]:
    """Path, size and rows of the generated file, made with the anchors' gen_data.py if missing."""
    name = "data.csv" if kind == "csv" else "data.jsonl"
    folder = Path(args.data) / f"{kind}-{mib}m"
    path, meta_path = folder / name, folder / "meta.json"
    if meta_path.exists() and path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get(name, {}).get("bytes") == path.stat().st_size:
            log(f"reusing {path} ({path.stat().st_size / MIB:,.0f} MiB)")
            return {
                "path": str(path),
                "bytes": path.stat().st_size,
                "rows": meta[name]["rows"],
                "generated": False,
            }
    free = shutil.disk_usage(args.data).free
    if free < mib * MIB * 1.5:
        raise SystemExit(
            f"not enough space under {args.data} for a {mib} MiB file ({free / MIB:,.0f} MiB free)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [
        "--csv-mib",
        str(mib if kind == "csv" else 0),
        "--jsonl-mib",
        str(mib if kind == "jsonl" else 0),
        "--parquet-mib",
        "0",
    ]
    log(f"generating {path} ({mib} MiB) with {args.anchors}/gen_data.py")
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, os.path.join(args.anchors, "gen_data.py"), "--out", str(folder), *sizes], check=True
    )
    meta = json.loads(meta_path.read_text())
    log(f"generated {path} in {time.perf_counter() - t0:.0f} s")
    return {"path": str(path), "bytes": path.stat().st_size, "rows": meta[name]["rows"], "generated": True}


# --------------------------------------------------------------------------- running


def argv_for(args: argparse.Namespace, runner: str, inp: str, out: str) -> list[str]:
    if runner.startswith(("ours:", "floor:")):
        return [sys.executable, os.path.abspath(__file__), "--run-case", runner.split(":")[1], inp, out]
    return [sys.executable, os.path.join(args.anchors, "cases.py"), runner, inp, out]


def run_case(
    args: argparse.Namespace, rb: Any, label: str, name: str, runner: str, data: dict[str, Any], rep: int
) -> dict[str, Any]:
    ours = runner.startswith("ours:")
    out = os.path.join(args.work, f"{label}-{name}" + (".tier" if ours else ".parquet"))
    rb.rm(out)
    subprocess.run(["sync"], check=True)
    rb.warm(data["path"])
    argv = argv_for(args, runner, data["path"], out)
    busy0 = cpu_busy_seconds()
    r = rb.run_once(argv, args.mem_limit_mib)
    busy = cpu_busy_seconds() - busy0
    case_out: dict[str, Any] = {}
    if r["rc"] == 0:
        try:
            case_out = json.loads(r["stdout"].strip().splitlines()[-1])
        except (ValueError, IndexError):
            pass
    cpu = r["user_s"] + r["sys_s"]
    rec: dict[str, Any] = {
        "file": label,
        "case": name,
        "rep": rep,
        "rc": r["rc"],
        "killed_at_limit": r["killed_at_limit"],
        "work_s": case_out.get("work_s", r["wall_s"]),
        "wall_s": round(r["wall_s"], 3),
        "user_s": r["user_s"],
        "sys_s": r["sys_s"],
        "cpu_per_wall": round(cpu / r["wall_s"], 2),
        "maxrss_mib": round(r["maxrss_mib"], 1),
        "sampled_peak_mib": round(r["sampled_peak_mib"], 1),
        "other_cpus": round(max(busy - cpu, 0.0) / r["wall_s"], 2),
        "out_bytes": rb.du(out),
        "case_out": case_out,
        "argv": argv,
    }
    if r["rc"] != 0:
        rec["stderr"] = r["stderr"]
        log(f"{label} {name} rep {rep} FAILED rc={r['rc']}: {r['stderr'][-600:]}")
    elif rep == 1 and not runner.startswith("floor:"):
        if ours:
            v = subprocess.run(
                [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--verify-case",
                    case_out["path"],
                    data["path"],
                    str(data["rows"]),
                ],
                capture_output=True,
                text=True,
            )
            try:
                rec["verify"] = json.loads(v.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                rec["verify"] = {"ok": False, "problems": [v.stderr[-600:]]}
            if not rec["verify"]["ok"]:
                log(f"{label} {name}: VERIFY FAILED {rec['verify']['problems']}")
        else:
            info = rb.parquet_info(out)
            rec["verify"] = {
                "rows": info.get("pq_rows"),
                "row_groups": info.get("pq_row_groups"),
                "codec": info.get("pq_codec"),
                "event_ts_type": info.get("event_ts_type"),
                "schema": info.get("schema"),
            }
    rb.rm(out)
    mbps = data["bytes"] / 1e6 / rec["work_s"] if rec["work_s"] else 0
    log(
        f"{label:9s} {name:32s} rep {rep} work {rec['work_s']:7.2f} s  wall {rec['wall_s']:7.2f} s  "
        f"{mbps:6.0f} MB/s  rss {rec['maxrss_mib']:6.0f} MiB  cpu/wall {rec['cpu_per_wall']:.2f}  "
        f"others {rec['other_cpus']:.2f} CPUs"
    )
    return rec


def plan(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(label, kind, MiB) for every input file of the run."""
    files = [(f"csv-{m}m", "csv", m) for m in args.csv_mib]
    if args.jsonl_mib:
        files.append((f"jsonl-{args.jsonl_mib}m", "jsonl", args.jsonl_mib))
    return files


def selected(args: argparse.Namespace, kind: str) -> list[tuple[str, str, bool]]:
    return [
        (name, runner, key)
        for name, k, runner, key, _ in CASES
        if k == kind
        and (not args.cases or re.search(args.cases, name))
        and not (args.skip and re.search(args.skip, name))
    ]


# --------------------------------------------------------------------------- summary


def is_anchor(name: str) -> bool:
    return not name.startswith(OURS) and name != FLOOR


def summarize(records: list[dict[str, Any]], files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, data in files.items():
        rows: dict[str, dict[str, Any]] = {}
        for name in dict.fromkeys(r["case"] for r in records if r["file"] == label):
            runs = [r for r in records if r["file"] == label and r["case"] == name]
            good = [r for r in runs if r["rc"] == 0 and not r["killed_at_limit"] and not r.get("discarded")]
            runs = [r for r in runs if not r.get("discarded")]
            if not good:
                rows[name] = {"failed": True, "reps": len(runs)}
                continue

            def med(key: str, runs: list[dict[str, Any]] = good) -> float:
                return statistics.median(r[key] for r in runs)

            work = med("work_s")
            first = next((r for r in good if r["rep"] == 1), good[0])
            phases = [r["case_out"]["phases"] for r in good if "phases" in r.get("case_out", {})]
            rows[name] = {
                "reps": len(good),
                "work_s": round(work, 3),
                "work_min": min(r["work_s"] for r in good),
                "work_max": max(r["work_s"] for r in good),
                "wall_s": round(med("wall_s"), 3),
                "mb_s": round(data["bytes"] / 1e6 / work, 1),
                "rss_mib": round(med("maxrss_mib"), 1),
                "rss_max_mib": max(r["maxrss_mib"] for r in good),
                "cpu_per_wall": round(med("cpu_per_wall"), 2),
                "other_cpus_max": max(r["other_cpus"] for r in good),
                "out_mib": round(statistics.median(r["out_bytes"] for r in good) / MIB, 1),
                "row_groups": (first.get("verify") or {}).get("row_groups"),
                "event_ts": (first.get("verify") or {}).get("event_ts_type"),
                "verified": (first.get("verify") or {}).get("ok"),
            }
            if phases:
                rows[name]["phases"] = {
                    k: round(statistics.median(p[k] for p in phases), 3) for k in phases[0]
                }
        anchors = {n: r for n, r in rows.items() if is_anchor(n) and not r.get("failed")}
        summary: dict[str, Any] = {"cases": rows, "input": data}
        if anchors and OURS in rows and not rows[OURS].get("failed"):
            best = min(anchors, key=lambda n: anchors[n]["work_s"])
            ours = rows[OURS]["work_s"]
            kind = "csv" if label.startswith("csv") else "jsonl"
            ratios = {"best_anchor": best, "ours_over_best": round(ours / anchors[best]["work_s"], 3)}
            for key, case in (
                ("ours_over_bare", BARE[kind]),
                ("ours_over_tuned", TUNED[kind]),
                ("ours_over_tuned_sha256", "pa_csv_stream_zstd_tuned_sha256"),
            ):
                if case in anchors:
                    ratios[key] = round(ours / anchors[case]["work_s"], 3)
            for key, case in (("nofsync_over_best", "connector_nofsync"),
                              ("serial_over_best", "connector_serial"),
                              ("one_encoder_over_best", "connector_one_encoder"), ("floor_over_best", FLOOR)):
                if case in rows and not rows[case].get("failed"):
                    ratios[key] = round(rows[case]["work_s"] / anchors[best]["work_s"], 3)
            summary["ratios"] = ratios
        out[label] = summary
    return out


def targets(summary: dict[str, Any]) -> dict[str, Any]:
    verdict: dict[str, Any] = {}
    csv_labels = [k for k in summary if k.startswith("csv")]
    for label, s in summary.items():
        if "ratios" not in s:
            continue
        ours = s["cases"][OURS]
        verdict[label] = {
            "wall_ratio": s["ratios"]["ours_over_best"],
            "wall_ok": s["ratios"]["ours_over_best"] <= WALL_TARGET,
            "rss_mib": ours["rss_max_mib"],
            "rss_ok": ours["rss_max_mib"] < RSS_LIMIT_MIB,
        }
    ours_csv = [
        (k, summary[k]["cases"][OURS]["rss_mib"])
        for k in csv_labels
        if OURS in summary[k]["cases"] and not summary[k]["cases"][OURS].get("failed")
    ]
    if len(ours_csv) >= 2:
        ours_csv.sort(key=lambda kv: summary[kv[0]]["input"]["bytes"])
        small, large = ours_csv[0], ours_csv[-1]
        change = (large[1] - small[1]) / small[1]
        verdict["rss_flat"] = {
            "from": small[0],
            "to": large[0],
            "change": round(change, 3),
            "ok": abs(change) <= RSS_FLAT,
        }
    return verdict


def fmt(x: Any, nd: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float | int):
        return f"{x:,.{nd}f}"
    return str(x)


def tables(summary: dict[str, Any]) -> str:
    lines = []
    for label, s in summary.items():
        data = s["input"]
        lines.append(
            f"#### {label}: `{os.path.basename(data['path'])}`, {data['bytes'] / MIB:,.0f} MiB "
            f"({data['bytes'] / 1e6:,.0f} MB), {data['rows']:,} rows\n"
        )
        lines.append(
            "| case | reps | work s median (min-max) | MB/s | x best | process s | peak RSS MiB (max) "
            "| CPU/wall | others CPUs (max) | out MiB | row groups | event_ts |"
        )
        lines.append("|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---|")
        ok = [r["work_s"] for n, r in s["cases"].items() if not r.get("failed") and is_anchor(n)]
        best = min(ok) if ok else None
        for name, r in s["cases"].items():
            shown = f"**{name}**" if name.startswith(OURS) else name if is_anchor(name) else f"*{name}*"
            if r.get("failed"):
                lines.append(f"| {shown} | {r['reps']} | failed | | | | | | | | | |")
                continue
            lines.append(
                f"| {shown} | {r['reps']} | {fmt(r['work_s'])} ({fmt(r['work_min'])}-{fmt(r['work_max'])}) "
                f"| {fmt(r['mb_s'], 0)} | {fmt(r['work_s'] / best if best else None)} | {fmt(r['wall_s'])} "
                f"| {fmt(r['rss_mib'], 0)} ({fmt(r['rss_max_mib'], 0)}) | {fmt(r['cpu_per_wall'])} "
                f"| {fmt(r['other_cpus_max'])} | {fmt(r['out_mib'], 0)} | {fmt(r['row_groups'], 0)} "
                f"| {r['event_ts'] or '-'} |"
            )
        if "ratios" in s:
            q = s["ratios"]
            parts = [f"ours / best anchor ({q['best_anchor']}) **{q['ours_over_best']:.2f}**"]
            for key, what in (
                ("ours_over_bare", "bare pyarrow"),
                ("ours_over_tuned", "tuned pyarrow"),
                ("ours_over_tuned_sha256", "tuned pyarrow + sha256"),
            ):
                if key in q:
                    parts.append(f"ours / {what} {q[key]:.2f}")
            if "nofsync_over_best" in q:
                parts.append(f"connector_nofsync / best {q['nofsync_over_best']:.2f}")
            if "serial_over_best" in q:
                parts.append(f"connector_serial / best {q['serial_over_best']:.2f}")
            if "one_encoder_over_best" in q:
                parts.append(f"connector_one_encoder / best {q['one_encoder_over_best']:.2f}")
            if "floor_over_best" in q:
                parts.append(f"parse only (no output) / best {q['floor_over_best']:.2f}")
            lines.append("\nRatios of medians: " + "; ".join(parts) + ".\n")
        ph = s["cases"].get(OURS, {}).get("phases")
        if ph:
            lines.append(
                f"Where `{OURS}` spends its work time (medians): {ph['stream_s']:.2f} s until the "
                f"source is exhausted (parse, hash, encode in parallel), {ph['close_s']:.2f} s to "
                f"encode the last row groups and close and fsync the part, {ph['manifest_s']:.2f} s "
                f"to build and validate the manifest and croissant.json, {ph['publish_s']:.3f} s "
                "to write them and publish (fsync, rename).\n"
            )
    return "\n".join(lines)


def verdict_text(verdict: dict[str, Any]) -> str:
    lines = ["| target (issue 4) | file | measured | met |", "|---|---|---|---|"]
    for label, v in verdict.items():
        if label == "rss_flat":
            continue
        lines.append(
            f"| wall time at most {WALL_TARGET:.1f}x the best anchor | {label} | "
            f"{v['wall_ratio']:.2f}x | {'yes' if v['wall_ok'] else '**no**'} |"
        )
    for label, v in verdict.items():
        if label == "rss_flat":
            continue
        lines.append(
            f"| peak RSS under {RSS_LIMIT_MIB:.0f} MiB (every rep) | {label} | "
            f"{v['rss_mib']:.0f} MiB | {'yes' if v['rss_ok'] else '**no**'} |"
        )
    if "rss_flat" in verdict:
        f = verdict["rss_flat"]
        lines.append(
            f"| peak RSS the same within {RSS_FLAT:.0%} | {f['from']} -> {f['to']} | "
            f"{f['change']:+.1%} | {'yes' if f['ok'] else '**no**'} |"
        )
    return "\n".join(lines)


def docs_section(result: dict[str, Any]) -> str:
    m, g, q = result["machine"], result["git"], result["quiet"]
    quiet_all = all(x["quiet"] for x in q)
    kept = [r for r in result["runs"] if not r.get("discarded")]
    discarded = len(result["runs"]) - len(kept)
    busy = result["args"]["busy_cpus"]
    worst = max((r["other_cpus"] for r in kept), default=0.0)
    busy_runs = [r for r in kept if r["other_cpus"] > busy]
    waited = sum(x["waited_s"] for x in q)
    changed = f" with uncommitted changes to {', '.join(g['changed'])}" if g["changed"] else ""
    key_cases = [name for name, kind, _runner, key, _desc in CASES if key and kind == "csv"]
    out = [
        MARK_BEGIN,
        "## Staging (`bench/staging.py`)",
        "",
        f"One run, {result['started'][:10]}, commit `{g['commit']}`{changed}, "
        f"{result['elapsed_s'] / 60:.0f} min. Command, from the repository root:",
        "",
        "```sh",
        result["command"],
        "```",
        "",
        f"**Machine.** {m.get('cpus')} CPUs ({m.get('cpu')}, "
        f"SHA-NI {'yes' if m.get('sha_ni') else 'no'}), {m.get('mem_gib')} GiB memory, "
        f"{m.get('platform')}; /tmp is {m.get('tmp_fs')}; Python {m['python']}. "
        f"pyarrow {m.get('pyarrow')} (memory pool {m.get('arrow_memory_pool')}), "
        f"duckdb {m.get('duckdb')}, polars {m.get('polars')}, pandas {m.get('pandas')}, "
        f"numpy {m.get('numpy')}, fsspec {m.get('fsspec')}, psutil {m.get('psutil')}.",
        "",
        "**Quiet machine?** "
        + ("Other work ran on the machine at times. " if waited or discarded or not quiet_all else "Yes. ")
        + (
            f"Before every repetition the run waited until other processes used at most "
            f"{result['args']['quiet_cpus']} CPUs ({waited} s of waiting in all)"
            if quiet_all
            else "Before each repetition the run waited for other processes to use at most "
            f"{result['args']['quiet_cpus']} CPUs, but not always long enough: "
            + "; ".join(
                f"{x['label']} started with others at {x['other_cpus']} CPUs "
                f"({', '.join(n for n, _ in x['top'][:2])})"
                for x in q
                if not x["quiet"]
            )
        )
        + f". A run during which other processes used more than {busy} CPUs (column *others*, "
        "from /proc/stat minus the run's own CPU time) was discarded and repeated after waiting, "
        f"up to {result['args']['busy_retries']} times: {discarded} run(s) discarded"
        + (
            f"; {len(busy_runs)} of {len(kept)} kept runs still had others above {busy} CPUs "
            f"(at most {worst:.2f})"
            if busy_runs
            else f"; in every kept run others used at most {worst:.2f} CPUs"
        )
        + ".",
        "",
        "**Method.** Each case is its own process under GNU time; *work s* is timed inside it around "
        "reading, writing and closing (imports excluded, as in the anchors), *process s* is the whole "
        "process; *peak RSS* is GNU time's `%M` (the process's own high-water mark). Inputs warm in the "
        "page cache (`cat` before every run), outputs removed and `sync`ed between runs (untimed), "
        "repetitions round-robin over the cases. MB/s = input bytes / 10^6 / median work s. *x best* = "
        "median / fastest anchor median in the same table. Data: the anchors' `gen_data.py` (seed 42, "
        "10 columns: int64 id, millisecond timestamps, int64, short and free-text strings, a 50-value "
        "category, int32 and float64 with 2-40% nulls, quoted commas). Anchors: "
        "`../shared/bench-anchors/cases.py`, unchanged (research/performance.md). "
        f"*{FLOOR}* (italics) is not an anchor: it only parses the input with pyarrow's streaming "
        "reader (`open_csv`/`open_json` on the path, 1 MiB blocks) and writes nothing, the floor of "
        "any pipeline built on that reader; pyarrow documents `open_csv` as always single-threaded. "
        f"Reps: {result['args']['reps']}; on CSV files above 1 GiB the non-key cases ran "
        f"{result['args']['large_reps']} time(s) (key cases: {', '.join(key_cases)}).",
        "",
        f"**Our pipeline** (`{OURS}`): `adapter_for(path, roots=[dir]).read(SourceSpec(path))` "
        "(LocalAdapter, sha256 of the source bytes for provenance) into `stage_batches` on "
        "`StorageTier.from_url('file://...')` with the tier defaults (fsync of parts, manifest and "
        "directories; atomic rename): Parquet zstd, 128k-row groups, dictionary for strings only, sha256 of "
        "every part inline, manifest validated against its JSON Schema, `croissant.json`. No duties. "
        "Arrow's memory pool is jemalloc with decay 0, as `run_job` sets it (the anchors keep "
        "pyarrow's default). "
        "The first run on each file was verified afterwards with "
        "`connector.client.open_dataset(verify=True)` (sizes and sha256 of every part), the row "
        "count and the provenance sha256 against hashlib: "
        + (
            "all passed."
            if all(
                (r.get("verify") or {}).get("ok")
                for r in result["runs"]
                if r["case"].startswith(OURS) and r["rep"] == 1 and r["rc"] == 0
            )
            else "**some failed, see the JSON**."
        ),
        "",
        "### Results",
        "",
        tables(result["summary"]),
        "### Targets",
        "",
        verdict_text(result["targets"]),
        "",
        f"Raw runs: `bench/results/{os.path.basename(result['results_file'])}` (git-ignored).",
        MARK_END,
    ]
    return "\n".join(out)


def update_docs(path: Path, section: str) -> None:
    header = (
        "# Benchmarks\n\nEach benchmark rewrites its own section, between its markers, with the results "
        "of one run\nand the command that produced it. Analysis written by hand goes outside the markers.\n"
    )
    text = path.read_text() if path.exists() else header
    begin, end = text.find(MARK_BEGIN), text.find(MARK_END)
    if begin >= 0 and end > begin:
        text = text[:begin] + section + text[end + len(MARK_END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data",
        default=os.path.join(SCRATCH, "data"),
        help="cache of generated inputs (one folder per file; reused when present)",
    )
    p.add_argument("--work", default=os.path.join(SCRATCH, "work"), help="scratch folder for outputs")
    p.add_argument("--csv-mib", default="1024,4096", help="CSV sizes in MiB, comma-separated")
    p.add_argument("--jsonl-mib", type=int, default=512, help="JSON Lines size in MiB (0: none)")
    p.add_argument("--reps", type=int, default=3, help="repetitions per case")
    p.add_argument(
        "--large-reps", type=int, default=1, help="repetitions of the non-key cases on CSV files above 1 GiB"
    )
    p.add_argument("--cases", default=None, help="regex: only cases whose name matches")
    p.add_argument("--skip", default=None, help="regex: skip cases whose name matches")
    p.add_argument("--anchors", default=str(DEFAULT_ANCHORS), help="folder of the anchors' scripts")
    p.add_argument("--results", default=str(RESULTS_DIR), help="where the JSON results go")
    p.add_argument("--docs", default=str(DOCS_PATH), help="Markdown file whose staging section is rewritten")
    p.add_argument("--no-docs", action="store_true", help="do not touch the docs")
    p.add_argument(
        "--quiet-cpus",
        type=float,
        default=0.3,
        help="a repetition starts once other processes use at most this many CPUs",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=1200,
        help="seconds to wait for that over the whole run (polling), then measure anyway",
    )
    p.add_argument("--quiet-poll", type=float, default=30, help="seconds between checks while waiting")
    p.add_argument(
        "--busy-cpus",
        type=float,
        default=0.25,
        help="a run during which other processes used more CPUs than this is repeated",
    )
    p.add_argument("--busy-retries", type=int, default=2, help="how often a disturbed run is repeated")
    p.add_argument("--mem-limit-mib", type=float, default=12 * 1024, help="kill a run above this RSS")
    p.add_argument("--run-case", nargs=3, metavar=("VARIANT", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    p.add_argument("--verify-case", nargs=3, metavar=("VERSION", "INPUT", "ROWS"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.csv_mib = [int(x) for x in a.csv_mib.split(",") if x.strip() and int(x) > 0]
    a.quiet_left = a.quiet_wait
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.run_case:
        variant, inp, out = args.run_case
        if variant == "serial":
            os.environ["CONNECTOR_CSV_PARSE_THREADS"] = "1"
        if variant == "one_encoder":
            os.environ["CONNECTOR_PARQUET_ENCODE_THREADS"] = "1"
        result = run_parse(inp) if variant == "parse" else run_ours(inp, out, fsync=variant != "nofsync")
        print(json.dumps(result))
        return 0
    if args.verify_case:
        version, inp, rows = args.verify_case
        print(json.dumps(verify_ours(version, inp, int(rows))))
        return 0

    sys.path.insert(0, args.anchors)
    import run_bench as rb  # the anchors' runner: GNU time, warm, du, parquet_info

    command = shlex.join(
        [
            os.path.relpath(sys.executable, REPO) if sys.executable.startswith(str(REPO)) else sys.executable,
            os.path.relpath(os.path.abspath(__file__), REPO),
            *(sys.argv[1:] if argv is None else argv),
        ]
    )
    started = dt.datetime.now(dt.UTC)
    t_start = time.monotonic()
    git = git_state()  # the code measured: before the runs, in case a commit lands meanwhile
    os.makedirs(args.data, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.results, exist_ok=True)
    log(f"disk: {shutil.disk_usage(args.data).free / (1 << 30):,.1f} GiB free under {args.data}")
    files = {label: ensure_data(args, kind, mib) for label, kind, mib in plan(args)}
    records: list[dict[str, Any]] = []
    quiet: list[dict[str, Any]] = []
    for label, kind, mib in plan(args):
        cases = selected(args, kind)
        for rep in range(1, args.reps + 1):
            todo = [(n, r) for n, r, key in cases if key or mib <= 1024 or rep <= args.large_reps]
            if not todo:
                continue
            q = wait_quiet(args, f"{label} rep {rep}")
            log(f"{label} rep {rep}: others use {q['other_cpus']} CPUs before the runs")
            quiet.append({"label": f"{label} rep {rep}", **q})
            for name, runner in todo:
                for attempt in range(args.busy_retries + 1):
                    rec = run_case(args, rb, label, name, runner, files[label], rep)
                    rec["attempt"] = attempt
                    records.append(rec)
                    if rec["rc"] != 0 or rec["other_cpus"] <= args.busy_cpus or attempt == args.busy_retries:
                        break
                    rec["discarded"] = True  # disturbed by other work: kept in the JSON, not in medians
                    log(f"{label} {name} rep {rep}: others used {rec['other_cpus']} CPUs; run again")
                    quiet.append({"label": f"{label} {name} rep {rep} retry", **wait_quiet(args, label)})
    summary = summarize(records, files)
    verdict = targets(summary)
    stamp = started.strftime("%Y%m%dT%H%M%S")
    result_path = os.path.join(args.results, f"staging-{stamp}.json")
    result = {
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - t_start, 1),
        "machine": machine_facts(),
        "git": git,
        "args": {k: v for k, v in vars(args).items() if k not in ("run_case", "verify_case")},
        "quiet": quiet,
        "inputs": files,
        "runs": records,
        "summary": summary,
        "targets": verdict,
        "results_file": result_path,
    }
    with open(result_path, "w") as f:
        json.dump(result, f, indent=1)
    print(tables(summary))
    print(verdict_text(verdict))
    log(f"results: {result_path}")
    if not args.no_docs:
        update_docs(Path(args.docs), docs_section(result))
        log(f"rewrote the staging section of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
