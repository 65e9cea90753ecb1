"""Change stamps: only timestamps are kept (normalised); a failed record is fetched again."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from connector.catalog import service as catalog
from connector.catalog.harvest import runs
from connector.catalog.harvest.ckan import package_record
from connector.catalog.harvest.models import HarvestLink, HarvestRun
from connector.catalog.harvest.records import change_stamp
from connector.identity.principal import OPERATOR
from tests.catalog.harvest.conftest import run_once
from tests.catalog.harvest.portal import package


@pytest.mark.parametrize("raw,stamp", [
    ("2025-01-01T10:00:00.123456", "2025-01-01T10:00:00.123456"),
    ("2025-01-01T10:00:00", "2025-01-01T10:00:00.000000"),
    ("2025-01-01", "2025-01-01T00:00:00.000000"),
    ("2025-01-01 10:00", "2025-01-01T10:00:00.000000"),
    ("2025-01-01T12:00:00+02:00", "2025-01-01T10:00:00.000000"),
    ("2025-01-01T10:00:00Z", "2025-01-01T10:00:00.000000"),
    ("2025-01-01T10:00:00.1234567", "2025-01-01T10:00:00.123456"),
])
def test_a_timestamp_becomes_ckans_utc_form_that_sorts_as_a_string(raw, stamp):
    assert change_stamp(raw) == (stamp, None)


@pytest.mark.parametrize("raw", ["unknown", "", "2025-13-01", "2025-01-01T25:00:00", "2025-01-01" + "0" * 70,
                                 "0001-01-01T00:00:00+01:00", 20250101, ["2025-01-01"]])
def test_anything_else_is_no_stamp_and_a_note_says_so(raw):
    stamp, note = change_stamp(raw)
    assert stamp is None and "is not a timestamp" in note and len(note) < 200


def test_a_package_with_a_bad_stamp_is_mapped_without_one_and_noted():
    record = package_record(package(0, modified="unknown"), "https://portal.example.eu")
    assert record.document is not None and record.modified is None
    assert "change stamp 'unknown' is not a timestamp" in record.note


def links(uow) -> dict[str, str | None]:
    with uow:
        return dict(uow.session.execute(select(HarvestLink.remote_id, HarvestLink.modified)).all())


@pytest.mark.parametrize("bad", ["unknown", "9" * 100, "2025-01-01T10:00:00.000000" + "x" * 60])
def test_a_bad_stamp_neither_fails_the_run_nor_stops_later_incremental_runs(uow, portal, source, bad):
    portal.add(package(0), package(1, modified=bad), package(2))
    first = run_once(uow, source.id)
    assert first.state == "succeeded" and first.counts["created"] == 3
    assert first.newest_modified == "2025-01-01T10:00:00.000000"
    assert links(uow) == {"pkg-00000": "2025-01-01T10:00:00.000000", "pkg-00001": None,
                          "pkg-00002": "2025-01-01T10:00:00.000000"}
    history = runs.list_runs(uow, OPERATOR, source.id)
    records, _ = runs.list_records(uow, OPERATOR, source.id, history[0].id, limit=10)
    assert "is not a timestamp" in {r.remote_id: r.reason for r in records}["pkg-00001"]
    portal.add(package(2, modified="2025-02-01T00:00:00.000000", title="Air quality, station 2 (moved)"))
    second = run_once(uow, source.id)
    assert second.state == "succeeded" and second.since == "2025-01-01T10:00:00.000000"
    assert second.counts["updated"] == 1 and second.newest_modified == "2025-02-01T00:00:00.000000"
    assert run_once(uow, source.id).state == "succeeded"


def test_a_source_left_with_a_bad_stamp_by_an_older_release_harvests_in_full_again(uow, portal, source):
    portal.add(package(0))
    first = run_once(uow, source.id)
    with uow:
        uow.session.execute(update(HarvestRun).where(HarvestRun.id == first.id)
                            .values(newest_modified="unknown"))
        uow.commit()
    portal.requests.clear()
    again = run_once(uow, source.id)
    assert again.state == "succeeded" and again.since is None and all("fq" not in r for r in portal.requests)


def test_a_failed_update_is_fetched_again_by_the_next_incremental_run(uow, portal, source):
    portal.add(package(0), package(1))
    run_once(uow, source.id)
    # the identifier of a harvested dataset cannot change: this update fails
    portal.add(package(0, modified="2025-02-01T00:00:00.000000", identifier="urn:x:moved"),
               package(1, modified="2025-03-01T00:00:00.000000", title="Air quality, station 1 (moved)"))
    second = run_once(uow, source.id)
    assert second.counts["failed"] == 1 and second.counts["updated"] == 1
    assert second.newest_modified == "2025-02-01T00:00:00.000000"  # held at the failed record's stamp
    assert links(uow)["pkg-00000"] == "2025-01-01T10:00:00.000000"  # its last successful import
    third = run_once(uow, source.id)
    assert third.since == "2025-02-01T00:00:00.000000"
    records, _ = runs.list_records(uow, OPERATOR, source.id, third.id, limit=10)
    outcome = {r.remote_id: (r.outcome, r.reason) for r in records}
    assert outcome["pkg-00000"][0] == "failed" and "cannot change" in outcome["pkg-00000"][1]
    # the portal corrects the record: the next run imports it, and the stamp moves on
    portal.add(package(0, modified="2025-02-02T00:00:00.000000", title="Air quality, station 0 (moved)"))
    fourth = run_once(uow, source.id)
    assert fourth.counts["updated"] == 1 and fourth.counts["failed"] == 0
    assert fourth.newest_modified == "2025-03-01T00:00:00.000000"
    dataset_id = {r.remote_id: r.dataset_id for r in records}["pkg-00000"]
    assert catalog.get_dataset(uow, OPERATOR, dataset_id).version == 2
