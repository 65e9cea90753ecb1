#!/usr/bin/env python
"""Cost of the JSON Lines depth and record-size check (issue 11) on the staging hot path: A/B.

Generates (or reuses) a JSON Lines file of ``--mib`` MiB (ints, floats, booleans, nulls, a list,
a nested object, and strings holding quotes, backslashes and brackets, so the scan's string
masking is exercised), then stages it ``--reps`` times with the check and ``--reps`` times
without, interleaved (ABBA order), each run in its own process exactly as ``bench/staging.py``
runs our pipeline (``adapter_for(...).read(SourceSpec(path))`` into ``stage_batches`` on a
``file://`` tier, fsync on). "Without" replaces :class:`~connector.adapters.json_limits.
JsonLinesLimits` by the bare text stream in that process. Reported: medians of the work time
(as bench/staging.py measures it) and of the process CPU time, and their ratios; and the scan
alone over the file in memory (MB/s, one thread).

    .venv/bin/python bench/json_limits.py --mib 256 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRATCH = Path(tempfile.gettempdir()) / "connector-bench-json-limits"
WORDS = ["alpha", "beta", "gamma", 'quote " inside', "brack[et]s {x}", "back\\slash", "delta", "épsilon"]


def generate(path: Path, mib: int) -> int:
    """Write about ``mib`` MiB of JSON Lines; returns the rows."""
    rng = random.Random(42)
    size, row = 0, 0
    with path.open("w", encoding="utf-8") as out:
        while size < mib << 20:
            lines = []
            for _ in range(10_000):
                lines.append(json.dumps({
                    "id": row, "x": rng.random(), "n": rng.randint(-10**6, 10**6),
                    "name": rng.choice(WORDS) + str(row), "ok": rng.random() < 0.5,
                    "ts": f"2024-01-01T00:00:{row % 60:02d}", "tags": [rng.choice(WORDS) for _ in range(2)],
                    "geo": {"lat": rng.random(), "lon": rng.random(), "src": rng.choice(WORDS)},
                    "note": None if row % 7 else "n"}, ensure_ascii=False))
                row += 1
            text = "\n".join(lines) + "\n"
            out.write(text)
            size += len(text.encode())
    return row


def run_case(case: str, inp: str, out: str) -> None:
    """One staging run in this (child) process; prints its result as JSON."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from connector.adapters import formats

    if case == "off":
        formats.JsonLinesLimits = lambda stream, **_: stream  # type: ignore[assignment,misc]
    import staging  # bench/staging.py: the pipeline as the service runs it

    result = staging.run_ours(inp, out, fsync=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
    result["maxrss_mib"] = round(usage.ru_maxrss / 1024, 1)
    print(json.dumps(result))


def scan_alone(path: Path) -> float:
    """MB/s of the check alone over the file in memory, in 2 MiB reads (one thread)."""
    sys.path.insert(0, str(REPO))
    import io

    from connector.adapters.json_limits import JsonLinesLimits

    data = path.read_bytes()
    reads = [data[start:start + (2 << 20)] for start in range(0, len(data), 2 << 20)]
    best = 0.0
    for _ in range(3):
        limits = JsonLinesLimits(io.BytesIO(b""), name="bench", max_depth=64, max_record_bytes=16 << 20)
        started = time.perf_counter()
        for read in reads:
            limits._check(read)
        best = max(best, len(data) / (time.perf_counter() - started) / 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--data", default=str(SCRATCH))
    parser.add_argument("--run-case", nargs=3, metavar=("CASE", "IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_case:
        run_case(*args.run_case)
        return 0
    folder = Path(args.data)
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"data-{args.mib}m.jsonl"
    if not data.exists():
        print(f"generating {data}", file=sys.stderr)
        generate(data, args.mib)
    size = data.stat().st_size
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    for rep in range(args.reps):
        for case in (("on", "off") if rep % 2 == 0 else ("off", "on")):
            out = folder / "out"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            subprocess.run(["cat", str(data)], stdout=subprocess.DEVNULL, check=True)  # warm cache
            os.sync()
            done = subprocess.run([sys.executable, __file__, "--run-case", case, str(data), str(out)],
                                  capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[case].append(result)
            print(f"rep {rep} {case}: work {result['work_s']:.3f} s, cpu {result['cpu_s']:.2f} s, "
                  f"rows {result['rows']}", file=sys.stderr)
    shutil.rmtree(folder / "out", ignore_errors=True)
    med = {case: {key: statistics.median(r[key] for r in rs) for key in ("work_s", "cpu_s", "maxrss_mib")}
           for case, rs in runs.items()}
    summary = {
        "file_mib": round(size / (1 << 20), 1), "rows": runs["on"][0]["rows"], "reps": args.reps,
        "cpus": os.cpu_count(), "median": med,
        "work_ratio": round(med["on"]["work_s"] / med["off"]["work_s"], 4),
        "cpu_ratio": round(med["on"]["cpu_s"] / med["off"]["cpu_s"], 4),
        "staging_mb_s_on": round(size / 1e6 / med["on"]["work_s"], 1),
        "scan_alone_mb_s": round(scan_alone(data), 1),
        "work_s": {case: [r["work_s"] for r in rs] for case, rs in runs.items()},
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
