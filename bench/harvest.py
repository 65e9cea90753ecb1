#!/usr/bin/env python
"""Harvest benchmark: CKAN records per second and peak memory, 10,000 records in pages of 1,000.

A CKAN portal on 127.0.0.1 (threaded ``http.server``) answers ``package_search`` with generated
but realistic packages: titles and notes from an environment/health/mobility vocabulary, an
organisation, a CKAN licence id, 3-8 tags, 1-4 resources (CSV, JSON, PDF, API; size, sha256
hash, mime type), ckanext-dcat scheming fields on a third of them (identifier, theme,
temporal coverage, contact). Package *i* is the same in every run. The connector harvests the
portal into a fresh database (SQLite by default, PostgreSQL with ``--backend postgresql``)
through ``connector.catalog.harvest.runs`` exactly as the worker does: HTTP fetch, mapping,
schema validation, new records registered a chunk at a time (``register_datasets``), per-record
results.

Each repetition runs in a child process (so its peak RSS is its own) after a quiet-machine
check (other processes below ``--quiet-cpus`` CPUs, waiting at most ``--quiet-wait`` s in all).
At 2,000, 5,000 and 10,000 records handed to the service the child notes the elapsed time and
its peak RSS; flat memory shows as the same peak at every checkpoint. The parent prints medians
and writes JSON under ``bench/results/``.

    .venv/bin/python bench/harvest.py                      # 10,000 records, SQLite, 3 repetitions
    .venv/bin/python bench/harvest.py --records 2000 --repeat 1    # a quick check
    .venv/bin/python bench/harvest.py --backend postgresql --pg-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from _common import REPO, RESULTS_DIR

sys.path.insert(0, str(REPO))
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHECKPOINTS = (2000, 5000, 10000)
TARGET_RECORDS_PER_SECOND = 500

SUBJECTS = ("air quality", "noise levels", "traffic counts", "bicycle counters", "water quality",
            "hospital admissions", "vaccination coverage", "energy consumption", "solar output",
            "bus punctuality", "parking occupancy", "river levels", "pollen counts", "waste collection")
PLACES = ("Berlin", "Lyon", "Turin", "Rotterdam", "Porto", "Gdansk", "Ghent", "Brno", "Tartu", "Malaga")
ORGS = (("env-agency", "Environment Agency"), ("health-office", "Public Health Office"),
        ("mobility", "Mobility Department"), ("energy-board", "Energy Board"))
LICENCES = ("cc-by", "cc-by-sa", "cc-zero", "odc-odbl", "odc-by", "other-open")
TAGS = ("environment", "open data", "sensors", "statistics", "transport", "health", "energy", "climate",
        "city", "real-time", "monthly", "annual", "geospatial", "time series")
THEMES = ("ENVI", "HEAL", "TRAN", "ENER", "REGI", "SOCI")
FORMATS = (("CSV", "text/csv", ".csv"), ("JSON", "application/json", ".json"),
           ("PDF", "application/pdf", ".pdf"), ("API", None, ""))


def ckan_package(i: int) -> dict[str, Any]:
    """Package ``i`` (seeded by ``i``: the same in every run)."""
    rnd = random.Random(i)
    subject, place = rnd.choice(SUBJECTS), rnd.choice(PLACES)
    org_name, org_title = rnd.choice(ORGS)
    year = 2015 + i % 10
    package: dict[str, Any] = {
        "id": f"{uuid.UUID(int=rnd.getrandbits(128))}",
        "name": f"{subject.replace(' ', '-')}-{place.lower()}-{i}",
        "title": f"{subject.capitalize()} in {place}, {year}",
        "notes": (f"{subject.capitalize()} recorded in {place} during {year}. Collected by the "
                  f"{org_title}; quality-checked and published monthly. ") * rnd.randint(1, 3),
        "license_id": rnd.choice(LICENCES),
        "metadata_created": f"{year}-01-{1 + i % 28:02d}T08:00:00.000000",
        "metadata_modified": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00.{i % 1000000:06d}",
        "organization": {"name": org_name, "title": org_title},
        "tags": [{"name": t} for t in rnd.sample(TAGS, rnd.randint(3, 8))],
        "maintainer": "Open data desk", "maintainer_email": f"opendata@{org_name}.example.eu",
        "url": f"https://{org_name}.example.eu/datasets/{i}",
        "resources": [],
    }
    for n in range(rnd.randint(1, 4)):
        fmt, mime, ext = rnd.choice(FORMATS)
        resource_ = {"id": f"{package['id'][:8]}-r{n}", "name": f"{subject} {place} {year} ({fmt})",
                     "format": fmt, "url": f"https://{org_name}.example.eu/files/{i}/{n}{ext}",
                     "size": rnd.randint(1000, 10 ** 9),
                     "hash": hashlib.sha256(f"{i}/{n}".encode()).hexdigest()}
        if mime:
            resource_["mimetype"] = mime
        package["resources"].append(resource_)
    if i % 3 == 0:  # ckanext-dcat scheming fields
        package.update({
            "identifier": f"https://data.example.eu/id/{package['name']}",
            "theme": [f"http://publications.europa.eu/resource/authority/data-theme/{rnd.choice(THEMES)}"],
            "temporal_coverage": [{"start": f"{year}-01-01", "end": f"{year}-12-31"}],
            "contact": [{"name": "Data steward", "email": f"steward@{org_name}.example.eu"}],
        })
    return package


class Portal:
    """``package_search`` over packages 0..n-1, sorted by position (the ids are random, so the
    portal keeps its own order; paging is what is measured, not Solr)."""

    def __init__(self, records: int) -> None:
        self.records = records
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                start, rows = int(query.get("start", 0)), int(query.get("rows", 10))
                results = [ckan_package(i) for i in range(start, min(start + rows, portal.records))]
                body = json.dumps({"success": True, "result": {"count": portal.records,
                                                               "results": results}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One harvest into a fresh database; returns timings and memory at the checkpoints."""
    from sqlalchemy import text

    from connector import db
    from connector.catalog.harvest import runs, sources
    from connector.catalog.harvest.ckan import CkanHarvester
    from connector.catalog.harvest.settings import HarvestSettings
    from connector.identity import service as identity
    from connector.identity.principal import OPERATOR
    from connector.uow import UnitOfWork

    home = Path(tempfile.mkdtemp(prefix="bench-harvest-"))
    if args.backend == "sqlite":
        url = f"sqlite:///{home / 'connector.db'}"
    else:
        from sqlalchemy.engine import make_url

        schema = "bench_harvest"
        admin = db.make_engine(args.pg_url)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        parsed = make_url(args.pg_url)
        url = parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    engine = db.make_engine(url)
    db.upgrade(engine)
    uow = UnitOfWork(db.make_session_factory(engine))
    identity.create_organisation(uow, "portal-owner")
    portal = Portal(args.records)
    source = sources.add_source(uow, OPERATOR, {"name": "bench-portal", "kind": "ckan", "url": portal.url,
                                                "organisation": "portal-owner",
                                                "options": {"rows": args.rows}},
                                allowlist=("127.0.0.1",))
    marks: list[dict[str, Any]] = []
    started = time.perf_counter()

    class Measured(CkanHarvester):
        def harvest(self, spec, fetch):
            for n, record in enumerate(super().harvest(spec, fetch), 1):
                if n in CHECKPOINTS:
                    elapsed = time.perf_counter() - started
                    marks.append({"records": n, "seconds": round(elapsed, 3),
                                  "records_per_s": round(n / elapsed, 1),
                                  "peak_rss_mib": round(peak_rss_mib(), 1)})
                yield record

    settings = HarvestSettings(allowlist=("127.0.0.1",), lease_seconds=600)
    run, _ = runs.enqueue_run(uow, OPERATOR, source.id)
    claimed = runs.claim_run(uow, "bench", now=db.utcnow(), lease_seconds=600, run_id=run.id)
    run = runs.run_run(uow, claimed, "bench", settings, harvester=Measured())
    total = time.perf_counter() - started
    engine.dispose()
    portal.server.shutdown()
    return {"backend": args.backend, "records": args.records, "state": run.state, "counts": run.counts,
            "seconds": round(total, 3), "records_per_s": round(args.records / total, 1),
            "peak_rss_mib": round(peak_rss_mib(), 1), "checkpoints": marks}


def other_cpus(seconds: float = 2.0) -> float:
    """CPUs busy outside this process over ``seconds`` (from /proc/stat)."""
    def busy() -> tuple[float, float]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
        mine = sum(resource.getrusage(who)[0] + resource.getrusage(who)[1]
                   for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        ticks = os.sysconf("SC_CLK_TCK")
        return (sum(fields) - fields[3] - fields[4]) / ticks, mine

    before, mine_before = busy()
    time.sleep(seconds)
    after, mine_after = busy()
    return round(max(0.0, (after - before) - (mine_after - mine_before)) / seconds, 2)


def wait_quiet(args: argparse.Namespace) -> dict[str, Any]:
    waited = 0.0
    while True:
        others = other_cpus()
        if others <= args.quiet_cpus or waited >= args.quiet_left:
            args.quiet_left = max(0.0, args.quiet_left - waited)
            return {"quiet": others <= args.quiet_cpus, "other_cpus": others, "waited_s": round(waited)}
        time.sleep(10)
        waited += 12


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--rows", type=int, default=1000, help="page size asked of the portal")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("CONNECTOR_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet-cpus", type=float, default=0.5)
    parser.add_argument("--quiet-wait", type=float, default=600.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    args.quiet_left = args.quiet_wait
    runs = []
    for rep in range(args.repeat):
        quiet = wait_quiet(args)
        command = [sys.executable, __file__, "--child", "--records", str(args.records), "--rows",
                   str(args.rows), "--backend", args.backend, "--pg-url", args.pg_url]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1]) | {"quiet": quiet}
        runs.append(result)
        print(f"rep {rep + 1}: {result['records_per_s']} records/s, peak RSS {result['peak_rss_mib']} MiB, "
              f"{result['state']} {result['counts']}  (other CPUs {quiet['other_cpus']})", file=sys.stderr)
    summary = {
        "records_per_s_median": statistics.median(r["records_per_s"] for r in runs),
        "peak_rss_mib_median": statistics.median(r["peak_rss_mib"] for r in runs),
        "checkpoints": [
            {"records": n,
             "records_per_s_median": statistics.median(m["records_per_s"] for r in runs
                                                       for m in r["checkpoints"] if m["records"] == n),
             "peak_rss_mib_median": statistics.median(m["peak_rss_mib"] for r in runs
                                                      for m in r["checkpoints"] if m["records"] == n)}
            for n in CHECKPOINTS if n <= args.records],
        "target_records_per_s": TARGET_RECORDS_PER_SECOND,
    }
    print(f"\nharvest of {args.records} CKAN records ({args.backend}, pages of {args.rows}, "
          f"{len(runs)} repetition(s), medians)")
    print("| records | records/s | peak RSS MiB |\n|---:|---:|---:|")
    for c in summary["checkpoints"]:
        print(f"| {c['records']} | {c['records_per_s_median']} | {c['peak_rss_mib_median']} |")
    print(f"| all {args.records} | {summary['records_per_s_median']} | {summary['peak_rss_mib_median']} |")
    print(f"target >= {TARGET_RECORDS_PER_SECOND} records/s: "
          f"{'met' if summary['records_per_s_median'] >= TARGET_RECORDS_PER_SECOND else 'NOT met'}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"harvest-{args.backend}-{args.records}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "quiet_left"},
                               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                           "platform": platform.platform()},
                               "runs": runs, "summary": summary}, indent=2))
    print(f"results: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
