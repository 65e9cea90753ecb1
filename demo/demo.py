"""The main job on embedded defaults: start the server, register datasets, search them.

Run with ``make demo``. It uses a fresh ``instance/demo`` folder (SQLite and local storage),
drives the real ``connector`` command and the real HTTP API, and prints what happened.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
HOME = ROOT.parent / "instance" / "demo"
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")},
       "CONNECTOR_HOME": str(HOME)}


def cli(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "connector", *args], env=ENV,
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"demo: `connector {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout


def http(method: str, url: str, token: str, body: object = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def penguins_csv() -> Path:
    """The Palmer penguins raw data (CC0) shipped by the palmerpenguins package, found without
    importing it (its __init__ imports pandas)."""
    import importlib.util

    spec = importlib.util.find_spec("palmerpenguins")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("demo: palmerpenguins is not installed (make demo installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "penguins-raw.csv"


def wait_for_job(base: str, token: str, job_id: str, states: set[str], seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status, job = http("GET", f"{base}/api/v1/stagings/{job_id}", token)
        if job["state"] in states or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step(text: str) -> None:
    print(f"\n== {text}")


PENGUIN_POLICY = {
    "@id": "urn:demo:policy:penguins-research", "@type": "Offer",
    "profile": "urn:connector:odrl-profile:v1",
    "permission": [{
        "action": "use",
        "constraint": [
            {"leftOperand": "purpose", "operator": "isA", "rightOperand": "research"},
            {"leftOperand": "recipient", "operator": "isAnyOf", "rightOperand": ["eco-ai"]},
            {"leftOperand": "spatial", "operator": "isPartOf", "rightOperand": ["EU"]},
            {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P90D"}],
        "duty": [{"action": "pseudonymize", "target": "column:Individual%20ID"},
                 {"action": "delete"}]}]}


def usage_control_and_staging(base: str, token: dict[str, str]) -> None:
    """Register real public data, attach an ODRL offer, agree, stage as Parquet, read, revoke."""
    source = HOME / "sources" / "polar" / "penguins-raw.csv"  # under its organisation's root
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(penguins_csv(), source)
    source_rows = sum(1 for _ in source.open()) - 1

    step("The polar steward registers real public data (Palmer penguins, CC0) and attaches an ODRL offer")
    status, dataset = http("POST", base + "/api/v1/datasets", token["polar-steward"], {
        "title": "Palmer Archipelago penguin measurements (raw)",
        "description": "Size and isotope measurements of 344 penguins, Palmer Station LTER, 2007-2009"
                       " (Gorman, Williams and Fraser 2014).",
        "publisher": {"name": "Polar Research Institute"},
        "keyword": ["penguins", "ecology", "Antarctica"], "theme": ["ENVI"],
        "license": "https://creativecommons.org/publicdomain/zero/1.0/",
        "accessRights": "PUBLIC", "sector": "environment",
        "distribution": [{"accessURL": source.as_uri(), "format": "CSV", "mediaType": "text/csv"}]})
    assert status == 201, dataset
    status, offer = http("POST", f"{base}/api/v1/datasets/{dataset['id']}/offers",
                         token["polar-steward"], {"policy": PENGUIN_POLICY})
    assert status == 201, offer
    print(f"  dataset {dataset['id']}, offer {offer['id']}: research in the EU by eco-ai, "
          "at most 90 days, 'Individual ID' pseudonymised, deleted at the end")

    step("Dry runs: would the request be permitted, and why not?")
    for who, request in (("eco-member", {"project": "eco-ai", "purpose": "marketing"}),
                         ("llm-member", {"project": "open-llm", "purpose": "scientificResearch"})):
        request.update({"start": "2027-01-01T00:00:00Z", "end": "2027-02-01T00:00:00Z"})
        status, decision = http("POST", base + "/api/v1/policies/evaluate", token[who],
                                {"policy": offer["id"], "request": request})
        print(f"  {request['project']}, purpose {request['purpose']}: {decision['decision']}")
        for reason in decision["reasons"]:
            print(f"    - {reason}")

    step("A member of eco-ai requests access for scientific research, 60 days")
    status, request = http("POST", base + "/api/v1/access-requests", token["eco-member"], {
        "dataset": dataset["id"], "offer": offer["id"], "project": "eco-ai",
        "purpose": "scientificResearch", "duration": "P60D"})
    assert status == 201 and request["state"] == "agreed", request
    status, agreement = http("GET", f"{base}/api/v1/agreements/{request['agreement']}",
                             token["eco-member"])
    print(f"  {request['state']}: agreement {agreement['id']} on version {agreement['version']}, "
          f"until {agreement['end']}")
    print("  obligations: " + ", ".join(
        f"{o['action']} {o['duty'].get('target', '')}".strip() for o in agreement["obligations"]))

    step("Stage it into the storage tier as Parquet (POST /api/v1/stagings)")
    status, job = http("POST", base + "/api/v1/stagings", token["eco-member"],
                       {"agreement": agreement["id"]})
    print(f"  {status} job {job['id']} {job['state']}")
    job = wait_for_job(base, token["eco-member"], job["id"], {"published", "failed", "cancelled"})
    assert job["state"] == "published", job
    print(f"  {job['state']}: {job['rows']} rows, {job['bytes']} bytes at {job['location']}")

    step("A training job reads it from the tier without asking the service")
    import pyarrow.parquet as pq

    from connector.client import open_dataset

    table = open_dataset(job["location"], verify=True).to_table()
    path = Path(job["location"].removeprefix("file://"))
    parts = sorted(path.glob("part-*.parquet"))
    plain = sum(pq.read_metadata(p).num_rows for p in parts)
    print(f"  source CSV rows {source_rows}; connector.client rows {table.num_rows}; "
          f"pyarrow.parquet rows {plain}")
    assert source_rows == table.num_rows == plain
    print(f"  'Individual ID' now reads {table.column('Individual ID')[0].as_py()[:16]}... "
          "(keyed HMAC-SHA256, stable inside eco-ai only)")
    print(f"  files: {', '.join(p.name for p in sorted(path.iterdir()))}")

    step("The steward revokes the agreement: the worker removes the data")
    http("POST", f"{base}/api/v1/agreements/{agreement['id']}/revoke", token["polar-steward"],
         {"comment": "demo: end of the study"})
    job = wait_for_job(base, token["eco-member"], job["id"], {"removed"})
    print(f"  job {job['state']} at {job['removed']}; folder exists: {path.exists()}")


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    step(f"Set up identities (embedded defaults under {HOME})")
    cli("orgs", "create", "health", "--name", "Health Data Agency")
    cli("orgs", "create", "defence", "--name", "Defence Research Agency")
    cli("orgs", "create", "polar", "--name", "Polar Research Institute")
    cli("projects", "create", "cardio-ai", "--org", "health", "--name", "Cardiology foundation model")
    cli("projects", "create", "open-llm", "--org", "defence", "--name", "Open-data language model")
    cli("projects", "create", "eco-ai", "--org", "polar", "--name", "Seabird ecology model")
    token = {}
    for name, args in {"hda-steward": ("--role", "steward", "--org", "health"),
                       "dra-steward": ("--role", "steward", "--org", "defence"),
                       "cardio-member": ("--role", "member", "--project", "cardio-ai"),
                       "llm-member": ("--role", "member", "--project", "open-llm"),
                       "polar-steward": ("--role", "steward", "--org", "polar"),
                       "eco-member": ("--role", "member", "--project", "eco-ai")}.items():
        token[name] = json.loads(cli("users", "create", name, *args, "--json"))["token"]
        print(f"user {name:<14} {' '.join(args)}")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "connector", "serve", "--port", str(port)],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                    health = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("demo: the server did not start")
        step(f"Server on {base}: {health}")

        step("Stewards register datasets over HTTP (POST /api/v1/datasets)")
        ids = {}
        for path in sorted((ROOT / "datasets").glob("*.json")):
            document = json.loads(path.read_text())
            steward = "dra-steward" if document.get("sector") == "defence" else "hda-steward"
            status, body = http("POST", base + "/api/v1/datasets", token[steward], document)
            assert status == 201, body
            ids[path.stem] = body["id"]
            print(f"{status} {body['id']} v{body['version']} {body['accessRights']:<10} "
                  f"{body['title'].get('en') or next(iter(body['title'].values()))}")

        step("A project member searches: q='heart', theme=HEAL")
        query = urllib.parse.urlencode({"q": "heart", "theme": "HEAL"})
        status, body = http("GET", f"{base}/api/v1/datasets?{query}", token["cardio-member"])
        for item in body["items"]:
            print(f"  {item['accessRights']:<10} {item['title']['en']}")
        print(f"  {body['count']} match(es); facets: "
              + "; ".join(f"{k}=" + ",".join(f"{f['value']}({f['count']})" for f in v)
                          for k, v in body["facets"].items() if k in ("theme", "format", "access_rights")))

        step("Visibility: the same search by a member of another organisation's project")
        status, body = http("GET", f"{base}/api/v1/datasets?{query}", token["llm-member"])
        print(f"  {body['count']} match(es): the RESTRICTED cardiac cohort is invisible to it")
        status, body = http("GET", f"{base}/api/v1/datasets/{ids['cardiac-mri']}", token["llm-member"])
        print(f"  GET the cohort directly: {status} {body['title']}")

        step("The steward revises a dataset: a new immutable version")
        document = json.loads((ROOT / "datasets" / "cardiac-mri.json").read_text())
        document["description"]["en"] += " Extended with 2025 scans."
        url = f"{base}/api/v1/datasets/{ids['cardiac-mri']}"
        status, body = http("PUT", url, token["hda-steward"], document)
        print(f"  {status} now version {body['version']}")
        status, body = http("GET", url + "/versions", token["cardio-member"])
        print("  versions: " + ", ".join(f"v{v['version']} by {v['createdBy']}" for v in body["items"]))

        step("A bad registration is refused with every error listed (problem+json)")
        status, body = http("POST", base + "/api/v1/datasets", token["hda-steward"],
                            {"title": "No description", "theme": ["HEALTH"], "colour": "red"})
        print(f"  {status} {body['title']}")
        for error in body["errors"]:
            print(f"    {error['path']}: {error['message']}")
        usage_control_and_staging(base, token)
    finally:
        server.terminate()
        server.wait(timeout=10)

    step("The same catalog from the command line: connector datasets search air")
    print(cli("datasets", "search", "air").rstrip())
    print("\ndemo: done")


if __name__ == "__main__":
    main()
