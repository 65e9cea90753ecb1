"""Harvest runs against a CKAN portal served on 127.0.0.1, through the harvest service."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from connector.adapters.errors import SourceRefused
from connector.audit import AuditEvent
from connector.catalog import service as catalog
from connector.catalog.harvest import runs, serialize, sources
from connector.catalog.harvest.models import HarvestRun, Outcome
from connector.catalog.harvest.records import RemoteRecord
from connector.catalog.harvest.settings import HarvestSettings
from connector.catalog.models import Dataset
from connector.catalog.search import SearchQuery
from connector.db import utcnow
from connector.identity.principal import OPERATOR
from tests.catalog.harvest.conftest import LOOPBACK, run_once
from tests.catalog.harvest.portal import package
from tests.conftest import SCHEMAS, dataset_body

OUTCOMES = [str(outcome) for outcome in Outcome]


def datasets(uow) -> dict[str, Dataset]:
    with uow:
        return {d.identifier: d for d in uow.session.scalars(select(Dataset))}


def records(uow, source, run, outcome=None):
    rows, _ = runs.list_records(uow, OPERATOR, source.id, run.id, outcome=outcome, limit=1000)
    return rows


def test_first_run_fills_the_catalog_as_the_sources_steward(uow, portal, source):
    portal.add(*(package(i) for i in range(5)))
    run = run_once(uow, source.id)
    assert run.state == "succeeded" and run.complete and run.reason is None
    assert run.counts == {"created": 5, "updated": 0, "unchanged": 0, "withdrawn": 0, "failed": 0}
    found = catalog.search_datasets(uow, OPERATOR, SearchQuery(text="station"))[0]
    assert found.count == 5
    view = catalog.get_dataset(uow, OPERATOR, records(uow, source, run)[0].dataset_id)
    assert view.version == 1 and view.organisation == "env"
    assert view.document["dataSpace"] == "env-portal"
    assert view.document["license"].endswith("/licence/CC_BY_4_0")
    assert view.document["publisher"]["name"] == {"en": "Environment Agency"}
    with uow:
        actors = set(uow.session.scalars(select(AuditEvent.actor).where(
            AuditEvent.action == "dataset.register")))
    assert actors == {"harvest:env-portal"}


def test_second_run_with_one_record_changed_makes_exactly_one_new_version(uow, portal, source):
    portal.add(*(package(i) for i in range(5)))
    first = run_once(uow, source.id)
    portal.add(package(3, modified="2025-02-01T09:00:00.000000", title="Air quality, station 3 (moved)"))
    second = run_once(uow, source.id)
    assert second.state == "succeeded"
    assert second.counts["updated"] == 1 and second.counts["unchanged"] == 4
    assert second.counts["created"] == second.counts["failed"] == 0
    versions = {d.identifier: d.version for d in datasets(uow).values()}
    assert sorted(versions.values()) == [1, 1, 1, 1, 2]
    assert versions[f"{portal.url}/dataset/pkg-00003"] == 2
    assert second.since == first.newest_modified == "2025-01-01T10:00:00.000000"


def test_incremental_run_asks_only_for_modified_records_and_lists_the_rest_by_id(uow, portal, source):
    portal.add(*(package(i) for i in range(5)))
    run_once(uow, source.id)
    portal.requests.clear()
    portal.add(package(1, modified="2025-03-01T00:00:00.000000", notes="Recalibrated sensors."))
    run_once(uow, source.id)
    full_pages = [r for r in portal.requests if "fl" not in r]
    listings = [r for r in portal.requests if r.get("fl") == "id"]
    assert full_pages and all(r["fq"] == "metadata_modified:[2025-01-01T10:00:00Z TO *]" for r in full_pages)
    assert listings and all("fq" not in r for r in listings)
    # the portal answered the full pages with modified records only: the 5 records of the
    # first run share its newest stamp, so they come again, and record 1 with its new stamp.
    assert {r["rows"] for r in portal.requests} == {"2"}


def test_a_full_run_ignores_since(uow, portal, source):
    portal.add(package(0))
    run_once(uow, source.id)
    portal.requests.clear()
    run = run_once(uow, source.id, full=True)
    assert run.since is None and all("fq" not in r for r in portal.requests)


def test_a_record_the_source_dropped_is_withdrawn(uow, portal, source):
    portal.add(*(package(i) for i in range(4)))
    run_once(uow, source.id)
    del portal.packages["pkg-00002"]
    run = run_once(uow, source.id)
    assert run.state == "succeeded" and run.counts["withdrawn"] == 1
    withdrawn = records(uow, source, run, "withdrawn")
    assert [r.remote_id for r in withdrawn] == ["pkg-00002"]
    assert catalog.get_dataset(uow, OPERATOR, withdrawn[0].dataset_id).state == "withdrawn"
    assert catalog.search_datasets(uow, OPERATOR, SearchQuery(text="station"))[0].count == 3


def test_an_empty_listing_withdraws_nothing(uow, portal, source):
    portal.add(*(package(i) for i in range(3)))
    run_once(uow, source.id)
    portal.packages.clear()
    run = run_once(uow, source.id)
    assert run.counts["withdrawn"] == 0 and "nothing was withdrawn" in run.reason
    assert {d.state for d in datasets(uow).values()} == {"active"}


def test_a_record_without_title_fails_and_the_run_goes_on(uow, portal, source):
    portal.add(package(0), package(1, title=""), package(2), package(3, notes=None))
    run = run_once(uow, source.id)
    assert run.state == "partial" and run.complete
    assert run.counts["created"] == 3 and run.counts["failed"] == 1
    assert run.reason == "1 record(s) failed; see the per-record results"
    failed = records(uow, source, run, "failed")
    assert [(r.remote_id, r.reason) for r in failed] == [
        ("pkg-00001", "no title: a dataset needs one (CKAN 'title')")]
    fallback = next(r for r in records(uow, source, run) if r.remote_id == "pkg-00003")
    assert fallback.outcome == "created" and "the title stands in" in fallback.reason
    view = catalog.get_dataset(uow, OPERATOR, fallback.dataset_id)
    assert view.document["description"] == view.document["title"]


def test_a_run_whose_every_record_failed_is_failed_and_says_so(uow, portal, source):
    portal.add(package(0, title=""), package(1, title=""))
    run = run_once(uow, source.id)
    assert run.state == "failed" and run.complete
    assert run.counts == {"created": 0, "updated": 0, "unchanged": 0, "withdrawn": 0, "failed": 2}
    assert run.reason == "all 2 record(s) failed; see the per-record results"
    SCHEMAS.validate("harvest-run", serialize.run(run))
    with uow:
        actions = set(uow.session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id == run.id)))
    assert actions == {"harvest_run.failed"}


def test_a_run_that_withdrew_datasets_but_failed_every_listed_record_is_partial(uow, portal, source):
    portal.add(package(0), package(1))
    run_once(uow, source.id)
    portal.packages.clear()
    portal.add(package(2, title=""))
    run = run_once(uow, source.id)
    assert run.counts["withdrawn"] == 2 and run.counts["failed"] == 1
    assert run.state == "partial"


@pytest.mark.parametrize("counts,complete,state", [
    ({}, True, "succeeded"),
    ({"created": 2, "withdrawn": 1}, True, "succeeded"),
    ({"created": 2, "failed": 1}, True, "partial"),
    ({"unchanged": 1, "failed": 1}, True, "partial"),
    ({"failed": 3}, True, "failed"),
    ({"created": 2}, False, "partial"),
    ({}, False, "failed"),
    ({"failed": 1}, False, "failed"),
])
def test_the_final_state_follows_what_came_through(counts, complete, state):
    full = {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
    assert runs.final_state(full, complete=complete) == state


@pytest.mark.parametrize("fault,reason", [
    ("html", "not JSON (text/html)"),
    ("truncated", "truncated JSON (application/json)"),
    ("500", "HTTP 500"),
    ("error", "CKAN reported an error: Solr is down"),
])
def test_a_bad_second_page_stops_the_run_as_partial_and_keeps_what_came_before(
        uow, portal, source, fault, reason):
    portal.add(*(package(i) for i in range(5)))
    portal.faults[2] = fault
    run = run_once(uow, source.id)
    assert run.state == "partial" and not run.complete
    assert reason in run.reason and "\n" not in run.reason
    assert run.counts["created"] == 2 and run.counts["withdrawn"] == 0
    assert len(datasets(uow)) == 2


@pytest.mark.parametrize("fault", ["html", "truncated", "500", "error"])
def test_a_bad_page_after_a_good_run_loses_nothing_and_withdraws_nothing(uow, portal, source, fault):
    portal.add(*(package(i) for i in range(5)))
    run_once(uow, source.id)
    del portal.packages["pkg-00004"]
    portal.faults[0] = fault
    run = run_once(uow, source.id, full=True)
    assert run.state == "failed" and run.counts["withdrawn"] == 0 and run.reason
    assert [d.state for d in datasets(uow).values()] == ["active"] * 5
    portal.faults.clear()
    assert run_once(uow, source.id).state == "succeeded"


def test_the_next_incremental_run_starts_from_the_last_complete_run(uow, portal, source):
    portal.add(package(0))
    good = run_once(uow, source.id)
    portal.add(package(1, modified="2025-05-01T00:00:00.000000"))
    portal.faults[0] = "500"
    assert run_once(uow, source.id).state == "failed"
    portal.faults.clear()
    again = run_once(uow, source.id)
    assert again.since == good.newest_modified and again.counts["created"] == 1


def test_a_loopback_source_is_refused_without_the_allow_list(uow, org, portal):
    with pytest.raises(SourceRefused, match="loopback"):
        sources.add_source(uow, OPERATOR, {"name": "sneaky", "kind": "ckan", "url": portal.url,
                                           "organisation": "env"}, allowlist=())


def test_a_run_without_the_allow_list_fails_with_the_refusal(uow, portal, source):
    portal.add(package(0))
    run = run_once(uow, source.id, HarvestSettings(allowlist=()))
    assert run.state == "failed" and "loopback" in run.reason and not portal.requests


def test_an_identifier_used_by_another_dataset_fails_that_record_naming_it(uow, portal, source):
    mine = catalog.register_dataset(uow, OPERATOR, dataset_body(organisation="env", identifier="urn:x:taken"))
    portal.add(package(0, identifier="urn:x:taken"), package(1))
    run = run_once(uow, source.id)
    failed = records(uow, source, run, "failed")
    assert len(failed) == 1 and mine.id in failed[0].reason and "urn:x:taken" in failed[0].reason
    assert run.counts["created"] == 1
    assert catalog.get_dataset(uow, OPERATOR, mine.id).version == 1


class _Recorded:
    """A harvester of the records given (the service's side of the interface)."""

    kind = "ckan"

    def __init__(self, *records: RemoteRecord) -> None:
        self.records = records

    def harvest(self, source, fetch):
        yield from self.records


def test_a_document_that_breaks_the_schema_fails_with_the_json_path(uow, source):
    bad = {"title": "Bad theme", "description": "x", "accessRights": "PUBLIC", "theme": ["NOPE"]}
    good = {"title": "Good", "description": "y", "accessRights": "PUBLIC"}
    run = run_once(uow, source.id, harvester=_Recorded(RemoteRecord("a", bad), RemoteRecord("b", good)))
    failed = records(uow, source, run, "failed")
    assert [r.remote_id for r in failed] == ["a"] and failed[0].reason.startswith("$.theme[0]:")
    assert run.counts["created"] == 1


def test_unchanged_content_makes_no_version_and_the_stamp_moves_on(uow, source):
    doc = {"title": "Same", "description": "same", "accessRights": "PUBLIC", "identifier": "urn:same"}
    run_once(uow, source.id, harvester=_Recorded(RemoteRecord("a", doc, modified="2025-01-01T00:00:00")))
    later = RemoteRecord("a", doc, modified="2025-01-02T00:00:00")
    run = run_once(uow, source.id, harvester=_Recorded(later))
    assert run.counts["unchanged"] == 1 and run.newest_modified == "2025-01-02T00:00:00.000000"
    assert datasets(uow)["urn:same"].version == 1


def test_an_unknown_kind_fails_the_run_with_the_reason(uow, source):
    original = sources.HARVESTERS.copy()
    sources.HARVESTERS["ckan"] = "connector.catalog.harvest.missing:Nothing"
    try:
        run = run_once(uow, source.id)
    finally:
        sources.HARVESTERS.update(original)
    assert run.state == "failed" and "cannot be imported" in run.reason


def test_a_run_whose_lease_ran_out_is_marked_failed(uow, source):
    run, _ = runs.enqueue_run(uow, OPERATOR, source.id)
    started = utcnow()
    assert runs.claim_run(uow, "dead-worker", now=started, lease_seconds=30) == run.id
    assert runs.fail_expired_runs(uow, now=started + dt.timedelta(seconds=10)) == 0
    assert runs.fail_expired_runs(uow, now=started + dt.timedelta(seconds=31)) == 1
    failed = runs.get_run(uow, OPERATOR, source.id, run.id)
    assert failed.state == "failed" and "dead-worker stopped" in failed.reason
    assert failed.lease_owner is None and failed.finished_at is not None


def test_one_active_run_per_source(uow, source):
    first, created = runs.enqueue_run(uow, OPERATOR, source.id)
    again, created_again = runs.enqueue_run(uow, OPERATOR, source.id)
    assert created and not created_again and again.id == first.id


def test_scheduled_sources_are_queued_when_due(uow, org, portal):
    src = sources.add_source(uow, OPERATOR, {"name": "daily", "kind": "ckan", "url": portal.url,
                                             "organisation": "env", "scheduleSeconds": 3600},
                             allowlist=LOOPBACK.allowlist)
    now = utcnow()
    assert len(runs.enqueue_due(uow, now=now)) == 1
    assert runs.enqueue_due(uow, now=now) == []  # already queued
    with uow:
        run = uow.session.scalar(select(HarvestRun).where(HarvestRun.source_pk == src.pk))
        run.state = "succeeded"
        uow.commit()
    assert runs.enqueue_due(uow, now=now + dt.timedelta(minutes=30)) == []
    assert len(runs.enqueue_due(uow, now=now + dt.timedelta(hours=1, seconds=1))) == 1


def test_the_worker_runs_a_queued_run(app, uow, portal, source):
    from connector.worker import Worker

    portal.add(package(0), package(1))
    run, _ = runs.enqueue_run(uow, OPERATOR, source.id)
    ext = app.extensions["connector"]
    Worker(ext.session_factory, ext.staging, harvest=LOOPBACK).tick()
    done = runs.get_run(uow, OPERATOR, source.id, run.id)
    assert done.state == "succeeded" and done.counts["created"] == 2
