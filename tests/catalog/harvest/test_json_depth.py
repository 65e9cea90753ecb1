"""JSON-LD and JSON pages nested deeper than SOURCE_MAX_JSON_DEPTH are refused before rdflib or
``json`` parse them: through the DCAT-AP harvester and the real fetch against a server on
127.0.0.1, and through ``parse_page`` for any other fetch."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connector.catalog.harvest.dcat_rdf import DcatHarvester
from connector.catalog.harvest.fetch import FetchSettings, HttpFetch
from connector.catalog.harvest.rdf_parse import parse_page
from connector.catalog.harvest.records import Fetched, HarvestSourceSpec, PageError
from connector.config import load_config

DEEP = 100_000
DEEP_JSONLD = (b'{"@id": "http://example.org/c", "http://purl.org/dc/terms/title": '
               + b'{"@list": [' * DEEP + b"1" + b"]}" * DEEP + b"}")


@pytest.fixture
def pages() -> Iterator[tuple[str, dict[str, tuple[bytes, str]]]]:
    """A server on 127.0.0.1 answering path -> (body, media type)."""
    served: dict[str, tuple[bytes, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (the http.server hook's name)
            body, media_type = served.get(self.path, (b"", ""))
            self.send_response(200 if media_type else 404)
            self.send_header("Content-Type", media_type or "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def harvest(url: str, settings: FetchSettings | None = None) -> list:
    fetch = HttpFetch(allowlist=("127.0.0.1",), settings=settings or FetchSettings())
    return list(DcatHarvester().harvest(HarvestSourceSpec(url=url, kind="dcat"), fetch))


def test_a_json_ld_page_nested_100000_deep_stops_the_harvest_at_its_byte_offset(pages):
    base, served = pages
    served["/catalog"] = (DEEP_JSONLD, "application/ld+json")
    tracemalloc.start()
    try:
        with pytest.raises(PageError) as caught:
            harvest(base + "/catalog")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "/catalog: the document (at byte 417 of the text) nests deeper than 64 levels" in message
    assert "SOURCE_MAX_JSON_DEPTH" in message
    assert peak < 64 << 20  # the page itself (1.3 MB) and the scan, not a parse


def test_json_served_without_a_json_media_type_is_checked_too_and_turtle_is_not(pages):
    base, served = pages
    served["/untyped"] = (b"[" * 70 + b"]" * 70, "application/octet-stream")
    served["/turtle"] = (b"[ <http://p/> " * 70 + b"1" + b" ]" * 70 + b" .", "text/turtle")
    fetch = HttpFetch(allowlist=("127.0.0.1",))
    with pytest.raises(PageError, match=r"at byte 64 of the text\) nests deeper than 64"):
        fetch(base + "/untyped")
    assert fetch(base + "/turtle").body.startswith(b"[ <http://p/>")


def test_the_configured_depth_reaches_the_fetch(pages):
    from connector.catalog.harvest.settings import HarvestSettings

    base, served = pages
    served["/twelve"] = (b'{"@id": "http://example.org/c", "http://p/": ' + b"[" * 11 + b"]" * 11 + b"}",
                         "application/ld+json")
    settings = HarvestSettings.from_config(load_config({"SOURCE_MAX_JSON_DEPTH": 10}, environ={}))
    assert settings.fetch.max_json_depth == 10
    with pytest.raises(PageError, match="nests deeper than 10 levels"):
        harvest(base + "/twelve", settings.fetch)
    assert harvest(base + "/twelve", FetchSettings(max_json_depth=12)) == []


def test_parse_page_refuses_deep_json_ld_from_any_fetch_and_reads_nine_levels():
    with pytest.raises(PageError, match=r"at byte 417 of the text\) nests deeper than 64 levels"):
        parse_page(Fetched(url="http://h/c.jsonld", body=DEEP_JSONLD, media_type="application/ld+json"))
    nine = (b'{"@id": "http://example.org/a", "http://purl.org/dc/terms/title": '
           + b'{"@list": [' * 4 + b'"A"' + b"]}" * 4 + b"}")
    assert len(parse_page(Fetched(url="http://h/c.jsonld", body=nine, media_type="application/ld+json"))) > 1


def test_a_turtle_page_nested_beyond_the_parser_recursion_is_a_page_error():
    body = b"<http://example.org/a> <http://p/> " + b"[ <http://p/> " * 5000 + b"1" + b" ]" * 5000 + b" ."
    with pytest.raises(PageError, match="turtle nested too deeply to parse"):
        parse_page(Fetched(url="http://h/c.ttl", body=body, media_type="text/turtle"))
