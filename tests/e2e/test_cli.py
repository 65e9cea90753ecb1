"""The ``connector`` command as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import dataset_body


def run(env, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "connector", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def ok(env, *args, stdin=None):
    result = run(env, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def org(cli_env):
    ok(cli_env, "orgs", "create", "health", "--name", "Health Data Agency")
    ok(cli_env, "projects", "create", "cardio", "--org", "health")
    return cli_env


def test_users_create_prints_the_token_once_as_json(org):
    out = json.loads(ok(org, "users", "create", "alice", "--role", "steward", "--org", "health",
                        "--json"))
    assert out["token"].startswith("cnr_") and out["role"] == "steward"
    listing = json.loads(ok(org, "users", "list", "--json"))
    assert listing == [{"name": "alice", "role": "steward", "organisation": "health",
                        "projects": []}]
    assert out["token"] not in ok(org, "users", "list")


def test_datasets_add_show_list_and_search(org, tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(dataset_body(identifier="urn:cli:1", title="CLI registry")))
    created = json.loads(ok(org, "datasets", "add", str(path), "--org", "health", "--json"))
    assert created["version"] == 1
    shown = json.loads(ok(org, "datasets", "show", created["id"]))
    assert shown["identifier"] == "urn:cli:1"
    found = json.loads(ok(org, "datasets", "search", "cli", "registry", "--theme", "HEAL",
                          "--json"))
    assert found["count"] == 1 and found["items"][0]["id"] == created["id"]
    assert "1 dataset(s)" in ok(org, "datasets", "list")


def test_datasets_add_reads_the_document_from_standard_input(org):
    out = ok(org, "datasets", "add", "-", "--org", "health", "--json",
             stdin=json.dumps(dataset_body()))
    assert json.loads(out)["organisation"] == "health"


@pytest.mark.parametrize("args,stdin,fragment", [
    (("users", "create", "bob", "--role", "steward"), None, "a steward needs --org"),
    (("users", "create", "bob", "--role", "member", "--project", "nope"), None, "no project"),
    (("orgs", "create", "Not A Slug"), None, "invalid slug"),
    (("datasets", "add", "-", "--org", "health"), "{broken", "malformed JSON"),
    (("datasets", "add", "-", "--org", "health"), '{"title": "x"}', "'description' is a required"),
    (("datasets", "add", "/no/such/file.json"), None, "No such file"),
    (("datasets", "show", "missing"), None, "no dataset"),
])
def test_errors_are_one_line_on_stderr_with_non_zero_exit(org, args, stdin, fragment):
    result = run(org, *args, stdin=stdin)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("connector: error:"), result.stderr
    assert fragment in lines[0]


def test_duplicate_organisation_is_refused_and_the_first_kept(org):
    result = run(org, "orgs", "create", "health", "--name", "Impostor")
    assert result.returncode == 1 and "exists already" in result.stderr
    assert json.loads(ok(org, "orgs", "list", "--json")) == [
        {"slug": "health", "name": "Health Data Agency"}]


def test_bad_configuration_is_a_usage_error(org):
    result = run({**org, "CONNECTOR_MAX_CONTENT_LENGTH": "lots"}, "orgs", "list")
    assert result.returncode == 2 and "MAX_CONTENT_LENGTH" in result.stderr


def test_db_upgrade_reports_the_head_revision(org):
    from connector import db

    head = db.head_revision(db.make_engine("sqlite://"))
    assert f"database at revision {head}" in ok(org, "db", "upgrade")


def request_file(org, tmp_path, *offer_options: str):
    """A RESTRICTED dataset of ``health`` with the health template's offer (``offer_options``
    added), a member ``mia`` of ``cardio``, and her access request written to a file."""
    ok(org, "users", "create", "mia", "--role", "member", "--project", "cardio")
    path = tmp_path / "d.json"
    path.write_text(json.dumps(dataset_body(accessRights="RESTRICTED")))
    dataset = json.loads(ok(org, "datasets", "add", str(path), "--org", "health", "--json"))
    offer = json.loads(ok(
        org, "offers", "add", dataset["id"], "--template", "health-secondary-use",
        "--param", 'permit_ids=["P-1"]', "--param", 'projects=["cardio"]',
        "--param", "processing_location=ai-factory", "--param", 'identifying_columns=["patient_id"]',
        "--param", "retention_days=30", *offer_options, "--json"))
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"dataset": dataset["id"], "offer": offer["id"],
                                   "project": "cardio", "purpose": "scientificResearch",
                                   "duration": "P20D", "attributes": {"dataPermit": "P-1"}}))
    return request


def test_request_approval_and_revocation_from_the_command_line_are_audited(org, tmp_path):
    ok(org, "projects", "set", "cardio", "ethicsApproval", "true")
    request = request_file(org, tmp_path, "--approval", "steward")
    filed = json.loads(ok(org, "requests", "create", str(request), "--as", "mia", "--json"))
    assert filed["state"] == "pending_approval"
    assert filed["id"] in ok(org, "requests", "list", "--state", "pending_approval")
    approved = json.loads(ok(org, "requests", "approve", filed["id"], "--json"))
    agreement = approved["agreement"]
    assert json.loads(ok(org, "agreements", "show", agreement))["state"] == "active"
    ok(org, "agreements", "revoke", agreement, "--comment", "ethics approval withdrawn")
    listed = json.loads(ok(org, "agreements", "list", "--json"))
    assert [(a["id"], a["state"]) for a in listed] == [(agreement, "revoked")]
    events = [json.loads(line) for line in ok(org, "audit", "export").splitlines()]
    assert [e["action"] for e in events if e["objectType"] in ("access_request", "agreement")] == [
        "access_request.decide", "access_request.approve", "agreement.revoke"]


def test_a_request_agreed_at_once_prints_its_agreement_id(org, tmp_path):
    request = request_file(org, tmp_path)
    printed = ok(org, "requests", "create", str(request), "--as", "mia")
    [agreement] = json.loads(ok(org, "agreements", "list", "--json"))
    assert " agreed " in printed and f"agreement {agreement['id']}" in printed


def test_evaluate_prints_the_decision_and_exits_non_zero_unless_permitted(org, tmp_path):
    from connector.policies import templates

    body = tmp_path / "e.json"
    body.write_text(json.dumps({
        "policy": templates.research_eu("urn:p:1"),
        "request": {"purpose": "scientificResearch", "region": "FR"}}))
    result = run(org, "evaluate", str(body))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["decision"] == "permit"
    body.write_text(json.dumps({"policy": templates.research_eu("urn:p:1"),
                                "request": {"purpose": "marketing", "region": "FR"}}))
    result = run(org, "evaluate", str(body))
    assert result.returncode == 3 and json.loads(result.stdout)["decision"] == "deny"
