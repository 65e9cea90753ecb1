"""Done-when of the staging issue, on real public data: the Palmer penguins (CC0) CSV goes from
registration through an agreement to a published Parquet version that pyarrow, DuckDB and
mlcroissant read with the same row count; revoking the agreement removes it."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path

import duckdb
import mlcroissant as mlc
import pyarrow.parquet as pq
import pytest

from connector import client as training
from connector.app import create_app
from connector.worker import Worker
from tests.conftest import ProblemCheckingClient


def penguins_csv() -> Path:
    spec = importlib.util.find_spec("palmerpenguins")
    assert spec and spec.submodule_search_locations, "palmerpenguins is a test dependency"
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "penguins-raw.csv"


@pytest.fixture
def app(clean_database, tmp_path):
    application = create_app({"DATABASE_URL": clean_database, "HOME": str(tmp_path / "home"),
                              "AUTO_MIGRATE": False, "TESTING": True})
    yield application
    application.extensions["connector"].engine.dispose()


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_real_csv_from_registration_to_parquet_and_removal(app, actors):
    client = ProblemCheckingClient(app.test_client())
    source = Path(app.config["SOURCE_ROOTS"][0]) / "health" / "penguins-raw.csv"
    source.parent.mkdir(parents=True)
    shutil.copyfile(penguins_csv(), source)
    with source.open(newline="") as handle:
        source_rows = sum(1 for _ in csv.reader(handle)) - 1

    dataset = client.post("/api/v1/datasets", json={
        "title": "Palmer penguins (raw)", "description": "Gorman, Williams and Fraser 2014.",
        "accessRights": "PUBLIC", "license": "https://creativecommons.org/publicdomain/zero/1.0/",
        "distribution": [{"accessURL": source.as_uri(), "format": "CSV"}]},
        headers=actors.headers("steward")).get_json()
    offer = client.post(f"/api/v1/datasets/{dataset['id']}/offers", json={"policy": {
        "@id": "urn:test:penguins", "profile": "urn:connector:odrl-profile:v1",
        "permission": [{"action": "use",
                        "constraint": [{"leftOperand": "recipient", "operator": "eq",
                                        "rightOperand": "cardio"}],
                        "duty": [{"action": "pseudonymize", "target": "column:Individual%20ID"},
                                 {"action": "anonymize", "target": "column:Comments"}]}]}},
        headers=actors.headers("steward")).get_json()
    request = client.post("/api/v1/access-requests", json={
        "dataset": dataset["id"], "offer": offer["id"], "project": "cardio",
        "purpose": "research", "duration": "P7D"}, headers=actors.headers("member")).get_json()
    assert request["state"] == "agreed", request["decision"]["reasons"]
    job = client.post("/api/v1/stagings", json={"agreement": request["agreement"]},
                      headers=actors.headers("member")).get_json()

    ext = app.extensions["connector"]
    Worker(ext.session_factory, ext.staging).tick()
    job = client.get(f"/api/v1/stagings/{job['id']}", headers=actors.headers("member")).get_json()
    assert job["state"] == "published", job["error"]

    path = Path(job["location"].removeprefix("file://"))
    parts = [str(p) for p in sorted(path.glob("part-*.parquet"))]
    table = training.open_dataset(job["location"], verify=True).to_table()
    assert "Comments" not in table.column_names
    assert table.column("Individual ID")[0].as_py() != "N1A1"
    pyarrow_rows = sum(pq.read_metadata(p).num_rows for p in parts)
    duckdb_rows = duckdb.execute("SELECT count(*) FROM read_parquet(?)", [parts]).fetchall()[0][0]
    croissant_rows = sum(1 for _ in mlc.Dataset(str(path / "croissant.json")).records("records"))
    assert source_rows == table.num_rows == pyarrow_rows == duckdb_rows == croissant_rows == 344

    client.post(f"/api/v1/agreements/{request['agreement']}/revoke", json={"comment": "done"},
                headers=actors.headers("steward"))
    Worker(ext.session_factory, ext.staging).tick()
    assert not path.exists()
    job = client.get(f"/api/v1/stagings/{job['id']}", headers=actors.headers("member")).get_json()
    assert job["state"] == "removed"
