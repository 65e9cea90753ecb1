"""The DCAT-AP harvester against a real HTTP server on 127.0.0.1: the official and portal
example records, Hydra paging, the loop guard, syntax errors and remote JSON-LD contexts."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from connector.catalog.harvest.dcat_rdf import DcatHarvester
from connector.catalog.harvest.records import Fetched, HarvestSourceSpec, PageError, RemoteRecord
from tests.conftest import SCHEMAS, SHARED

CKANEXT = SHARED / "standards" / "ckanext-dcat-examples" / "dcat"
SEMIC = SHARED / "standards" / "dcat-ap-3.0.1" / "examples"
MEDIA_TYPES = {".ttl": "text/turtle", ".rdf": "application/rdf+xml", ".jsonld": "application/ld+json"}
SEMIC_CONTEXT = "https://semiceu.github.io/uri.semic.eu-generated/DCAT-AP/releases/3.0.0/html/examples/context.jsonld"


class RdfServer:
    """Serves pages (path -> body, media type) and counts every request by path."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[bytes, str | None]] = {}
        self.requests: list[str] = []
        self.accept: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll keeps shutdown quick: one server per test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (the http.server hook's name)
                server.requests.append(self.path)
                server.accept.append(self.headers.get("Accept", ""))
                if self.path not in server.pages:
                    self.send_error(404)
                    return
                body, media_type = server.pages[self.path]
                self.send_response(200)
                if media_type:
                    self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def server() -> Iterator[RdfServer]:
    running = RdfServer()
    running._thread.start()
    try:
        yield running
    finally:
        running._server.shutdown()
        running._server.server_close()


def fetch(url: str, headers: dict[str, str] | None = None) -> Fetched:
    """A test Fetch over urllib: media type from the HTTP answer, HTTP errors as PageError."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310  (loopback only)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  (loopback only)
            media_type = answer.headers.get_content_type() if answer.headers.get("Content-Type") else None
            return Fetched(url=answer.geturl(), body=answer.read(), media_type=media_type)
    except urllib.error.HTTPError as error:
        raise PageError(f"{url}: HTTP {error.code}") from None


def harvest(url: str, **options: Any) -> list[RemoteRecord]:
    return list(DcatHarvester().harvest(HarvestSourceSpec(url=url, kind="dcat", options=options), fetch))


class Ok(NamedTuple):
    title: str | dict[str, str]
    distributions: int


GR = "https://data.gov.gr/id/dataset/"
NO_TITLE = "dataset has no dct:title"
BEE_2022 = {"en": "Bee population 2022 in the region of Thessaloniki"}
BEE_2023 = {"en": "Bee population 2023 in the region of Thessaloniki and Athens"}
BEE_2000 = {"en": "Bee population 2000 in Greece"}
BEE_LIVE = {"en": "life counts of the Bee population in Greece"}
SOME_ORG = {"https://data.some.org/catalog/datasets/1": Ok("Example dataset 1", 3),
            "https://data.some.org/catalog/datasets/2": Ok("Example dataset 2", 2)}
HEALTH = {"http://example.healthdata.nl/set/dataset": Ok("HealthDCAT-AP test dataset", 1)}

#: What every example file holds: records by remote id (title and distribution count, or the
#: reason the record fails), or the line of the syntax error that fails the page.
EXPECTED: dict[str, dict[str, Ok | str] | int] = {
    "catalog.rdf": SOME_ORG,
    "catalog_datasets_list.rdf": SOME_ORG,
    "catalog_pod.jsonld": {"http://www.agency.gov/datasets/widgets-data":
                           Ok("U.S. Widget Manufacturing Statistics", 4)},
    "catalog_with_at_graph.jsonld": {
        "https://ckan.example.org/dataset/d4ce4e6e-ab89-44cb-bf5c-33a162c234de#dataset":
            Ok("Title dataset", 1)},
    "dataset.rdf": {"https://data.some.org/catalog/datasets/9df8df51-63db-37a8-e044-0003ba9b0d98":
                    Ok("Zimbabwe Regional Geochemical Survey.", 1)},
    "dataset.ttl": 149,  # uses the prefix healthdcatap: without declaring it
    "dataset_afs.ttl": {"http://example.com/data/test-dataset-1": Ok("A test dataset on your catalogue", 2)},
    "dataset_deri.ttl": {"http://data.london.gov.uk/dataset/Abandoned_Vehicles": Ok("Abandoned Vehicles", 1)},
    "dataset_gob_es.ttl": {
        "https://datos.gob.es/catalogo/l01280796-estudio-de-satisfaccion-con-el-programa-de-escuelas-"
        "municipales-de-promocion-deportiva-en-centros-escolares": Ok(
            {"es": "Estudio de Satisfacción con el Programa de Escuelas Municipales de Promoción Deportiva "
                   "en centros escolares"}, 1)},
    "dataset_gov_de.rdf": {"https://www.opendata-hro.de/dataset/c1be4007-d811-48fb-8818-2cb358b06a63":
                           Ok("Liefer- und Abholservices (Gastronomie)", 9)},
    "dataset_health.ttl": HEALTH,
    "dataset_health_multilingual.ttl": {
        "http://example.test/dataset/1": Ok({"en": "Health dataset", "nl": "Gezondheidsdataset"}, 1)},
    "dataset_health_no_blank.ttl": {"http://example.healthdata.nl/set/dataset":
                                    Ok("HealthDCAT-AP test dataset", 0)},
    "dataset_multilingual.ttl": {"https://example.org/dataset/0112cf32-bce0-4071-9504-923375f9f2ad": Ok(
        {"ca": "Conjunt de dades de prova DCAT", "en": "Test DCAT dataset",
         "es": "Conjunto de datos de prueba DCAT"}, 1)},
    "dataset_sweden.rdf": {"http://nobelprize.org/datasets/dcat#ds1": Ok({"en": "Linked Nobel prizes"}, 1)},
    "example-bee-population-2022-2023": {GR + "BeePopulation2022": Ok({"en": "Bee population 2022"}, 0),
                                         GR + "BeePopulation2023": Ok({"en": "Bee population 2023"}, 0)},
    "example-bee-population-dataset-frequency": {GR + "BeePopulation": NO_TITLE},
    # Both distributions lack an accessURL: dropped, the dataset stays.
    "example-bee-population-dataset-series-api.jsonld": {GR + "BeePopulation2023": Ok(BEE_2023, 0)},
    # "example-dist:BeePopulation2023/biojson": a '/' in a prefixed name is not Turtle.
    "example-bee-population-dataset-series-api.ttl": 20,
    "example-bee-population-dataset-series-combined.jsonld": {
        GR + "BeePopulation2000": Ok(BEE_2000, 0), GR + "BeePopulation2022": Ok(BEE_2022, 0),
        GR + "BeePopulation2023": Ok(BEE_2023, 0), GR + "BeePopulationLive": Ok(BEE_LIVE, 0)},
    "example-bee-population-dataset-series-combined.ttl": 32,  # the same '/' in a prefixed name
    "example-bee-population-dataset-series-frequency": {GR + "BeePopulation2022": NO_TITLE,
                                                        GR + "BeePopulation2023": NO_TITLE},
    "example-bee-population-dataset-series-gea-nha": {
        GR + "BeePopulation2000": Ok(BEE_2000, 0), GR + "BeePopulation2022": Ok(BEE_2022, 0),
        GR + "BeePopulation2023": Ok(BEE_2023, 0)},
    "example-bee-population-dataset-series-issued": {GR + "BeePopulation2022": Ok(BEE_2022, 0),
                                                     GR + "BeePopulation2023": Ok(BEE_2023, 0)},
    "example-bee-population-dataset-series-life-count": {GR + "BeePopulationLive": Ok(BEE_LIVE, 0)},
    "example-bee-population-dataset-series-modified": {
        GR + "BeePopulation2000": Ok(BEE_2000, 0), GR + "BeePopulation2022": Ok(BEE_2022, 0),
        GR + "BeePopulation2023": Ok(BEE_2023, 0)},
    "example-bee-population-dataset-series-ordered": {GR + "BeePopulation2022": NO_TITLE,
                                                      GR + "BeePopulation2023": NO_TITLE},
    "example-bee-population-dataset-series-spatial-thessaloniki-athens": {
        GR + "BeePopulation2022": Ok(BEE_2022, 0), GR + "BeePopulation2023": Ok(BEE_2023, 0)},
    "example-bee-population-dataset-series-spatial-thessaloniki": {GR + "BeePopulation2022": Ok(BEE_2022, 0)},
    "example-bee-population-dataset-series": {GR + "BeePopulation2022": NO_TITLE,
                                              GR + "BeePopulation2023": NO_TITLE},
    "example-bee-population": {GR + "BeePopulation": Ok({"en": "Bee population"}, 0)},
    "example-bee-populaton-2022-2023": {
        "http://data.gov.gr/id/dataset/BeePopulation2022": Ok({"en": "Bee population 2022"}, 0),
        "http://data.gov.gr/id/dataset/BeePopulation2023": Ok({"en": "Bee population 2023"}, 0)},
}
EXAMPLES = sorted([*CKANEXT.iterdir(), *(p for p in SEMIC.iterdir() if p.name != "context.jsonld")])


def expected(path: Path) -> dict[str, Ok | str] | int:
    return EXPECTED[path.name] if path.name in EXPECTED else EXPECTED[path.stem]


def test_every_example_file_has_an_expectation() -> None:
    assert len(EXAMPLES) == 15 + 30  # ckanext-dcat files, SEMIC examples without their context
    assert all(p.name in EXPECTED or p.stem in EXPECTED for p in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_record_is_harvested_with_its_key_fields(server: RdfServer, path: Path) -> None:
    server.pages["/" + path.name] = (path.read_bytes(), MEDIA_TYPES[path.suffix])
    want = expected(path)
    if isinstance(want, int):
        with pytest.raises(PageError, match=rf"{path.name}: turtle syntax error at line {want}:"):
            harvest(server.url("/" + path.name))
        return
    records = harvest(server.url("/" + path.name))
    assert sorted(r.remote_id for r in records) == sorted(want)
    for record in records:
        wanted = want[record.remote_id]
        if isinstance(wanted, str):
            assert (record.document, record.error) == (None, wanted)
            continue
        assert record.error is None
        document = record.document
        assert document is not None
        assert document["title"] == wanted.title
        assert len(document.get("distribution", [])) == wanted.distributions
        assert list(SCHEMAS.iter_errors("dataset", document)) == []
    # Only the page itself was requested: the SEMIC examples' remote context came from our copy.
    assert server.requests == ["/" + path.name]


INVALID_TURTLE = {"example-bee-population-dataset-series-api",
                  "example-bee-population-dataset-series-combined"}
BOTH = {p.stem for p in SEMIC.glob("*.jsonld")} & {p.stem for p in SEMIC.glob("*.ttl")}
PAIRS = sorted(BOTH - INVALID_TURTLE)


@pytest.mark.parametrize("stem", PAIRS)
def test_official_turtle_and_json_ld_examples_give_the_same_records(server: RdfServer, stem: str) -> None:
    for suffix in (".ttl", ".jsonld"):
        server.pages[f"/{stem}{suffix}"] = ((SEMIC / f"{stem}{suffix}").read_bytes(), MEDIA_TYPES[suffix])
    assert harvest(server.url(f"/{stem}.ttl")) == harvest(server.url(f"/{stem}.jsonld"))


def test_portal_records_keep_their_details(server: RdfServer) -> None:
    for name in ("dataset_gov_de.rdf", "dataset_multilingual.ttl", "dataset_health.ttl"):
        server.pages["/" + name] = ((CKANEXT / name).read_bytes(), None)  # no media type: by extension
    [de] = harvest(server.url("/dataset_gov_de.rdf"))
    csv = next(d for d in de.document["distribution"] if d.get("mediaType") == "text/csv")
    assert csv["format"] == "http://publications.europa.eu/resource/authority/file-type/CSV"
    assert csv["byteSize"] == 60744  # "60744.0"^^xsd:decimal
    assert csv["checksum"] == {"algorithm": "sha256", "checksumValue":
                               "7cc6d258c20d5b5b507c8466900a381de8a349bb1a8118361c1a613e1b59fb14"}
    assert de.document["theme"] == ["http://publications.europa.eu/resource/authority/data-theme/ECON"]
    assert de.document["contactPoint"] == [{
        "fn": "Hanse- und Universitätsstadt Rostock – Kataster-, Vermessungs- und Liegenschaftsamt",
        "hasEmail": "mailto:geodienste@rostock.de"}]
    [multi] = harvest(server.url("/dataset_multilingual.ttl"))
    assert multi.document["description"] == {"ca": "Una descripció qualsevol", "en": "Some description",
                                             "es": "Una descripción cualquiera"}
    assert multi.document["keyword"] == {"ca": ["Pins", "Roures"], "en": ["Oaks", "Pines"],
                                         "es": ["Pinos", "Robles"]}
    assert multi.document["distribution"][0]["title"] == {"ca": "Recurs 1", "en": "Resource 1",
                                                          "es": "Recurso 1"}
    [health] = harvest(server.url("/dataset_health.ttl"))
    assert health.document["accessRights"] == "http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC"
    assert health.document["temporal"] == [{"startDate": "2020-03-01", "endDate": "2024-12-31"}]
    assert health.document["publisher"]["name"] == {"en": "Contact Point", "nl": "Contactpunt"}


def test_a_second_harvest_of_an_unchanged_source_maps_to_equal_documents(server: RdfServer) -> None:
    # Blank nodes get new labels on every parse; the documents must not depend on them.
    server.pages["/d.rdf"] = ((CKANEXT / "dataset_gov_de.rdf").read_bytes(), "application/rdf+xml")
    first, second = harvest(server.url("/d.rdf")), harvest(server.url("/d.rdf"))
    assert json.dumps([r.document for r in first]) == json.dumps([r.document for r in second])


# --- Hydra paging --------------------------------------------------------------------------

PAGE = """@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix hydra: <http://www.w3.org/ns/hydra/core#> .
<http://example.org/catalog> a dcat:Catalog ; dcat:dataset {refs} .
{datasets}
{view}
"""


def turtle_page(numbers: list[int], view: str = "") -> bytes:
    refs = ", ".join(f"<http://example.org/ds/{n}>" for n in numbers)
    datasets = "\n".join(f'<http://example.org/ds/{n}> a dcat:Dataset ; dct:title "Dataset {n}"@en ; '
                         f'dct:description "Number {n}"@en .' for n in numbers)
    return PAGE.format(refs=refs, datasets=datasets, view=view).encode()


def test_partial_collection_view_pages_are_followed_to_the_last(server: RdfServer) -> None:
    server.pages["/catalog"] = (turtle_page([1, 2], '<?page=1> a hydra:PartialCollectionView ; '
                                                    'hydra:next <catalog?page=2> .'), "text/turtle")
    server.pages["/catalog?page=2"] = (turtle_page([3, 4], '<?page=2> a hydra:PartialCollectionView ; '
                                                           'hydra:next <catalog?page=3> .'), "text/turtle")
    server.pages["/catalog?page=3"] = (turtle_page([5], '<?page=3> a hydra:PartialCollectionView ; '
                                                        'hydra:previous <?page=2> .'), "text/turtle")
    records = harvest(server.url("/catalog"))
    assert [r.remote_id for r in records] == [f"http://example.org/ds/{n}" for n in range(1, 6)]
    assert server.requests == ["/catalog", "/catalog?page=2", "/catalog?page=3"]
    assert all(a.startswith("text/turtle") for a in server.accept)


def test_paged_collection_with_literal_next_page_is_followed(server: RdfServer) -> None:
    # ckanext-dcat writes hydra:nextPage as a literal, in RDF/XML.
    pages = {1: ([1, 2], "/catalog.rdf?page=2"), 2: ([3], None)}
    for number, (datasets, following) in pages.items():
        nxt = f"<hydra:nextPage>{following}</hydra:nextPage>" if following else ""
        body = "".join(f'<dcat:Dataset rdf:about="http://example.org/ds/{n}">'
                       f"<dct:title>Dataset {n}</dct:title></dcat:Dataset>" for n in datasets)
        server.pages[f"/catalog.rdf?page={number}"] = (
            f'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            f'xmlns:dcat="http://www.w3.org/ns/dcat#" xmlns:dct="http://purl.org/dc/terms/" '
            f'xmlns:hydra="http://www.w3.org/ns/hydra/core#">{body}<hydra:PagedCollection '
            f'rdf:about="http://127.0.0.1/catalog.rdf?page={number}"><hydra:totalItems>3</hydra:totalItems>'
            f"{nxt}</hydra:PagedCollection></rdf:RDF>".encode(), "application/rdf+xml")
    records = harvest(server.url("/catalog.rdf?page=1"))
    assert [r.remote_id for r in records] == ["http://example.org/ds/1", "http://example.org/ds/2",
                                              "http://example.org/ds/3"]
    # No dct:description: the title stands in, and the record says so.
    assert records[0].document["description"] == "Dataset 1"
    assert "no dct:description" in records[0].note


def test_next_page_pointing_back_stops_the_run_after_yielding_earlier_records(server: RdfServer) -> None:
    server.pages["/catalog"] = (turtle_page([1], "[] hydra:next <catalog?page=2> ."), "text/turtle")
    server.pages["/catalog?page=2"] = (turtle_page([2], "[] hydra:next <catalog> ."), "text/turtle")
    got: list[RemoteRecord] = []
    with pytest.raises(PageError, match=r"page .*/catalog\?page=2 links back to page .*/catalog \(page 1"):
        for record in DcatHarvester().harvest(HarvestSourceSpec(url=server.url("/catalog"), kind="dcat"),
                                              fetch):
            got.append(record)
    assert [r.remote_id for r in got] == ["http://example.org/ds/1", "http://example.org/ds/2"]
    assert server.requests == ["/catalog", "/catalog?page=2"]


def test_page_limit_stops_an_endless_catalog(server: RdfServer) -> None:
    for n in range(1, 6):
        server.pages[f"/c?page={n}"] = (turtle_page([n], f"[] hydra:next <c?page={n + 1}> ."), "text/turtle")
    with pytest.raises(PageError, match=r"stopped after 3 pages \(max_pages\)"):
        harvest(server.url("/c?page=1"), max_pages=3)
    assert server.requests == ["/c?page=1", "/c?page=2", "/c?page=3"]


def test_a_dataset_listed_on_two_pages_is_yielded_once(server: RdfServer) -> None:
    server.pages["/c"] = (turtle_page([1, 2], "[] hydra:next <c?page=2> ."), "text/turtle")
    server.pages["/c?page=2"] = (turtle_page([2, 3]), "text/turtle")
    assert [r.remote_id.rsplit("/", 1)[1] for r in harvest(server.url("/c"))] == ["1", "2", "3"]


# --- bad pages -----------------------------------------------------------------------------

def test_turtle_syntax_error_fails_the_page_with_its_line(server: RdfServer) -> None:
    body = turtle_page([1]).replace(b'"Dataset 1"@en ;', b'"Dataset 1"@en ;\n  dct:modified 2020-01-01-x ;')
    server.pages["/bad.ttl"] = (body, "text/turtle")
    bad_line = next(n for n, line in enumerate(body.decode().splitlines(), start=1) if "2020-01-01-x" in line)
    with pytest.raises(PageError, match=rf"/bad.ttl: turtle syntax error at line {bad_line}:"):
        harvest(server.url("/bad.ttl"))


def test_rdf_xml_syntax_errors_fail_the_page_with_their_line(server: RdfServer) -> None:
    malformed = (b'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
                 b'<rdf:Description rdf:about="http://example.org/a">\n<unclosed>\n</rdf:RDF>\n')
    invalid_rdf = (b'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n\n'
                   b'<rdf:Description rdf:about="http://example.org/a"\n'
                   b'  rdf:parseType="Nonsense"/>\n</rdf:RDF>\n')
    server.pages["/malformed.rdf"] = (malformed, "application/rdf+xml")
    server.pages["/invalid.rdf"] = (invalid_rdf, "application/rdf+xml")
    with pytest.raises(PageError, match=r"malformed.rdf: rdfxml syntax error at line 5: mismatched tag"):
        harvest(server.url("/malformed.rdf"))
    with pytest.raises(PageError, match=r"invalid.rdf: rdfxml syntax error at line 4:"):
        harvest(server.url("/invalid.rdf"))


def test_n_triples_syntax_error_names_the_line(server: RdfServer) -> None:
    body = (b'<http://example.org/a> <http://purl.org/dc/terms/title> "A" .\n'
            b'<http://example.org/a> <http://purl.org/dc/terms/title> B .\n')
    server.pages["/c.nt"] = (body, "application/n-triples")
    with pytest.raises(PageError, match=r"c.nt: ntriples syntax error at line 2:"):
        harvest(server.url("/c.nt"))


def test_html_instead_of_rdf_fails_the_page(server: RdfServer) -> None:
    server.pages["/catalog.ttl"] = (b"<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html")
    with pytest.raises(PageError, match=r"catalog.ttl is HTML \(text/html\), not RDF"):
        harvest(server.url("/catalog.ttl"))


def test_http_error_of_a_later_page_keeps_the_records_already_yielded(server: RdfServer) -> None:
    server.pages["/c"] = (turtle_page([1], "[] hydra:next <gone> ."), "text/turtle")
    got = []
    with pytest.raises(PageError, match="HTTP 404"):
        for record in DcatHarvester().harvest(HarvestSourceSpec(url=server.url("/c"), kind="dcat"), fetch):
            got.append(record.remote_id)
    assert got == ["http://example.org/ds/1"]


# --- JSON-LD contexts ----------------------------------------------------------------------

def jsonld_page(context: Any) -> bytes:
    return json.dumps({"@context": context, "@id": "http://example.org/ds/1", "@type": "Dataset",
                       "title": {"en": "One"}, "description": {"en": "The first"}}).encode()


def test_remote_context_is_refused_and_never_fetched(server: RdfServer) -> None:
    server.pages["/context.jsonld"] = ((SEMIC / "context.jsonld").read_bytes(), "application/ld+json")
    server.pages["/c.jsonld"] = (jsonld_page(server.url("/context.jsonld")), "application/ld+json")
    with pytest.raises(PageError, match=rf"remote @context {server.url('/context.jsonld')} is not available "
                                        "locally; it is never fetched"):
        harvest(server.url("/c.jsonld"))
    assert server.requests == ["/c.jsonld"]


def test_relative_and_imported_remote_contexts_are_refused_unfetched(server: RdfServer) -> None:
    server.pages["/ctx.jsonld"] = (b'{"@context": {}}', "application/ld+json")
    server.pages["/rel.jsonld"] = (jsonld_page(["ctx.jsonld"]), "application/ld+json")
    server.pages["/imp.jsonld"] = (jsonld_page({"@import": server.url("/ctx.jsonld")}), "application/ld+json")
    for page in ("/rel.jsonld", "/imp.jsonld"):
        with pytest.raises(PageError, match=r"remote @context http://127.0.0.1:\d+/ctx.jsonld is not avail"):
            harvest(server.url(page))
    assert "/ctx.jsonld" not in server.requests


def test_known_context_urls_resolve_to_the_shipped_copies(server: RdfServer) -> None:
    dcat_ap = "https://semiceu.github.io/DCAT-AP/releases/3.0.1/context/dcat-ap.jsonld"
    server.pages["/a.jsonld"] = (json.dumps({
        "@context": dcat_ap, "@id": "http://example.org/ds/1", "@type": "Dataset",
        "title": [{"@value": "Eins", "@language": "de"}, {"@value": "One", "@language": "en"}],
        "description": [{"@value": "Der erste", "@language": "de"}]}).encode(), "application/ld+json")
    server.pages["/b.jsonld"] = (jsonld_page(SEMIC_CONTEXT), "application/ld+json")
    [a] = harvest(server.url("/a.jsonld"))
    assert a.document["title"] == {"de": "Eins", "en": "One"}
    assert a.document["description"] == {"de": "Der erste"}
    [b] = harvest(server.url("/b.jsonld"))
    assert (b.remote_id, b.document["title"], b.document["description"]) == (
        "http://example.org/ds/1", {"en": "One"}, {"en": "The first"})
