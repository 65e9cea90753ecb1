"""The harvest Fetch against the CKAN portal on 127.0.0.1: retries, limits, refusals."""

from __future__ import annotations

import pytest

from connector.catalog.harvest.ckan import CkanHarvester
from connector.catalog.harvest.fetch import FetchSettings, HttpFetch
from connector.catalog.harvest.records import HarvestSourceSpec, PageError
from tests.catalog.harvest.portal import package

SEARCH = "/api/3/action/package_search?rows=10&start=0"


def fetch_for(settings=None, allowlist=("127.0.0.1",)):
    waits: list[float] = []
    fetch = HttpFetch(allowlist=allowlist, settings=settings or FetchSettings(), sleep=waits.append)
    return fetch, waits


def test_429_is_retried_after_the_time_retry_after_asks(portal):
    portal.add(package(0))
    portal.faults[0], portal.fault_times, portal.retry_after = "429", 2, "3"
    fetch, waits = fetch_for()
    fetched = fetch(portal.url + SEARCH)
    assert waits == [3.0, 3.0] and fetched.media_type == "application/json"
    assert len(portal.requests) == 3


def test_retries_are_bounded(portal):
    portal.faults[0] = "429"
    fetch, waits = fetch_for(FetchSettings(retries=2))
    with pytest.raises(PageError, match="HTTP 429"):
        fetch(portal.url + SEARCH)
    assert len(waits) == 2 and len(portal.requests) == 3


def test_a_retry_after_beyond_the_cap_fails_at_once(portal):
    portal.faults[0], portal.retry_after = "429", "3600"
    fetch, waits = fetch_for()
    with pytest.raises(PageError, match="asked to wait 3600 s"):
        fetch(portal.url + SEARCH)
    assert waits == []


def test_500_is_not_retried(portal):
    portal.faults[0] = "500"
    fetch, waits = fetch_for()
    with pytest.raises(PageError, match="HTTP 500"):
        fetch(portal.url + SEARCH)
    assert waits == [] and len(portal.requests) == 1


def test_a_page_over_the_size_limit_is_refused(portal):
    portal.add(*(package(i) for i in range(10)))
    fetch, _ = fetch_for(FetchSettings(max_bytes=1000))
    with pytest.raises(PageError, match="larger than 1000 bytes"):
        fetch(portal.url + SEARCH)


def test_loopback_is_refused_without_the_allow_list(portal):
    fetch, _ = fetch_for(allowlist=())
    with pytest.raises(PageError, match="loopback"):
        fetch(portal.url + SEARCH)
    assert portal.requests == []


def test_requests_are_spaced_by_the_minimum_interval(portal):
    fetch, waits = fetch_for(FetchSettings(min_interval=5.0))
    fetch(portal.url + SEARCH)
    fetch(portal.url + SEARCH)
    assert len(waits) == 1 and 4.0 < waits[0] <= 5.0


def test_the_harvester_pages_with_rows_and_start(portal):
    portal.add(*(package(i) for i in range(5)))
    fetch, _ = fetch_for()
    spec = HarvestSourceSpec(url=portal.url, kind="ckan", options={"rows": 2, "fq": "organization:env"})
    ids = [r.remote_id for r in CkanHarvester().harvest(spec, fetch)]
    assert ids == [f"pkg-{i:05d}" for i in range(5)]
    assert [(r["start"], r["rows"], r["fq"]) for r in portal.requests] == [
        ("0", "2", "organization:env"), ("2", "2", "organization:env"), ("4", "2", "organization:env")]


def test_a_portal_that_ignores_start_is_stopped(portal):
    portal.add(*(package(i) for i in range(5)))
    original = portal.search

    def same_page(params):
        return original({**params, "start": "0"})

    portal.search = same_page
    fetch, _ = fetch_for()
    spec = HarvestSourceSpec(url=portal.url, kind="ckan", options={"rows": 2})
    with pytest.raises(PageError, match="previous page again"):
        list(CkanHarvester().harvest(spec, fetch))
