"""RESTRICTED and NON_PUBLIC datasets exist only for those entitled; others get 404."""

from __future__ import annotations

import pytest

from tests.factories import register_over_http

# caller -> may see (PUBLIC, RESTRICTED, NON_PUBLIC) datasets of the "health" organisation
EXPECTED = {
    "admin": (True, True, True),
    "steward": (True, True, True),
    "member": (True, True, False),
    "outsider": (True, False, False),
    "defence-steward": (True, False, False),
}


@pytest.fixture
def urls(client, actors):
    return {rights: register_over_http(client, actors, accessRights=rights,
                                       title=f"Registry {rights}").headers["Location"]
            for rights in ("PUBLIC", "RESTRICTED", "NON_PUBLIC")}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_visibility_follows_access_rights_and_affiliation(client, actors, urls, who):
    for rights, may_see in zip(("PUBLIC", "RESTRICTED", "NON_PUBLIC"), EXPECTED[who], strict=True):
        status = client.get(urls[rights], headers=actors.headers(who)).status_code
        assert status == (200 if may_see else 404), (who, rights)
        status = client.get(urls[rights] + "/versions/1", headers=actors.headers(who)).status_code
        assert status == (200 if may_see else 404), (who, rights)


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_search_returns_and_counts_only_what_the_caller_may_see(client, actors, urls, who):
    body = client.get("/api/v1/datasets?q=registry", headers=actors.headers(who)).get_json()
    assert body["count"] == sum(EXPECTED[who])
    counted = {f["value"]: f["count"] for f in body["facets"]["access_rights"]}
    assert counted == {r: 1 for r, seen in zip(("PUBLIC", "RESTRICTED", "NON_PUBLIC"),
                                                EXPECTED[who], strict=True) if seen}


def test_a_hidden_dataset_is_404_even_for_a_steward_action(client, actors, urls):
    response = client.delete(urls["NON_PUBLIC"], headers=actors.headers("defence-steward"))
    assert response.status_code == 404
