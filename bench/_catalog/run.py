"""One backend's run: register the catalog in-process and over HTTP, then time the searches."""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import log
from _common.procs import ProcessCpu, wait_until_quiet
from _common.service import Server, cli_json
from _common.stats import latency_summary

from _catalog.database import (
    StatementTimer,
    database_size,
    explain,
    make_safe_url,
    profile_top,
    reset_pg_schema,
    sqlite_driver_seconds,
    with_search_path,
)
from _catalog.generate import CatalogGenerator, Meta, Query, build_queries, describe_catalog
from _catalog.vocab import PUBLISHERS


def _progress(label: str, done: int, total: int, started: float, busy: float) -> None:
    wall = time.perf_counter() - started
    log(
        f"{label}: {done:,}/{total:,}  {done / busy:,.0f}/s in the service "
        f"({done / wall:,.0f}/s wall, {wall:,.0f} s)"
    )


def run_backend(
    backend: str, args: argparse.Namespace, gen: CatalogGenerator, results_stamp: str
) -> dict[str, Any]:
    import requests
    from sqlalchemy import text

    from connector.app import create_app
    from connector.catalog import service
    from connector.catalog.search import SearchQuery
    from connector.identity import service as identity
    from connector.identity.principal import OPERATOR
    from connector.uow import UnitOfWork

    home = Path(tempfile.mkdtemp(prefix=f"bench-catalog-{backend}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({"CONNECTOR_HOME": str(home), "CONNECTOR_LOG_LEVEL": "WARNING"})
    config: dict[str, Any] = {"HOME": str(home), "LOG_LEVEL": "WARNING"}
    out: dict[str, Any] = {"backend": backend}
    if backend == "postgresql":
        version = reset_pg_schema(args.pg_url, args.pg_schema)
        url = with_search_path(args.pg_url, args.pg_schema)
        config.update({"DATABASE_URL": url, "AUTO_MIGRATE": True})
        env["CONNECTOR_DATABASE_URL"] = url
        out["database"] = {
            "engine": "PostgreSQL",
            "version": version,
            "schema": args.pg_schema,
            "url": make_safe_url(url),
        }
    else:
        out["database"] = {
            "engine": "SQLite",
            "version": sqlite3.sqlite_version,
            "path": str(home / "connector.db"),
        }
    log(f"{backend}: database ready ({out['database']})")

    app = create_app(config)
    ext = app.extensions["connector"]
    engine = ext.engine

    def new_uow() -> UnitOfWork:
        return UnitOfWork(ext.session_factory)

    for pub in PUBLISHERS:
        identity.create_organisation(new_uow(), pub.slug, pub.name)

    n_total = args.datasets
    n_http = min(args.http_datasets, n_total // 10) if n_total >= 10 else 0
    n_inproc = n_total - n_http
    n_profiled = min(2000, n_inproc // 10) if args.profile else 0
    metas: list[Meta] = []

    # Schema validation of a sample: the service expects schema-valid documents (the API and
    # the CLI validate before calling it), so prove the generator's documents are valid.
    sample = [gen.dataset(i)[0] for i in range(min(500, n_total))]
    t0 = time.perf_counter()
    for doc in sample:
        ext.schemas.validate("dataset", doc)
    out["schema_validation_ms_per_doc"] = round((time.perf_counter() - t0) * 1000 / len(sample), 3)
    del sample

    # 1. registration through the service function
    durations: list[float] = []
    chunks: list[dict[str, Any]] = []
    chunk_size = max(1, n_inproc // 10)
    started = time.perf_counter()
    chunk_busy = 0.0
    reg_load = ProcessCpu()
    profiler = cProfile.Profile() if n_profiled else None
    reg_timer = StatementTimer(engine) if n_profiled else None
    for i in range(n_inproc):
        doc, meta = gen.dataset(i)
        metas.append(meta)
        profiled = profiler is not None and i >= n_inproc - n_profiled
        if profiled and i == n_inproc - n_profiled:
            reg_timer.__enter__()  # type: ignore[union-attr]
            profiler.enable()  # type: ignore[union-attr]
        t = time.perf_counter()
        service.register_dataset(new_uow(), OPERATOR, doc)
        elapsed = time.perf_counter() - t
        if not profiled:
            durations.append(elapsed)
            chunk_busy += elapsed
        if (i + 1) % chunk_size == 0 and not profiled:
            chunks.append({"upto": i + 1, "datasets_per_s": round(chunk_size / chunk_busy, 1)})
            chunk_busy = 0.0
            _progress(f"{backend} register (service)", i + 1, n_inproc, started, sum(durations))
    if profiler is not None:
        profiler.disable()
        reg_timer.__exit__()  # type: ignore[union-attr]
    wall = time.perf_counter() - started
    reg_ms = [d * 1000 for d in durations]
    out["registration_service"] = {
        "datasets": len(durations),
        "seconds_in_service": round(sum(durations), 2),
        "wall_seconds_incl_generation": round(wall, 2),
        "datasets_per_s": round(len(durations) / sum(durations), 1),
        **latency_summary(reg_ms),
        "chunks": chunks,
        "machine": reg_load.summary(),
    }
    if profiler is not None:
        out["profile_registration"] = {
            "datasets": n_profiled,
            "cprofile": profile_top(
                profiler, args.results_path / f"catalog_search-{results_stamp}-{backend}-register.pstats"
            ),
            "sql": reg_timer.report(n_profiled),  # type: ignore[union-attr]
        }
        if backend == "sqlite":
            out["profile_registration"]["sqlite_driver_ms_per_dataset"] = round(
                sqlite_driver_seconds(profiler) * 1000 / n_profiled, 3
            )
    log(
        f"{backend}: service registration "
        f"{out['registration_service']['datasets_per_s']:,} datasets/s"
    )

    server: Server | None = None
    completed = False
    try:
        # users and tokens through the CLI, as an operator would make them
        admin_token = cli_json(env, "users", "create", "bench-admin", "--role", "admin", "--json")[
            "token"
        ]
        steward_token = cli_json(
            env,
            "users",
            "create",
            "bench-steward",
            "--role",
            "steward",
            "--org",
            args.steward_org,
            "--json",
        )["token"]
        server = Server(env, home / "server.log", args.server_threads)
        log(f"{backend}: connector serve at {server.base}")

        # 2. registration over HTTP
        session = requests.Session()
        session.headers.update(
            {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
        )
        http_ms: list[float] = []
        http_load = ProcessCpu()
        for i in range(n_inproc, n_total):
            doc, meta = gen.dataset(i)
            metas.append(meta)
            body = json.dumps(doc, ensure_ascii=False).encode()
            t = time.perf_counter()
            resp = session.post(server.base + "/api/v1/datasets", data=body, timeout=60)
            http_ms.append((time.perf_counter() - t) * 1000)
            if resp.status_code != 201:
                raise RuntimeError(
                    f"POST /api/v1/datasets -> {resp.status_code}: {resp.text[:500]}"
                )
        if http_ms:
            out["registration_http"] = {
                "datasets": len(http_ms),
                "datasets_per_s": round(len(http_ms) * 1000 / sum(http_ms), 1),
                **latency_summary(http_ms),
                "machine": http_load.summary(),
            }
            log(
                f"{backend}: HTTP registration "
                f"{out['registration_http']['datasets_per_s']:,} datasets/s"
            )

        if backend == "postgresql":
            # What autovacuum does shortly after a bulk load; done now so plans do not depend
            # on when the daemon last woke up.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        out["database"]["size_bytes"] = database_size(engine, backend, home, args.pg_schema)
        out["catalog"] = describe_catalog(metas)

        # 3. searches
        rng = random.Random(f"queries:{args.seed}")
        queries = build_queries(metas, args.steward_org, args.queries, rng)
        warmups = build_queries(metas, args.steward_org, args.warmup, rng)
        steward = identity.authenticate(new_uow(), steward_token)

        def in_process(q: Query) -> tuple[float, int]:
            sq = SearchQuery(text=q.text, filters=q.filters)
            t = time.perf_counter()
            result, _views = service.search_datasets(new_uow(), steward, sq)
            return (time.perf_counter() - t) * 1000, result.count

        search_session = requests.Session()
        search_session.headers["Authorization"] = f"Bearer {steward_token}"

        def over_http(q: Query) -> tuple[float, int]:
            t = time.perf_counter()
            resp = search_session.get(
                server.base + "/api/v1/datasets", params=q.params(), timeout=60
            )
            elapsed = (time.perf_counter() - t) * 1000
            if resp.status_code != 200:
                raise RuntimeError(
                    f"GET /api/v1/datasets?{q.label()} -> {resp.status_code}: {resp.text[:300]}"
                )
            return elapsed, resp.json()["count"]

        searches: dict[str, dict[str, Any]] = {}
        for mode, fn in (("in-process", in_process), ("http", over_http)):
            for kind, qs in queries.items():
                discarded = []
                for attempt in range(1, args.attempts + 1):
                    waited = wait_until_quiet(args, f"{backend} {mode} {kind}")
                    for q in warmups[kind]:
                        fn(q)
                    samples, counts = [], []
                    load = ProcessCpu()
                    for q in qs:
                        ms, count = fn(q)
                        samples.append(ms)
                        counts.append(count)
                    contention = load.summary()
                    if contention["other_cpus"] <= args.max_other_cpus or attempt == args.attempts:
                        break
                    rejected = latency_summary(samples)
                    discarded.append(
                        {
                            "p50_ms": rejected["p50_ms"],
                            "p95_ms": rejected["p95_ms"],
                            "machine": contention,
                        }
                    )
                    log(
                        f"{backend} {mode} {kind}: other processes used "
                        f"{contention['other_cpus']} CPUs during the row; measuring it again"
                    )
                summary = latency_summary(samples)
                summary["machine"] = contention
                summary["waited_for_quiet_s"] = waited
                summary["discarded_attempts"] = discarded
                summary["mean_results"] = round(sum(counts) / len(counts), 1)
                summary["median_results"] = sorted(counts)[len(counts) // 2]
                summary["empty_results"] = sum(1 for c in counts if c == 0)
                order = sorted(range(len(samples)), key=samples.__getitem__)
                summary["slowest"] = [
                    {"query": qs[k].label(), "ms": round(samples[k], 1), "results": counts[k]}
                    for k in order[-3:][::-1]
                ]
                searches.setdefault(mode, {})[kind] = summary
                log(
                    f"{backend} {mode:10} {kind:22} p50 {summary['p50_ms']:7.1f}  "
                    f"p95 {summary['p95_ms']:7.1f}  p99 {summary['p99_ms']:7.1f} ms  "
                    f"mean results {summary['mean_results']:,}"
                )
                if mode == "in-process":
                    summary["_samples"] = samples  # for the profile step; removed below
        out["search"] = searches

        if args.profile:
            out["profile_search"] = profile_search(
                engine, backend, queries, searches, in_process, results_stamp, args.results_path
            )
        for kind in queries:
            searches["in-process"][kind].pop("_samples", None)
        completed = True
    finally:
        if server is not None:
            server.stop()
        engine.dispose()
        if args.keep or not completed:
            log(
                f"{backend}: kept {home} (server log: {home / 'server.log'})"
                + (f" and schema {args.pg_schema}" if backend == "postgresql" else "")
            )
        else:
            shutil.rmtree(home, ignore_errors=True)
            if backend == "postgresql":
                reset_pg_schema(args.pg_url, args.pg_schema, create=False)
    return out


def profile_search(
    engine: Any,
    backend: str,
    queries: dict[str, list[Query]],
    searches: dict[str, dict[str, Any]],
    in_process: Callable[[Query], tuple[float, int]],
    stamp: str,
    results_dir: Path,
) -> dict[str, Any]:
    """cProfile and SQL time of each query kind in-process, and the plans of its p95 query."""
    report: dict[str, Any] = {}
    for kind, qs in queries.items():
        subset = qs[:100]
        with StatementTimer(engine) as timer:
            t = time.perf_counter()
            for q in subset:
                in_process(q)
            total = time.perf_counter() - t
        profiler = cProfile.Profile()
        profiler.enable()
        for q in subset:
            in_process(q)
        profiler.disable()
        if backend == "sqlite":
            db_seconds = sqlite_driver_seconds(profiler)
        else:
            db_seconds = sum(sum(v) for v in timer.times.values())
        samples = searches["in-process"][kind]["_samples"]
        order = sorted(range(len(samples)), key=samples.__getitem__)
        p95_query = qs[order[int(0.95 * (len(order) - 1))]]
        with StatementTimer(engine) as capture:
            capture.capture = True
            in_process(p95_query)
        report[kind] = {
            "queries": len(subset),
            "ms_per_query": round(total * 1000 / len(subset), 2),
            "sql_ms_per_query": round(db_seconds * 1000 / len(subset), 2),
            "sql": timer.report(len(subset)),
            "cprofile": profile_top(
                profiler, results_dir / f"catalog_search-{stamp}-{backend}-{kind}.pstats"
            ),
            "p95_query": p95_query.label(),
            "plans": explain(engine, backend, capture.captured),
        }
        log(
            f"{backend} profile {kind}: {report[kind]['ms_per_query']} ms/query, "
            f"{report[kind]['sql_ms_per_query']} ms of it in SQL"
        )
    return report


