"""The staging benchmark's tables and its section of docs/benchmarks.md."""

from __future__ import annotations

import os
from typing import Any

from _common import MIB

from _staging import (
    CASES,
    FLOOR,
    MARK_BEGIN,
    MARK_END,
    OURS,
    RSS_FLAT,
    RSS_LIMIT_MIB,
    WALL_TARGET,
)
from _staging.summary import is_anchor


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
    files = {label: v for label, v in verdict.items() if label != "rss_flat"}
    for label, v in files.items():
        lines.append(
            f"| wall time at most {WALL_TARGET:.1f}x the best anchor | {label} | "
            f"{v['wall_ratio']:.2f}x | {'yes' if v['wall_ok'] else '**no**'} |"
        )
    for label, v in files.items():
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
    pk = m["packages"]
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
        f"SHA-NI {'yes' if m.get('sha_ni') else 'no'}), {m.get('memory_gib')} GiB memory, "
        f"{m.get('platform')}; /tmp is {m.get('tmp_fs')}; Python {m['python']}. "
        f"pyarrow {pk.get('pyarrow')} (memory pool {m.get('arrow_memory_pool')}), "
        f"duckdb {pk.get('duckdb')}, polars {pk.get('polars')}, pandas {pk.get('pandas')}, "
        f"numpy {pk.get('numpy')}, fsspec {pk.get('fsspec')}, psutil {pk.get('psutil')}.",
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
