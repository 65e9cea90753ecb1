"""Running one case under the anchors' runner (GNU time), and choosing the cases and files."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from typing import Any

from _common import REPO, log
from _common.procs import cpu_busy_seconds

from _staging import CASES

STAGING_SCRIPT = str(REPO / "bench" / "staging.py")  # re-run with --run-case / --verify-case


def argv_for(args: argparse.Namespace, runner: str, inp: str, out: str) -> list[str]:
    if runner.startswith(("ours:", "floor:")):
        return [sys.executable, STAGING_SCRIPT, "--run-case", runner.split(":")[1], inp, out]
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
                    STAGING_SCRIPT,
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
