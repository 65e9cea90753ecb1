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
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _common import DOCS_PATH, REPO, RESULTS_DIR, SCRATCH, log, machine
from _common.data import DEFAULT_ANCHORS, ensure_data
from _common.docs import update_docs
from _common.procs import wait_quiet
from _staging import MARK_BEGIN, MARK_END
from _staging.child import run_ours, run_parse, verify_ours
from _staging.report import docs_section, tables, verdict_text
from _staging.runs import plan, run_case, selected
from _staging.summary import summarize, targets

PACKAGES = ("pyarrow", "duckdb", "polars", "pandas", "numpy", "fsspec", "psutil")
CODE = ("connector", "bench/staging.py", "bench/_staging", "bench/_common")


def machine_facts() -> dict[str, Any]:
    """The machine and packages, and the Arrow memory pool and thread count in this process."""
    facts = machine.describe(PACKAGES)
    try:
        import pyarrow as pa

        facts["arrow_memory_pool"] = pa.default_memory_pool().backend_name
        facts["arrow_cpu_count"] = pa.cpu_count()
    except ImportError:
        pass
    return facts


def git_state() -> dict[str, Any]:
    state = machine.git_state(*CODE)
    return {"commit": state["commit"], "changed": state["dirty_paths"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data",
        default=str(SCRATCH / "data"),
        help="cache of generated inputs (one folder per file; reused when present)",
    )
    p.add_argument("--work", default=str(SCRATCH / "work"), help="scratch folder for outputs")
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
    files = {label: ensure_data(args.data, args.anchors, kind, mib) for label, kind, mib in plan(args)}
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
        update_docs(Path(args.docs), MARK_BEGIN, MARK_END, docs_section(result))
        log(f"rewrote the staging section of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
