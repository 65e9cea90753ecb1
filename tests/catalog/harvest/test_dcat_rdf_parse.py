"""Choosing the RDF syntax of a page: option, media type, extension, first bytes."""

from __future__ import annotations

import pytest

from connector.catalog.harvest.rdf_parse import detect_format, format_option, parse_page
from connector.catalog.harvest.records import Fetched, PageError

TURTLE = b'@prefix dct: <http://purl.org/dc/terms/> .\n<http://example.org/a> dct:title "A" .\n'
JSONLD = b'{"@id": "http://example.org/a", "http://purl.org/dc/terms/title": "A"}'
RDFXML = (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
          b'xmlns:dct="http://purl.org/dc/terms/"><rdf:Description rdf:about="http://example.org/a">'
          b"<dct:title>A</dct:title></rdf:Description></rdf:RDF>")
NTRIPLES = b'<http://example.org/a> <http://purl.org/dc/terms/title> "A" .\n'
NQUADS = b'<http://example.org/a> <http://purl.org/dc/terms/title> "A" <http://example.org/g> .\n'
TRIG = (b'@prefix dct: <http://purl.org/dc/terms/> .\n'
        b'<http://example.org/g> { <http://example.org/a> dct:title "A" }\n')


@pytest.mark.parametrize(("url", "media_type", "body", "expected"), [
    ("http://h/c", "text/turtle; charset=utf-8", TURTLE, "turtle"),
    ("http://h/c.ttl", "application/rdf+xml", RDFXML, "rdfxml"),  # the media type wins over the name
    ("http://h/c.jsonld", "application/octet-stream", JSONLD, "jsonld"),
    ("http://h/c.nt?page=2", None, NTRIPLES, "ntriples"),
    ("http://h/c", "text/plain", JSONLD, "jsonld"),
    ("http://h/c", None, b"\xef\xbb\xbf<?xml version='1.0'?>\n" + RDFXML, "rdfxml"),
    ("http://h/c", None, NTRIPLES, "turtle"),  # Turtle reads N-Triples too
])
def test_format_comes_from_media_type_then_extension_then_content(url, media_type, body, expected) -> None:
    page = Fetched(url=url, body=body, media_type=media_type)
    assert detect_format(page) == expected
    assert len(parse_page(page)) == 1


def test_format_option_overrides_what_the_server_says() -> None:
    page = Fetched(url="http://h/c.rdf", body=TURTLE, media_type="application/rdf+xml")
    assert detect_format(page, format_option("Turtle")) == "turtle"
    assert len(parse_page(page, "turtle")) == 1


def test_unknown_format_option_is_refused() -> None:
    with pytest.raises(PageError, match="format option 'csv' is not one of"):
        format_option("csv")


@pytest.mark.parametrize(("media_type", "body"), [("application/n-quads", NQUADS),
                                                   ("application/trig", TRIG)])
def test_quad_formats_give_the_triples_of_every_graph(media_type, body) -> None:
    graph = parse_page(Fetched(url="http://h/c", body=body, media_type=media_type))
    assert [str(o) for o in graph.objects()] == ["A"]


def test_html_is_refused_even_when_labelled_as_rdf() -> None:
    page = Fetched(url="http://h/c.ttl", body=b"\n<!DOCTYPE html><html></html>", media_type="text/turtle")
    with pytest.raises(PageError, match=r"page http://h/c.ttl is HTML \(text/turtle\), not RDF"):
        parse_page(page)


def test_truncated_json_ld_fails_with_its_line() -> None:
    page = Fetched(url="http://h/c.jsonld", body=b'{\n  "@id": "http://example.org/a",\n  "t":')
    with pytest.raises(PageError, match=r"page http://h/c.jsonld: jsonld syntax error at line 3"):
        parse_page(page)
