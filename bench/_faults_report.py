"""The fault loop's verdict and its section of ``docs/benchmarks.md`` (bench/faults.py)."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from _common.docs import md_table
from _common.stats import percentile


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Kills, partial versions seen, publishes after restart with exact rows, temporary bytes
    left and the time lost per kill."""
    rows = result["input"]["rows"]
    aimed = [r for r in result["records"] if r["target"] is not None]
    killed = [r for r in aimed if r["hit"] != "missed"]  # a miss: published before the kill
    partial = sum(1 for r in aimed for problems in r["visible_after_kill"].values() if problems)
    partial += sum(1 for problems in result["visible_at_end"].values() if problems)
    partial += sum(1 for r in result["records"] if r.get("problems"))
    exact = [r for r in killed if r["state"] == "published" and r["read_back"]["rows"] == rows
             and r["read_back"]["manifest_rows"] == rows]
    lost = sorted(lost_s(r) for r in killed if lost_s(r) is not None)
    over = sorted(r["total_s"] - result["baseline"]["total"] for r in killed)
    left = sum(result["temporary_left"].values())
    return {
        "kills": len(killed),
        "missed": len(aimed) - len(killed),
        "hit": dict(Counter(r["hit"] for r in aimed)),
        "aimed": dict(Counter(r["target"] for r in aimed)),
        "partial_visible": partial,
        "published_exact": len(exact),
        "temporary_bytes_left": left,
        "lost_median_s": round(percentile(lost, 50), 2) if lost else None,
        "lost_p95_s": round(percentile(lost, 95), 2) if lost else None,
        "over_baseline_median_s": round(percentile(over, 50), 2) if over else None,
        "over_baseline_p95_s": round(percentile(over, 95), 2) if over else None,
        "killed_pids": sorted({r["killed_pids"] for r in killed}),
        "survivors": sum(r.get("survivors", 0) for r in aimed),
        "ok": partial == 0 and len(exact) == len(killed) == result["args"]["kills"] and left == 0,
    }


def lost_s(record: dict[str, Any]) -> float | None:
    """Claimed again by the restarted worker minus first claimed; None if either was not seen."""
    marks = record["marks"]
    return marks["reclaimed"] - marks["claimed"] if {"reclaimed", "claimed"} <= marks.keys() else None


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def docs_section(result: dict[str, Any], begin: str, end: str) -> str:
    s, m, a, base = result["summary"], result["machine"], result["args"], result["baseline"]
    load = result["load"]
    inp = result["input"]
    aimed = [r for r in result["records"] if r["target"] is not None]
    by_phase = []
    for phase in ("read", "encode", "fsync", "publish", "missed"):
        hits = [r for r in aimed if r["hit"] == phase]
        lost = sorted(x for r in hits if (x := lost_s(r)) is not None)
        by_phase.append([phase, str(s["aimed"].get(phase, 0)), str(len(hits)),
                         f"{percentile(lost, 50):.1f}" if lost else "-"])
    rounds = [[str(r["round"]), r["target"], r["hit"], f"{r['killed_at_s']:.2f}", f"{r['rows_at_kill']:,}",
               str(r["killed_pids"]), r["state"], f"{r.get('read_back', {}).get('rows', 0):,}",
               f"{r['temporary_after_kill'] / (1 << 20):,.0f}",
               "-" if lost_s(r) is None else f"{lost_s(r):.1f}", f"{r['total_s'] - base['total']:.1f}"]
              for r in aimed]
    dirty = result["git"]["dirty_paths"]
    lines = [
        begin,
        "## Fault loop (`bench/faults.py`)",
        "",
        f"Command: `{result['command']}` ({result['started']}, commit {result['git']['commit']}"
        + (f", uncommitted: {', '.join(dirty)}" if dirty else "")
        + ").",
        "",
        f"**Machine.** {m['cpus']} CPUs ({m['cpu']}), {m.get('memory_gib')} GiB memory, {m['platform']}; "
        f"/tmp is {m.get('tmp_fs')}; Python {m['python']}, pyarrow {m['packages'].get('pyarrow')}. "  # noqa: S108
        f"Shared: other processes used {load['other_cpus']} CPUs on average during the run "
        f"(load average {load['loadavg_1m_start']} at the start, {load['loadavg_1m_end']} at the end).",
        "",
        f"**Input.** `data.csv` from the anchors' `gen_data.py`, {inp['bytes'] / (1 << 20):,.0f} MiB, "
        f"{inp['rows']:,} rows; each staging is its own dataset, agreement and job, on the embedded "
        f"default (SQLite, `file://` tier) with `CONNECTOR_JOB_LEASE_SECONDS={a['lease']}`. "
        f"Undisturbed staging (median of {a['baseline']}): {base['total']:.1f} s from request to published "
        f"(first rows recorded {base['first_rows']:.2f} s after the claim; "
        f"{base['close']:.2f} s from the last row group to the manifest).",
        "",
        md_table(["result", "measured", "required", "met"], [
            ["kills of a running job", str(s["kills"]), str(a["kills"]), _yes(s["kills"] == a["kills"])],
            ["kills after the job was published (aimed again)", str(s["missed"]), "-", "-"],
            ["partial versions visible", str(s["partial_visible"]), "0", _yes(s["partial_visible"] == 0)],
            ["published after restart, exact rows (pyarrow)", f"{s['published_exact']}/{s['kills']}",
             f"{s['kills']}/{s['kills']}", _yes(s["published_exact"] == s["kills"])],
            ["temporary bytes left on the tier", f"{s['temporary_bytes_left']:,}", "0",
             _yes(s["temporary_bytes_left"] == 0)],
            ["time lost per kill (claimed again - first claimed), median (s)", str(s["lost_median_s"]),
             "-", "-"],
            ["time lost per kill, p95 (s)", str(s["lost_p95_s"]), "-", "-"],
            ["request to published over the baseline, median / p95 (s)",
             f"{s['over_baseline_median_s']} / {s['over_baseline_p95_s']}", "-", "-"],
        ]),
        "",
        md_table(["phase", "aimed at", "hit", "lost s (median)"], by_phase),
        "",
        "<details><summary>Every kill</summary>",
        "",
        md_table(["round", "aimed", "hit", "killed at s", "rows recorded", "pids killed", "then",
                  "rows read back", "tmp MiB after kill", "lost s", "over baseline s"], rounds),
        "",
        "</details>",
        "",
        f"Raw runs: `bench/results/{os.path.basename(result['results_file'])}` (git-ignored).",
        end,
    ]
    return "\n".join(lines)
