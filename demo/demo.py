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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step(text: str) -> None:
    print(f"\n== {text}")


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    step(f"Set up identities (embedded defaults under {HOME})")
    cli("orgs", "create", "health", "--name", "Health Data Agency")
    cli("orgs", "create", "defence", "--name", "Defence Research Agency")
    cli("projects", "create", "cardio-ai", "--org", "health", "--name", "Cardiology foundation model")
    cli("projects", "create", "open-llm", "--org", "defence", "--name", "Open-data language model")
    token = {}
    for name, args in {"hda-steward": ("--role", "steward", "--org", "health"),
                       "dra-steward": ("--role", "steward", "--org", "defence"),
                       "cardio-member": ("--role", "member", "--project", "cardio-ai"),
                       "llm-member": ("--role", "member", "--project", "open-llm")}.items():
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
    finally:
        server.terminate()
        server.wait(timeout=10)

    step("The same catalog from the command line: connector datasets search air")
    print(cli("datasets", "search", "air").rstrip())
    print("\ndemo: done")


if __name__ == "__main__":
    main()
