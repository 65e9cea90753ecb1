#!/usr/bin/env python
"""Catalog benchmark: registration rate and search latency at 100,000 DCAT-AP datasets.

Generates synthetic but realistic DCAT-AP 3 datasets (multilingual titles and descriptions
from the vocabularies of health, defence, mobility, environment, energy ... open data; EU
data-theme codes; real European publishers; keywords; CSV/JSON/PARQUET/... distributions;
access rights mostly PUBLIC, some RESTRICTED and NON_PUBLIC). Generation is seeded per
dataset, so dataset *i* is the same in every run and for every ``--datasets``.

For each backend (SQLite: the embedded default under a temporary ``CONNECTOR_HOME``;
PostgreSQL: schema ``bench_catalog``, dropped and created at the start) it

1. registers the datasets through ``connector.catalog.service.register_dataset`` (one unit of
   work per dataset, the OPERATOR principal) and times each call;
2. starts a real server (``connector serve`` in a subprocess on a free loopback port) and
   registers a smaller sample with ``POST /api/v1/datasets``, to show the HTTP cost;
3. times searches as a steward (made with ``connector users create ... --json``): one-word
   queries, and two-word queries with two facet filters (``theme`` and ``format``), in-process
   (``connector.catalog.service.search_datasets``) and over HTTP (``GET /api/v1/datasets``).
   Query words are drawn from titles of datasets the steward may see, so results are
   non-empty; facet filters are a theme and a format of that same dataset.

The parts live in ``bench/_catalog/`` (vocabularies, generator, databases, one backend's
run, report) and ``bench/_common/``. It prints a table, writes JSON under ``bench/results/``
and rewrites its section of ``docs/benchmarks.md``. ``--profile`` adds cProfile hotspots,
SQL time per statement and query plans.

    .venv/bin/python bench/catalog_search.py --datasets 100000 --backend both
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _catalog import TARGET_P95_MS
from _catalog.generate import CatalogGenerator
from _catalog.report import (
    REG_HEADER,
    SEARCH_HEADER,
    registration_rows,
    render_markdown,
    search_rows,
)
from _catalog.run import run_backend
from _catalog.vocab import PUBLISHERS
from _common import DOCS_PATH, REPO, RESULTS_DIR, log, machine
from _common.docs import markers, text_table, update_docs

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_PG_SCHEMA = "bench_catalog"
CODE = ("connector", "schemas")  # what git_state reports uncommitted changes of
PACKAGES = ("SQLAlchemy", "Flask", "waitress", "psycopg", "requests", "alembic")


def machine_info() -> dict[str, Any]:
    info = machine.describe(PACKAGES)
    info["sqlite"] = sqlite3.sqlite_version
    return info


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/catalog_search.py",
        description="Register N synthetic DCAT-AP datasets and measure registration rate and "
        "search latency on SQLite and PostgreSQL, in-process and over HTTP.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--datasets", type=int, default=100_000, help="catalog size")
    parser.add_argument(
        "--queries", type=int, default=300, help="timed queries per query kind and path"
    )
    parser.add_argument(
        "--warmup", type=int, default=30, help="untimed queries per kind and path first"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--http-datasets",
        type=int,
        default=1000,
        help="how many of the datasets to register over HTTP (at most a tenth)",
    )
    parser.add_argument(
        "--output",
        default=str(DOCS_PATH.relative_to(REPO)),
        help="markdown file whose catalog_search section is rewritten; '' for none",
    )
    parser.add_argument(
        "--results-dir",
        default=str(RESULTS_DIR.relative_to(REPO)),
        help="where the JSON results (and --profile stats) go",
    )
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--steward-org", default="rki", help="organisation of the searching steward"
    )
    parser.add_argument("--server-threads", type=int, default=8)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument(
        "--pg-schema",
        default=DEFAULT_PG_SCHEMA,
        help="dedicated schema, dropped and created at the start",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile registration and searches, SQL time per statement, query plans",
    )
    parser.add_argument(
        "--quiet-cpus",
        type=float,
        default=0.1,
        help="before each timed search row, wait until other processes use at most this many "
        "CPUs (the machine may be shared); 0 waits for an idle machine, a large value not at all",
    )
    parser.add_argument(
        "--max-other-cpus",
        type=float,
        default=0.25,
        help="measure a search row again (up to --attempts times) if other processes used more "
        "CPUs than this while it ran",
    )
    parser.add_argument("--attempts", type=int, default=3, help="see --max-other-cpus")
    parser.add_argument(
        "--quiet-timeout", type=float, default=1800, help="longest wait for a quiet machine, s"
    )
    parser.add_argument(
        "--code",
        choices=("head", "worktree"),
        default="head",
        help="head: run against a clean git-archive export of the committed HEAD (the working "
        "tree may be edited during a long run); worktree: the installed (editable) package",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the SQLite home and the PostgreSQL schema afterwards",
    )
    args = parser.parse_args(argv)
    if args.datasets < 100:
        parser.error("--datasets must be at least 100")
    if args.queries < 1 or args.warmup < 0:
        parser.error("--queries must be positive and --warmup not negative")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.pg_schema):
        parser.error("--pg-schema must be a plain lower-case identifier")
    if args.steward_org not in {p.slug for p in PUBLISHERS}:
        parser.error(
            f"--steward-org must be one of the generated publishers: "
            f"{', '.join(p.slug for p in PUBLISHERS)}"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    code = machine.use_committed_code() if args.code == "head" else machine.git_state(*CODE)
    args.results_path = (REPO / args.results_dir).resolve()
    args.results_path.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    stamp = time.strftime("%Y%m%dT%H%M%S")
    exe = Path(sys.executable)
    try:
        exe = exe.relative_to(REPO)
    except ValueError:
        pass
    result: dict[str, Any] = {
        "benchmark": "catalog_search",
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": shlex.join([str(exe), "bench/catalog_search.py", *(argv or sys.argv[1:])]),
        "code": code,
        "machine": machine_info(),
        "parameters": {
            "datasets": args.datasets,
            "queries": args.queries,
            "warmup": args.warmup,
            "http_datasets_effective": min(args.http_datasets, args.datasets // 10),
            "seed": args.seed,
            "steward_org": args.steward_org,
            "server_threads": args.server_threads,
            "quiet_cpus": args.quiet_cpus,
            "max_other_cpus": args.max_other_cpus,
            "attempts": args.attempts,
            "profile": args.profile,
            "profiled_registrations": (
                min(2000, (args.datasets - min(args.http_datasets, args.datasets // 10)) // 10)
                if args.profile
                else 0
            ),
        },
        "targets": {"two_word_two_facets_p95_ms": TARGET_P95_MS},
        "backends": {},
    }
    gen = CatalogGenerator(args.seed)
    for backend in backends:
        result["backends"][backend] = run_backend(backend, args, gen, stamp)
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if args.code == "worktree":
        result["code_at_finish"] = machine.git_state(*CODE)
        if result["code_at_finish"] != code:
            log("warning: connector/ or schemas/ changed during the run (see code_at_finish)")
    else:
        shutil.rmtree(code["snapshot"], ignore_errors=True)

    path = args.results_path / f"catalog_search-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    print()
    print(f"Registration ({args.datasets:,} datasets)")
    print(text_table(REG_HEADER, registration_rows(result)))
    print()
    print(f"Search latency ({args.queries} queries per row, {args.warmup} warm-up)")
    print(text_table(SEARCH_HEADER, search_rows(result)))
    if args.profile:
        for backend, data in result["backends"].items():
            for kind, prof in data.get("profile_search", {}).items():
                print(
                    f"\n--- {backend} {kind}: {prof['ms_per_query']} ms/query, "
                    f"{prof['sql_ms_per_query']} ms in SQL"
                )
                for row in prof["sql"][:4]:
                    print(
                        f"  {row['ms_per_call']:8.2f} ms/query  x{row['executions']:<5} "
                        f"{row['statement'][:150]}"
                    )
    print(f"\nresults: {path}")
    if args.output:
        docs = (REPO / args.output).resolve()
        update_docs(docs, *markers("catalog_search"), render_markdown(result))
        print(f"docs:    {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
