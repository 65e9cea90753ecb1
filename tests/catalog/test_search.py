"""Full-text search with facets and cursor paging (the same on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.conftest import SCHEMAS, dataset_body


def register(client, actors, **overrides):
    response = client.post("/api/v1/datasets", json=dataset_body(**overrides),
                           headers=actors.headers("steward"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def search(client, actors, query="", who="member"):
    response = client.get(f"/api/v1/datasets?{query}", headers=actors.headers(who))
    assert response.status_code == 200, response.get_json()
    SCHEMAS.validate("dataset-search", response.get_json())
    return response.get_json()


@pytest.fixture
def catalog(client, actors):
    """Four datasets with known facets."""
    csv = [{"accessURL": "https://x.example/a.csv", "format": "CSV"}]
    parquet = [{"accessURL": "https://x.example/a.parquet", "format": "PARQUET"}]
    return [
        register(client, actors, title="Heart failure registry", theme=["HEAL"], distribution=csv,
                 keyword=["cardiology"]),
        register(client, actors, title="Heart rate of athletes", theme=["HEAL", "EDUC"],
                 distribution=parquet, keyword=["sport"]),
        register(client, actors, title="Air quality stations", theme=["ENVI"], distribution=csv,
                 keyword=["air"], sector="environment", description="Hourly NO2 and PM10."),
        register(client, actors, title={"de": "Herzinsuffizienz Überwachung", "fr": "Cœur données"},
                 theme=["HEAL"], distribution=csv, keyword={"de": ["Kardiologie"]}),
    ]


def facet(body, name):
    return {f["value"]: f["count"] for f in body["facets"].get(name, [])}


def test_dataset_registered_over_http_is_found_with_correct_facet_counts(client, actors, catalog):
    assert "keyword" not in search(client, actors, "q=heart")["facets"]  # counted on request
    body = search(client, actors, "q=heart&facets=theme,format,access_rights,keyword,publisher,sector")
    assert body["count"] == 2
    assert {d["title"]["en"] for d in body["items"]} == {"Heart failure registry",
                                                         "Heart rate of athletes"}
    assert facet(body, "theme") == {"HEAL": 2, "EDUC": 1}
    assert facet(body, "format") == {"CSV": 1, "PARQUET": 1}
    assert facet(body, "access_rights") == {"PUBLIC": 2}
    assert facet(body, "keyword") == {"cardiology": 1, "sport": 1}
    assert facet(body, "publisher") == {"Health Data Agency": 2}
    assert facet(body, "sector") == {"health": 2}


def test_every_word_must_match(client, actors, catalog):
    assert search(client, actors, "q=heart+registry")["count"] == 1
    assert search(client, actors, "q=heart+air")["count"] == 0


def test_facet_filters_combine_and_across_facets_or_within_one(client, actors, catalog):
    assert search(client, actors, "theme=HEAL&format=CSV")["count"] == 2
    assert search(client, actors, "theme=HEAL&theme=ENVI&format=CSV")["count"] == 3
    body = search(client, actors, "q=heart&theme=EDUC&format=PARQUET")
    assert [d["title"]["en"] for d in body["items"]] == ["Heart rate of athletes"]


def test_search_ignores_case_and_accents_in_every_language(client, actors, catalog):
    assert search(client, actors, "q=UBERWACHUNG")["count"] == 1
    assert search(client, actors, "q=c%C5%93ur")["count"] == 1  # "cœur"
    assert search(client, actors, "q=kardiologie")["count"] == 1
    assert search(client, actors, "q=no2")["count"] == 1


@pytest.mark.parametrize("text,count", [
    ("'; DROP TABLE datasets; --", 0), ('"heart', 2), ("heart*", 2), ("heart OR air", 0),
    ("NEAR(heart air)", 0), ("heart & !air", 0), ("heart:*", 2), ("a'b\"c", 0), ("%_%", 4),
    ("\\", 4), ("()", 4), ("title:heart", 0), ("^heart", 2), ("-air", 1),
])
def test_sql_and_fts_syntax_in_search_text_is_plain_text(client, actors, catalog, text, count):
    """Operators and quotes are neither SQL nor full-text syntax: only the words count (all
    must match), and text with no word at all is no filter."""
    body = search(client, actors, "q=" + __import__("urllib.parse").parse.quote(text))
    assert body["count"] == count
    # Datasets are all still there afterwards.
    assert search(client, actors)["count"] == 4


def test_operators_are_words_not_syntax(client, actors, catalog):
    assert search(client, actors, "q=heart+OR+air")["count"] == 0  # needs all three words
    assert search(client, actors, "q=heart*")["count"] == 2          # the star is not a prefix


def test_text_without_words_matches_everything(client, actors, catalog):
    assert search(client, actors, "q=%21%21%21")["count"] == 4


def test_cursor_pages_cover_every_match_once_in_order(client, actors):
    for i in range(7):
        register(client, actors, title=f"Paged dataset {i}")
    seen, query, pages = [], "q=paged&limit=3", 0
    while True:
        body = search(client, actors, query)
        assert body["count"] == 7
        seen.extend(d["title"]["en"] for d in body["items"])
        pages += 1
        if body["next"] is None:
            break
        query = f"q=paged&limit=3&cursor={body['next']}"
    assert pages == 3
    assert seen == [f"Paged dataset {i}" for i in reversed(range(7))]  # newest first


def test_title_sort_and_link_header(client, actors):
    for word in ("Charlie", "alpha", "Bravo"):
        register(client, actors, title=f"{word} sorted")
    response = client.get("/api/v1/datasets?q=sorted&sort=title&limit=2",
                          headers=actors.headers("member"))
    assert [d["title"]["en"] for d in response.get_json()["items"]] == ["alpha sorted",
                                                                       "Bravo sorted"]
    assert 'rel="next"' in response.headers["Link"]
    nxt = response.headers["Link"].split(";")[0].strip("<>")
    rest = client.get(nxt, headers=actors.headers("member")).get_json()
    assert [d["title"]["en"] for d in rest["items"]] == ["Charlie sorted"]
    assert rest["next"] is None


@pytest.mark.parametrize("query,status", [
    ("cursor=not-a-cursor", 400),
    ("limit=0", 422),
    ("limit=1000000", 422),
    ("limit=ten", 422),
    ("limit=²", 422),
    ("limit=-1", 422),
    ("limit=" + "9" * 30, 422),
    ("sort=size", 422),
    ("colour=red", 422),
    ("facets=colour", 422),
])
def test_bad_search_parameters_are_clear_errors(client, actors, catalog, query, status):
    response = client.get(f"/api/v1/datasets?{query}", headers=actors.headers("member"))
    assert response.status_code == status
    if status == 422:
        assert [e["path"] for e in response.get_json()["errors"]] == [f"$.{query.split('=')[0]}"]


def test_cursor_of_another_sort_is_rejected(client, actors):
    for i in range(3):
        register(client, actors, title=f"Cursor {i}")
    cursor = search(client, actors, "limit=1")["next"]
    response = client.get(f"/api/v1/datasets?limit=1&sort=title&cursor={cursor}",
                          headers=actors.headers("member"))
    assert response.status_code == 400


def test_revised_dataset_is_found_by_its_new_words_only(client, actors):
    created = register(client, actors, identifier="urn:rev", title="Old words")
    client.put(f"/api/v1/datasets/{created['id']}",
               json=dataset_body(identifier="urn:rev", title="Fresh words", theme=["ENVI"]),
               headers=actors.headers("steward"))
    assert search(client, actors, "q=old")["count"] == 0
    body = search(client, actors, "q=fresh")
    assert body["count"] == 1 and facet(body, "theme") == {"ENVI": 1}


def test_count_is_right_when_access_rights_is_not_a_requested_facet(client, actors, catalog):
    body = search(client, actors, "q=heart&facets=theme")
    assert body["count"] == 2 and set(body["facets"]) == {"theme"}


AUTHORITY = "http://publications.europa.eu/resource/authority/"


@pytest.mark.parametrize("query", [
    "theme=ENVI", f"theme={AUTHORITY}data-theme/ENVI",
    f"theme={AUTHORITY}data-theme/ENVI&access_rights={AUTHORITY}access-right/PUBLIC",
    f"format={AUTHORITY}file-type/CSV&theme=ENVI",
])
def test_a_facet_filter_finds_the_same_datasets_by_code_and_by_authority_uri(client, actors, catalog, query):
    found = search(client, actors, query)
    assert [d["title"]["en"] for d in found["items"]] == ["Air quality stations"]


@pytest.mark.parametrize("query,path", [
    ("theme=HEALTH", "$.theme"), (f"theme={AUTHORITY}data-theme/NOPE", "$.theme"),
    ("theme=HEAL&theme=heal", "$.theme"), ("access_rights=OPEN", "$.access_rights"),
])
def test_a_theme_or_access_right_that_is_neither_code_nor_authority_uri_is_422(client, actors, catalog,
                                                                               query, path):
    response = client.get(f"/api/v1/datasets?{query}", headers=actors.headers("member"))
    assert response.status_code == 422
    assert [e["path"] for e in response.get_json()["errors"]] == [path]

