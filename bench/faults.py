#!/usr/bin/env python
"""Fault loop (issue 11, item 5): SIGKILL the staging worker at a random moment, restart it.

One run, on the embedded default (SQLite and a ``file://`` tier under a temporary
``CONNECTOR_HOME``), driven through the real commands: ``connector orgs/projects/users`` to set
up, ``connector serve`` for the API, ``connector worker`` as its own process group.

1. ``--baseline`` stagings run without a kill, to time an undisturbed staging and its phases.
2. ``--kills`` stagings of the same CSV (``--mib``, the anchors' ``gen_data.py``), each of its
   own dataset, agreement and job. For each the script picks a target phase (read, encode,
   fsync, publish; in shuffled rounds so every phase is aimed at) and a random moment in it,
   found by polling the job's recorded progress (``GET /api/v1/stagings/<id>``) and the tier:
   *read* a random delay after the claim (before the first row group is recorded), *encode*
   when a random share of the rows is recorded, *fsync* a random delay after the last row
   group (parts being closed and fsynced) and *publish* the moment the manifest appears in the
   hidden temporary folder. It then SIGKILLs the worker's whole process group (the worker and
   any job process it forked), records which phase the kill hit (from the job's last recorded
   progress and the tier after the kill), checks that no partial version is visible, and
   starts a new worker, which takes the job over once its lease (``--lease``) runs out.
3. After every publish: the version folder holds exactly the files its manifest lists, at
   their sizes, and pyarrow reads back exactly the source's rows. At the end: the temporary
   bytes left on the tier.

Time lost per kill = the moment the restarted worker claims the job again (its ``attempts``
grow) - the moment the killed worker had claimed it: the work thrown away, the wait for the
lease and the new worker's start. Also reported, noisier on a shared machine: request to
published minus the baseline's median.

    .venv/bin/python bench/faults.py                              # 20 kills at 1 GiB
    .venv/bin/python bench/faults.py --mib 64 --kills 4 --no-docs  # smoke
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import DOCS_PATH, REPO, RESULTS_DIR, SCRATCH, log, machine, tier
from _common.data import DEFAULT_ANCHORS, ensure_data
from _common.docs import markers, update_docs
from _common.procs import FSYNC_SYSCALLS, ProcessCpu, descendants, group_members, in_syscall, kill_group
from _common.service import Server, cli_json, connector_command
from _faults_report import docs_section, summarize

PHASES = ("read", "encode", "fsync", "publish")
MARK_BEGIN, MARK_END = markers("faults")
ORG, PROJECT = "bench", "faults"


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Worker:
    """``connector worker`` in its own session, so that a kill takes its whole process group."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._log = open(log_path, "a")  # noqa: SIM115  (closed in kill()/stop())
        self.proc = subprocess.Popen([*connector_command(), "worker"], env=env, cwd=env["CONNECTOR_HOME"],
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started = time.monotonic()

    def pids(self) -> list[int]:
        """The worker and every process it runs jobs in."""
        return sorted(set(group_members(self.proc.pid)) | {self.proc.pid, *descendants(self.proc.pid)})

    def kill(self) -> list[int]:
        members = kill_group(self.proc.pid)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in members) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.survivors = [pid for pid in members if _alive(pid)]
        self._log.close()
        return members

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                kill_group(self.proc.pid)
                self.proc.wait()
        self._log.close()


class Service:
    """The set-up and the job as the API shows them."""

    def __init__(self, env: dict[str, str], home: Path, source: Path) -> None:
        import requests

        self.http = requests.Session()
        cli_json(env, "orgs", "create", ORG, "--name", "Fault loop", "--json")
        cli_json(env, "projects", "create", PROJECT, "--org", ORG, "--json")
        self.steward = cli_json(env, "users", "create", "steward", "--role", "steward", "--org", ORG,
                                "--json")
        self.member = cli_json(env, "users", "create", "member", "--role", "member", "--project", PROJECT,
                               "--json")
        self.server = Server(env, home / "serve.log", threads=4)
        self.source = source

    def call(self, method: str, path: str, who: dict[str, Any], body: Any = None) -> Any:
        response = self.http.request(method, self.server.base + path, json=body, timeout=60,
                                     headers={"Authorization": f"Bearer {who['token']}"})
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:400]}")
        return response.json()

    def agreement(self, i: int) -> dict[str, Any]:
        """A dataset of its own (so each staging publishes its own version), an offer, an
        agreement."""
        dataset = self.call("POST", "/api/v1/datasets", self.steward, {
            "identifier": f"urn:bench:faults:{i}", "title": {"en": f"Fault loop {i}"},
            "description": "bench/faults.py", "publisher": {"name": "Fault loop"},
            "accessRights": "RESTRICTED", "theme": ["TECH"],
            "distribution": [{"accessURL": self.source.as_uri(), "format": "CSV", "mediaType": "text/csv"}]})
        offer = self.call("POST", f"/api/v1/datasets/{dataset['id']}/offers", self.steward,
                          {"template": "open-data", "parameters": {
                              "license": "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"}})
        request = self.call("POST", "/api/v1/access-requests", self.member, {
            "dataset": dataset["id"], "offer": offer["id"], "project": PROJECT,
            "purpose": "scientificResearch", "duration": "P30D"})
        if request["state"] != "agreed":
            raise RuntimeError(f"access request {request['state']}: {request.get('decision')}")
        return {"dataset": dataset["id"], "agreement": request["agreement"]}

    def stage(self, agreement: str) -> dict[str, Any]:
        return self.call("POST", "/api/v1/stagings", self.member, {"agreement": agreement})

    def job(self, job_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v1/stagings/{job_id}", self.member)


def observed_phase(job: dict[str, Any], dataset_dir: Path, total_rows: int, in_fsync: bool) -> str:
    """The phase a kill hit, from the job's last recorded progress, the tier after it and
    whether a worker thread was seen inside fsync(2) just before it."""
    if job["state"] == "published":
        return "missed"  # the worker had published and recorded the job before the kill
    if tier.published_folder(dataset_dir) or tier.publishing(dataset_dir):
        return "publish"
    rows = int((job.get("progress") or {}).get("rows", 0))
    if in_fsync or rows >= total_rows:
        return "fsync"
    return "encode" if rows > 0 else "read"


def wait_for(predicate: Any, timeout: float, poll: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False


def stage_round(args: argparse.Namespace, svc: Service, env: dict[str, str], storage: Path,
                data: dict[str, Any], i: int, target: str | None, base: dict[str, float], rng: random.Random,
                worker: Worker) -> tuple[dict[str, Any], Worker]:
    """One staging; with ``target``, one kill in that phase and a restart. Returns the record
    and the worker now running."""
    made = svc.agreement(i)
    dataset_dir = storage / PROJECT / made["dataset"]
    rec: dict[str, Any] = {"round": i, "target": target, "dataset": made["dataset"]}
    t0 = time.monotonic()
    job = svc.stage(made["agreement"])
    rec["job"] = job["id"]
    marks: dict[str, float] = {}

    def seen(job: dict[str, Any]) -> None:
        now = time.monotonic() - t0
        rows = int((job.get("progress") or {}).get("rows", 0))
        if job["state"] == "running":
            marks.setdefault("claimed", now)
        if "attempts_at_kill" in rec and int(job.get("attempts") or 0) > rec["attempts_at_kill"]:
            marks.setdefault("reclaimed", now)  # the restarted worker took the job over
        if rows > 0:
            marks.setdefault("first_rows", now)
        if rows >= data["rows"]:
            marks.setdefault("all_rows", now)

    def poll_job() -> dict[str, Any]:
        current = svc.job(job["id"])
        seen(current)
        return current

    if target is not None:
        wait_for(lambda: poll_job()["state"] != "queued", 120, args.poll)
        if target == "read":
            time.sleep(rng.uniform(0, 0.9 * base["first_rows"]))
        elif target == "encode":
            share = rng.uniform(0.05, 0.95)
            rec["target_rows"] = int(share * data["rows"])
            wait_for(lambda: int(poll_job()["progress"].get("rows", 0)) >= rec["target_rows"], 600, args.poll)
        elif target == "fsync":  # the first fsync(2) of a part after a random share of the rows
            rec["target_rows"] = int(rng.uniform(0, 0.9) * data["rows"])
            wait_for(lambda: int(poll_job()["progress"].get("rows", 0)) >= rec["target_rows"], 600, args.poll)
            numbers = FSYNC_SYSCALLS.get(platform.machine(), set())
            pids = worker.pids()  # once: a walk of /proc per look would miss short fsyncs

            def fsync_or_publish() -> bool:
                rec["in_fsync"] = in_syscall(pids, numbers)
                return rec["in_fsync"] or tier.publishing(dataset_dir) or tier.published_folder(dataset_dir)

            wait_for(fsync_or_publish, 600, 0.0005)
        else:  # publish: croissant.json, then the manifest, are written, the rename is next
            wait_for(lambda: tier.publishing(dataset_dir) or tier.published_folder(dataset_dir),
                     600, 0.0005)
        rec["killed_at_s"] = round(time.monotonic() - t0, 3)
        rec["killed_pids"] = len(worker.kill())
        rec["survivors"] = len(worker.survivors)  # processes still alive 10 s after the SIGKILL
        after = svc.job(job["id"])
        rec["hit"] = observed_phase(after, dataset_dir, data["rows"], rec.get("in_fsync", False))
        rec["rows_at_kill"] = int((after.get("progress") or {}).get("rows", 0))
        rec["state_at_kill"] = after["state"]
        rec["attempts_at_kill"] = int(after.get("attempts") or 0)
        rec["visible_after_kill"] = tier.visible_versions(storage)
        rec["temporary_after_kill"] = sum(tier.temporary(storage).values())
        worker = Worker(env, Path(env["CONNECTOR_HOME"]) / "worker.log")
    final = svc.job(job["id"])
    deadline = time.monotonic() + args.round_timeout
    while final["state"] not in ("published", "failed", "cancelled") and time.monotonic() < deadline:
        if tier.publishing(dataset_dir):
            marks.setdefault("publishing", time.monotonic() - t0)
        time.sleep(args.poll)
        final = poll_job()
    rec.update(state=final["state"], attempts=final.get("attempts"), error=final.get("error"),
               total_s=round(time.monotonic() - t0, 3), marks={k: round(v, 3) for k, v in marks.items()})
    version = dataset_dir / "1"
    if final["state"] == "published":
        rec["problems"] = tier.version_problems(version)
        rec["read_back"] = tier.read_back_rows(version)
    log(f"round {i}: target {target or '-'} hit {rec.get('hit', '-')} at {rec.get('killed_at_s', '-')} s, "
        f"{final['state']} after {rec['total_s']:.1f} s (attempts {final.get('attempts')}), "
        f"rows read back {rec.get('read_back', {}).get('rows')}")
    return rec, worker


def baseline_marks(records: list[dict[str, Any]]) -> dict[str, float]:
    """Median moments of the undisturbed stagings: first rows after the claim, and close (all
    rows recorded to the publish starting)."""
    import statistics

    first = [r["marks"]["first_rows"] - r["marks"].get("claimed", 0) for r in records
             if "first_rows" in r["marks"]]
    close = [r["marks"]["publishing"] - r["marks"]["all_rows"] for r in records
             if {"publishing", "all_rows"} <= r["marks"].keys()]
    return {"first_rows": statistics.median(first) if first else 0.5,
            "close": statistics.median(close) if close else 0.1,
            "total": statistics.median(r["total_s"] for r in records)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mib", type=int, default=1024, help="size of the generated CSV")
    p.add_argument("--kills", type=int, default=20, help="stagings killed once each")
    p.add_argument("--baseline", type=int, default=2, help="undisturbed stagings first")
    p.add_argument("--lease", type=int, default=5, help="CONNECTOR_JOB_LEASE_SECONDS of the workers")
    p.add_argument("--warmup", type=float, default=5, help="seconds given the first worker to start")
    p.add_argument("--poll", type=float, default=0.02, help="seconds between looks at the job")
    p.add_argument("--round-timeout", type=float, default=900, help="longest wait for a publish")
    p.add_argument("--seed", type=int, default=20261126)
    p.add_argument("--data", default=str(SCRATCH / "data"), help="cache of generated inputs")
    p.add_argument("--anchors", default=str(DEFAULT_ANCHORS), help="folder of the anchors' gen_data.py")
    p.add_argument("--results", default=str(RESULTS_DIR), help="where the JSON results go")
    p.add_argument("--docs", default=str(DOCS_PATH), help="Markdown file whose faults section is rewritten")
    p.add_argument("--no-docs", action="store_true", help="do not touch the docs")
    p.add_argument("--keep", action="store_true", help="keep the temporary CONNECTOR_HOME")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["bench/faults.py", *(sys.argv[1:] if argv is None else argv)])
    started = dt.datetime.now(dt.UTC)
    git = machine.git_state("connector", "bench/faults.py")
    os.makedirs(args.data, exist_ok=True)
    data = ensure_data(args.data, args.anchors, "csv", args.mib)
    home = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    source = home / "sources" / ORG / "data.csv"  # also under a per-organisation root, if roots become so
    source.parent.mkdir(parents=True)
    try:
        os.link(data["path"], source)
    except OSError:
        shutil.copyfile(data["path"], source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update(CONNECTOR_HOME=str(home), CONNECTOR_JOB_LEASE_SECONDS=str(args.lease),
               CONNECTOR_WORKER_POLL_SECONDS="0.2", CONNECTOR_PSEUDONYMISATION_SECRET="f" * 32,
               AWS_EC2_METADATA_DISABLED="true", PYTHONPATH=str(REPO),
               CONNECTOR_WORKER_IN_PROCESS="false")  # jobs run only in the worker this script kills
    storage = home / "storage"
    rng = random.Random(args.seed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server and worker on the way out
    load = ProcessCpu()
    svc = Service(env, home, source)
    worker = Worker(env, home / "worker.log")
    records: list[dict[str, Any]] = []
    time.sleep(args.warmup)  # the worker's start is not part of the undisturbed staging's time
    try:
        for i in range(args.baseline):
            rec, worker = stage_round(args, svc, env, storage, data, i, None, {}, rng, worker)
            records.append(rec)
        base = baseline_marks(records)
        log(f"baseline: {base}")
        targets: list[str] = []
        while len(targets) < args.kills:
            block = list(PHASES)
            rng.shuffle(block)
            targets += block
        todo, misses = targets[: args.kills], 0
        while todo:
            rec, worker = stage_round(args, svc, env, storage, data, len(records), todo[0], base, rng,
                                      worker)
            records.append(rec)
            if rec["hit"] == "missed" and misses < args.kills:  # aim at the same phase again
                misses += 1
                continue
            todo.pop(0)
    finally:
        worker.stop()
        svc.server.stop()
    left = tier.temporary(storage)
    visible = tier.visible_versions(storage)
    result = {
        "command": command, "started": started.isoformat(timespec="seconds"),
        "machine": machine.describe(("pyarrow", "SQLAlchemy", "psutil")), "git": git,
        "load": load.summary(), "args": vars(args), "input": data, "baseline": base, "records": records,
        "temporary_left": left, "visible_at_end": visible,
    }
    result["summary"] = summarize(result)
    os.makedirs(args.results, exist_ok=True)
    path = Path(args.results) / f"faults-{started.strftime('%Y%m%dT%H%M%S')}.json"
    result["results_file"] = str(path)
    path.write_text(json.dumps(result, indent=1))
    section = docs_section(result, MARK_BEGIN, MARK_END)
    print(section)
    log(f"results: {path}")
    if not args.no_docs:
        update_docs(Path(args.docs), MARK_BEGIN, MARK_END, section)
        log(f"rewrote the faults section of {args.docs}")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if result["summary"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
