"""The catalog benchmark's tables and its section of docs/benchmarks.md."""

from __future__ import annotations

from typing import Any

from _common.docs import md_table

from _catalog import KIND_LABELS, KIND_TWO, MARK_BEGIN, MARK_END, TARGET_P95_MS


def _fmt(value: float) -> str:
    return f"{value:,.1f}"


def search_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for backend, data in result["backends"].items():
        for mode, kinds in data.get("search", {}).items():
            for kind, s in kinds.items():
                target = ""
                if kind == KIND_TWO:
                    target = "met" if s["p95_ms"] < TARGET_P95_MS else "MISSED"
                rows.append(
                    [
                        backend,
                        mode,
                        KIND_LABELS[kind],
                        str(s["n"]),
                        _fmt(s["p50_ms"]),
                        _fmt(s["p95_ms"]),
                        _fmt(s["p99_ms"]),
                        _fmt(s["mean_ms"]),
                        f"{s['mean_results']:,.0f}",
                        _busy(s),
                        target,
                    ]
                )
    return rows


SEARCH_HEADER = [
    "backend",
    "path",
    "query",
    "n",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "mean ms",
    "mean results",
    "other CPUs",
    "p95 < 50 ms",
]
REG_HEADER = [
    "backend",
    "path",
    "datasets",
    "datasets/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "other CPUs",
]


def _busy(row: dict[str, Any]) -> str:
    other = row.get("machine", {}).get("other_cpus")
    return "" if other is None else f"{other:.2f}"


def registration_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for backend, data in result["backends"].items():
        for key, label in (
            ("registration_service", "service (in-process)"),
            ("registration_http", "HTTP POST"),
        ):
            r = data.get(key)
            if r:
                rows.append(
                    [
                        backend,
                        label,
                        f"{r['datasets']:,}",
                        f"{r['datasets_per_s']:,.0f}",
                        _fmt(r["p50_ms"]),
                        _fmt(r["p95_ms"]),
                        _fmt(r["p99_ms"]),
                        _busy(r),
                    ]
                )
    return rows


def render_markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    p = result["parameters"]
    pg = next(
        (
            d["database"]["version"]
            for d in result["backends"].values()
            if d["database"]["engine"] == "PostgreSQL"
        ),
        "not run",
    )
    cat = next(iter(result["backends"].values())).get("catalog", {})
    code = result["code"]
    if code["source"] == "head":
        commit = f"`{code['commit']}` (a clean `git archive` export of it, `--code head`)"
    else:
        dirty = code["dirty_paths"]
        commit = f"`{code['commit']}`" + (
            f" plus uncommitted changes in {', '.join(f'`{d}`' for d in dirty)}" if dirty else ""
        )
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    sectors = ", ".join(f"{k} {v:.0%}" for k, v in cat.get("sectors", {}).items())
    access = ", ".join(f"{k} {v:.1%}" for k, v in cat.get("access_rights", {}).items())
    langs = ", ".join(f"{k} {v:.0%}" for k, v in cat.get("languages", {}).items())
    formats = ", ".join(f"{k} {v:.0%}" for k, v in list(cat.get("formats", {}).items())[:6])
    sizes = "; ".join(
        f"{b}: {d['database'].get('size_bytes', 0) / 2**20:,.0f} MiB"
        for b, d in result["backends"].items()
    )
    retried = sum(
        1
        for d in result["backends"].values()
        for kinds in d.get("search", {}).values()
        for row in kinds.values()
        if row.get("discarded_attempts")
    )
    validation = "; ".join(
        f"{b}: {d['schema_validation_ms_per_doc']} ms" for b, d in result["backends"].items()
    )
    lines = [
        MARK_BEGIN,
        "## Catalog search (`bench/catalog_search.py`)",
        "",
        f"One run, {result['started'][:10]}, commit {commit}. Command, from the repository root:",
        "",
        "```sh",
        result["command"],
        "```",
        "",
        f"**Machine.** {m['cpus']} CPUs ({m['cpu']}), {m.get('memory_gib', '?')} GiB memory, "
        f"{m['platform']}; Python {m['python']}; SQLite {m['sqlite']}; PostgreSQL {pg} "
        f"(on the same machine, 127.0.0.1:5432). {packages}.",
        "",
        f"**Catalog.** {cat.get('datasets', p['datasets']):,} synthetic DCAT-AP 3 datasets (seed "
        f"{p['seed']}) from {cat.get('publishers', '?')} European publishers. Sectors: {sectors}. "
        f"Access rights: {access}. Title/description languages (share of datasets): {langs}; "
        f"{cat.get('mean_languages', '?')} languages and {cat.get('mean_distributions', '?')} "
        f"distributions per dataset on average; formats: {formats}, ... "
        f"Database size after loading: {sizes}.",
        "",
        "### Registration",
        "",
        md_table(REG_HEADER, registration_rows(result)),
        "",
        "*service*: `connector.catalog.service.register_dataset`, one unit of work (transaction) "
        "per dataset, OPERATOR principal, timed around the call only"
        + (
            f" (the last {p['profiled_registrations']:,} in-process registrations ran under "
            "cProfile for `--profile` and are left out of these figures)"
            if p.get("profiled_registrations")
            else ""
        )
        + ". *HTTP POST*: the last "
        f"{p['http_datasets_effective']:,} datasets, one at a time over a keep-alive connection "
        "to `connector serve` (waitress), with an admin token; includes authentication, "
        f"JSON-Schema validation (measured alone: {validation} per document) and serialisation.",
        "",
        f"### Search latency ({p['queries']} queries per row, after {p['warmup']} warm-up queries)",
        "",
        md_table(SEARCH_HEADER, search_rows(result)),
        "",
        "Searches run as a steward of one organisation (`" + p["steward_org"] + "`), so the "
        "visibility filter (PUBLIC, or owned by the steward's organisation) applies. *1 word*: a "
        "word drawn from the title of a random dataset the steward may see. *2 words + theme + "
        "format*: two words of one title of such a dataset, with `theme=` one of its themes and "
        "`format=` one of its formats (e.g. `q=hospital admissions&theme=HEAL&format=CSV`). "
        "Default page size (20), default sort (`-updated`), the API's default facet counts. "
        "*in-process*: "
        "`connector.catalog.service.search_datasets` timed around the call. *http*: "
        "`GET /api/v1/datasets` with `requests` over a keep-alive connection to `connector "
        "serve`, timed until the body has arrived. *other CPUs*: CPUs used on average by "
        "processes other than the benchmark's own (itself, its server, the PostgreSQL backends "
        "serving them) while the row ran; the machine may be shared, so each search row waits "
        f"until others use at most {p['quiet_cpus']} CPUs and is measured again (up to "
        f"{p['attempts']} times) if they used more than {p['max_other_cpus']}"
        + (f"; {retried} row(s) were measured again" if retried else "")
        + ". Target (issue 2): p95 under 50 ms for two "
        "words with facets at 100,000 datasets, on both databases."
        + (
            " PostgreSQL: `VACUUM ANALYZE` after loading (what autovacuum does shortly after a "
            "bulk load)."
            if "postgresql" in result["backends"]
            else ""
        ),
        MARK_END,
    ]
    return "\n".join(lines) + "\n"


