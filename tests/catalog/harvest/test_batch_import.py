"""Harvest writes in batches (issue 5, item 8): a chunk's new records are registered with one
insert per table, with the same rows as one ``register_dataset`` per record; a batch that fails
falls back to the per-record path, where one bad record fails alone; the fast schema check
takes the same decision as the full one."""

from __future__ import annotations

import copy
import json
import logging
import random
from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from connector.audit import AuditEvent
from connector.catalog import service as catalog
from connector.catalog.harvest import ckan_map, importer, runs, sources
from connector.catalog.harvest.records import RemoteRecord
from connector.catalog.models import Dataset, DatasetFacet, DatasetVersion
from connector.catalog.repository import DatasetRepository
from connector.catalog.search import SearchQuery
from connector.errors import Conflict, Forbidden
from connector.identity.principal import OPERATOR, Principal
from tests.catalog.harvest.conftest import LOOPBACK, run_once
from tests.catalog.harvest.portal import Portal, package
from tests.catalog.harvest.test_roundtrip import CKAN_PACKAGES
from tests.catalog.harvest.test_runs import _Recorded

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
CATALOG_TABLES = ("dataset_search", "dataset_facets", "dataset_versions", "datasets", "audit_events")


def _documents() -> list[dict]:
    """Varied valid documents: mapped CKAN packages, the CKAN example files, the schema examples."""
    documents = []
    for i in range(6):
        tags = [{"name": "air quality"}, {"name": f"tag {i}"}, {"name": "air quality"}]
        extra = {"tags": tags} if i % 2 else {}
        documents.append(ckan_map.map_package(package(i, **extra), "https://portal.example.eu")[0])
    for path in sorted(CKAN_PACKAGES.glob("*.json")):
        loaded = json.loads(path.read_text())
        for n, pkg in enumerate(loaded if isinstance(loaded, list) else [loaded]):
            if isinstance(pkg, dict) and ("id" in pkg or "name" in pkg):
                pkg = {**pkg, "id": pkg.get("id") or f"{path.stem}-{n}"}
                document = ckan_map.map_package(pkg, "https://portal.example.eu")[0]
                document["identifier"] = f"{document['identifier']}#{path.stem}-{n}"  # one each
                documents.append(document)
    for path in sorted((SCHEMAS / "examples" / "dataset" / "valid").glob("*.json")):
        documents.append(json.loads(path.read_text()))
    for n, document in enumerate(documents):
        document.pop("organisation", None)
        document.setdefault("identifier", f"urn:test:dataset:{n}")  # a generated one differs per run
    return documents


def _snapshot(uow) -> dict:
    """Everything a registration writes, keyed by identifier (not by generated ids or times)."""
    with uow:
        session = uow.session
        by_pk = {d.pk: d for d in session.scalars(select(Dataset))}
        ident = {d.pk: d.identifier for d in by_pk.values()}
        by_id = {d.id: d.identifier for d in by_pk.values()}
        if session.get_bind().dialect.name == "sqlite":
            bodies = session.execute(text("SELECT rowid, body FROM dataset_search")).all()
        else:
            bodies = session.execute(text("SELECT dataset_pk, body::text FROM dataset_search")).all()
        snapshot = {
            "datasets": sorted((d.identifier, d.state, d.version, d.access_rights, d.title,
                                d.organisation_id) for d in by_pk.values()),
            "versions": sorted((ident[v.dataset_pk], v.version, json.dumps(v.document, sort_keys=True),
                                v.content_hash, v.created_by)
                               for v in session.scalars(select(DatasetVersion))),
            "facets": sorted((ident[f.dataset_pk], f.facet, f.value)
                             for f in session.scalars(select(DatasetFacet))),
            "index": sorted((ident[pk], body) for pk, body in bodies),
            "audit": sorted((by_id[e.object_id], e.action, e.object_type, e.actor, e.actor_id,
                             e.before_version, e.after_version, json.dumps(e.detail))
                            for e in session.scalars(select(AuditEvent).where(
                                AuditEvent.object_type == "dataset"))),
        }
    searches = {}
    queries = [SearchQuery(text=words, limit=100) for words in ("air quality", "station", "dataset")]
    queries += [SearchQuery(filters={facet: [value]}, limit=100)
                for facet, value in (("access_rights", "PUBLIC"), ("format", "CSV"),
                                     ("keyword", "air quality"), ("organisation", "env"))]
    for query in queries:
        result, views = catalog.search_datasets(uow, OPERATOR, query)
        searches[repr(query)] = (result.count, sorted(v.identifier for v in views), result.facets)
    snapshot["searches"] = searches
    return snapshot


def _empty_catalog(uow) -> None:
    with uow:
        for table in CATALOG_TABLES:
            uow.session.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (fixed table names)
        uow.commit()


def test_a_batch_registration_writes_the_same_rows_as_one_registration_per_document(uow, org):
    steward = Principal(name="harvest:env-portal", role="steward", stewarded_org_ids=frozenset({org.id}))
    documents = _documents()
    assert len(documents) >= 15
    one_by_one = [catalog.register_dataset(uow, steward, copy.deepcopy(d)) for d in documents]
    expected = _snapshot(uow)
    _empty_catalog(uow)

    batched = catalog.register_datasets(uow, steward, org, copy.deepcopy(documents))

    assert _snapshot(uow) == expected
    assert [v.identifier for v in batched] == [v.identifier for v in one_by_one]
    assert [(v.version, v.latest_version, v.state, v.organisation, v.document) for v in batched] == \
        [(v.version, v.latest_version, v.state, v.organisation, v.document) for v in one_by_one]
    assert expected["searches"][repr(SearchQuery(text="station", limit=100))][0] >= 6


def test_a_batch_with_a_taken_identifier_writes_nothing(uow, org):
    steward = Principal(name="steward", role="steward", stewarded_org_ids=frozenset({org.id}))
    documents = _documents()[:3]
    catalog.register_dataset(uow, steward, copy.deepcopy(documents[1]))
    with pytest.raises(Conflict, match="exists already"):
        catalog.register_datasets(uow, steward, org, documents)
    with pytest.raises(Conflict, match="twice"):
        catalog.register_datasets(uow, steward, org, [documents[0], documents[0]])
    with uow:
        assert len(list(uow.session.scalars(select(Dataset)))) == 1


def test_a_batch_for_an_organisation_the_caller_does_not_steward_is_forbidden(uow, org):
    stranger = Principal(name="stranger", role="steward", stewarded_org_ids=frozenset({org.id + 1}))
    with pytest.raises(Forbidden):
        catalog.register_datasets(uow, stranger, org, _documents()[:1])


def test_when_the_batch_insert_fails_each_record_is_imported_alone(uow, portal, source, monkeypatch, caplog):
    # A concurrent writer takes an identifier after the chunk looked (the lookup sees nothing):
    # the batch insert hits the unique constraint, and the records go one by one.
    mine = catalog.register_dataset(uow, OPERATOR, {**_documents()[-1], "organisation": "env",
                                                    "identifier": "urn:x:raced"})
    portal.add(*(package(i) for i in range(5)), package(5, identifier="urn:x:raced"))
    monkeypatch.setattr(DatasetRepository, "ids_by_identifier", lambda self, identifiers: {})
    with caplog.at_level(logging.INFO, logger="connector.catalog.harvest.importer"):
        run = run_once(uow, source.id)
    assert "importing them one by one" in caplog.text
    assert run.state == "partial"
    assert run.counts == {"created": 5, "updated": 0, "unchanged": 0, "withdrawn": 0, "failed": 1}
    rows, _ = runs.list_records(uow, OPERATOR, source.id, run.id, outcome="failed")
    assert len(rows) == 1 and rows[0].remote_id == "pkg-00005"
    assert mine.id in rows[0].reason and "urn:x:raced" in rows[0].reason
    assert catalog.search_datasets(uow, OPERATOR, SearchQuery(text="station"))[0].count == 5


def test_records_of_one_chunk_sharing_an_identifier_or_a_remote_id_get_the_per_record_outcomes(uow, source):
    documents = _documents()
    same = {**documents[1], "identifier": documents[0]["identifier"]}
    harvester = _Recorded(RemoteRecord("a", documents[0], modified="1"),
                          RemoteRecord("b", same, modified="1"),
                          RemoteRecord("c", documents[2], modified="1"),
                          RemoteRecord("c", {**documents[2], "keyword": ["changed"]}, modified="2"))
    run = run_once(uow, source.id, harvester=harvester)
    rows, _ = runs.list_records(uow, OPERATOR, source.id, run.id)
    outcomes = [(r.remote_id, r.outcome) for r in rows]
    assert outcomes == [("a", "created"), ("b", "failed"), ("c", "created"), ("c", "updated")]
    assert rows[0].dataset_id in rows[1].reason
    assert catalog.get_dataset(uow, OPERATOR, rows[3].dataset_id).version == 2


def _statements(uow, count: int) -> list[str]:
    """SQL statements of a run of a new source whose ``count`` records are all new (one chunk)."""
    seen = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with uow:
        engine = uow.session.get_bind()
    with Portal() as portal:
        portal.add(*(package(i) for i in range(count)))
        body = {"name": f"portal-{count}", "kind": "ckan", "url": portal.url, "organisation": "env",
                "options": {"rows": 1000}}
        source = sources.add_source(uow, OPERATOR, body, allowlist=LOOPBACK.allowlist)
        event.listen(engine, "before_cursor_execute", note)
        try:
            run = run_once(uow, source.id)
        finally:
            event.remove(engine, "before_cursor_execute", note)
    assert run.counts["created"] == count
    return seen


def test_the_statements_of_a_chunk_of_new_records_do_not_grow_with_its_records(uow, org):
    few, many = _statements(uow, 5), _statements(uow, 50)
    assert len(few) == len(many), set(many) - set(few)


def test_the_fast_schema_check_decides_as_the_full_one():
    schemas = importer._schema_store(str(SCHEMAS))
    rnd = random.Random(5)
    documents = _documents()
    for path in sorted((SCHEMAS / "examples").glob("dataset*/*/*.json")):
        documents.append(json.loads(path.read_text()))
    documents += [ckan_map.map_package(package(i, title=t), "https://p.example.eu")[0]
                  for i, t in enumerate(["x", "x" * 30000])]
    junk = [None, 0, 1.5, True, "", "not a date", "2025-13-45", "http://", [], {}, {"en": ""}, ["x"],
            {"zz-!": "x"}]
    mutated = []
    for _ in range(600):
        document = copy.deepcopy(rnd.choice(documents))
        node = document
        while isinstance(node, dict | list) and node:
            key = rnd.choice(list(node)) if isinstance(node, dict) else rnd.randrange(len(node))
            if isinstance(node[key], dict | list) and node[key] and rnd.random() < 0.6:
                node = node[key]
                continue
            node[key] = rnd.choice(junk)
            break
        mutated.append(document)
    decided = {True: 0, False: 0}
    for document in documents + mutated:
        full = next(iter(schemas.iter_errors("dataset", document)), None) is None
        assert schemas.is_valid("dataset", document) == full, document
        decided[full] += 1
    assert decided[True] >= 20 and decided[False] >= 100
