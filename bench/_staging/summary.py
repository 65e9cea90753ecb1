"""Medians per case and file, and the verdict on the targets of issue 4."""

from __future__ import annotations

import statistics
from typing import Any

from _common import MIB

from _staging import BARE, FLOOR, OURS, RSS_FLAT, RSS_LIMIT_MIB, TUNED, WALL_TARGET


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
