"""One page of a DCAT-AP source as an rdflib graph: format detection and parsing.

The syntax is chosen by, in order: the source's ``format`` option (an operator's explicit
choice beats what a misconfigured server says), the answer's media type, the URL's
extension, and a look at the first bytes. A page that is not RDF, or not valid in its
syntax, raises :class:`PageError` naming the page and, where the parser knows it, the line.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit
from xml.sax import SAXParseException

from rdflib import Dataset, Graph
from rdflib.exceptions import ParserError
from rdflib.plugins.parsers import jsonld
from rdflib.plugins.parsers.notation3 import BadSyntax

from connector.adapters.errors import SourceTooLarge
from connector.adapters.json_limits import DEFAULT_MAX_DEPTH, check_document
from connector.catalog.harvest.jsonld_contexts import inline_contexts
from connector.catalog.harvest.records import Fetched, PageError

#: Our format names -> rdflib parser names.
PARSERS = {
    "turtle": "turtle",
    "rdfxml": "xml",
    "jsonld": "json-ld",
    "ntriples": "nt",
    "nquads": "nquads",
    "trig": "trig",
    "n3": "n3",
}
QUAD_FORMATS = {"nquads", "trig"}
#: Names an operator may write in the ``format`` option.
FORMAT_ALIASES = {
    "turtle": "turtle", "ttl": "turtle",
    "rdfxml": "rdfxml", "rdf/xml": "rdfxml", "xml": "rdfxml", "rdf": "rdfxml",
    "jsonld": "jsonld", "json-ld": "jsonld",
    "ntriples": "ntriples", "n-triples": "ntriples", "nt": "ntriples",
    "nquads": "nquads", "n-quads": "nquads", "nq": "nquads",
    "trig": "trig", "n3": "n3",
}
MEDIA_TYPES = {
    "text/turtle": "turtle", "application/x-turtle": "turtle",
    "application/rdf+xml": "rdfxml", "application/xml": "rdfxml", "text/xml": "rdfxml",
    "application/ld+json": "jsonld", "application/json": "jsonld",
    "application/n-triples": "ntriples",
    "application/n-quads": "nquads",
    "application/trig": "trig",
    "text/n3": "n3", "text/rdf+n3": "n3",
}
EXTENSIONS = {
    ".ttl": "turtle", ".rdf": "rdfxml", ".xml": "rdfxml", ".owl": "rdfxml",
    ".jsonld": "jsonld", ".json": "jsonld", ".nt": "ntriples", ".nq": "nquads",
    ".trig": "trig", ".n3": "n3",
}
#: What the harvester asks for, best first.
ACCEPT = ("text/turtle, application/rdf+xml;q=0.9, application/ld+json;q=0.9, "
          "application/n-triples;q=0.8, application/n-quads;q=0.7, application/trig;q=0.7")

_HTML = re.compile(rb"\s*(<!doctype\s+html|<html[\s>])", re.IGNORECASE)
_XML = re.compile(rb"\s*(<\?xml|<!--|<[A-Za-z_][\w.-]*(:[A-Za-z_][\w.-]*)?[\s>/])")
_LOCATION = re.compile(r"^.*?:(\d+):(\d+): (.*)$", re.DOTALL)


def format_option(value: Any) -> str | None:
    """The format an operator set, or None; raises :class:`PageError` for an unknown one."""
    if value in (None, ""):
        return None
    name = FORMAT_ALIASES.get(str(value).strip().lower())
    if name is None:
        raise PageError(f"format option {value!r} is not one of: {', '.join(sorted(PARSERS))}")
    return name


def detect_format(page: Fetched, option: str | None = None) -> str:
    """The syntax of ``page``; raises :class:`PageError` for HTML or an unknown type."""
    media_type = (page.media_type or "").split(";")[0].strip().lower()
    if media_type in ("text/html", "application/xhtml+xml") or _HTML.match(page.body[:512]):
        raise PageError(f"page {page.url} is HTML ({media_type or 'by its content'}), not RDF")
    if option:
        return option
    if media_type in MEDIA_TYPES:
        return MEDIA_TYPES[media_type]
    suffix = PurePosixPath(urlsplit(page.url).path).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    return sniff(page.body)


def sniff(body: bytes) -> str:
    """A guess from the first bytes: JSON-LD, RDF/XML, else Turtle (which reads N-Triples too)."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return "jsonld"
    if _XML.match(head):
        return "rdfxml"
    return "turtle"


def parse_page(page: Fetched, option: str | None = None, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Graph:
    """The triples of ``page`` (quads formats: the union of their graphs); JSON-LD nested deeper
    than ``max_depth`` is refused before it is parsed (:class:`~connector.catalog.harvest.fetch.
    HttpFetch` checks JSON pages with the configured ``SOURCE_MAX_JSON_DEPTH`` already)."""
    fmt = detect_format(page, option)
    try:
        if fmt == "jsonld":
            return _parse_jsonld(page, max_depth)
        if fmt in QUAD_FORMATS:
            return _union(page.body, PARSERS[fmt], page.url)
        graph = Graph()
        graph.parse(data=page.body, format=PARSERS[fmt], publicID=page.url)
        return graph
    except PageError:
        raise
    except BadSyntax as error:
        raise PageError(f"page {page.url}: {fmt} syntax error at line {_bad_syntax_line(error)}: "
                        f"{getattr(error, '_why', 'bad syntax')}") from None
    except SAXParseException as error:
        raise PageError(
            f"page {page.url}: {fmt} syntax error at line {error.getLineNumber()}: {error.getMessage()}"
        ) from None
    except ParserError as error:
        raise PageError(_parser_error(page, fmt, error)) from None
    except RecursionError:  # a syntax nested deeper than the parser's recursion (not JSON-LD)
        raise PageError(f"page {page.url}: {fmt} nested too deeply to parse") from None
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as error:
        # rdflib's parsers signal malformed input with plain built-in exceptions too.
        raise PageError(f"page {page.url}: not valid {fmt}: {error}") from None


def _bad_syntax_line(error: BadSyntax) -> int:
    # rdflib's own line counter can run ahead of the error; the offset into the text does not.
    text, offset = getattr(error, "_str", None), getattr(error, "_i", None)
    if isinstance(text, bytes) and isinstance(offset, int):
        return text[:offset].count(b"\n") + 1
    return error.lines + 1


def _parse_jsonld(page: Fetched, max_depth: int) -> Graph:
    try:
        check_document(page.body, name=f"page {page.url}", max_depth=max_depth)
    except SourceTooLarge as error:
        raise PageError(error.detail) from None
    try:
        document = json.loads(page.body)
    except json.JSONDecodeError as error:
        raise PageError(f"page {page.url}: jsonld syntax error at line {error.lineno}: {error.msg}") from None
    except UnicodeDecodeError as error:
        raise PageError(f"page {page.url}: not valid jsonld: {error}") from None
    graph = Graph()
    # rdflib's own JSON-LD entry point wraps a plain graph in a deprecated ConjunctiveGraph;
    # its converter takes the parsed document directly and merges named graphs into ours.
    jsonld.to_rdf(inline_contexts(document, page.url), graph, base=page.url)
    return graph


def _union(body: bytes, parser: str, url: str | None) -> Graph:
    # The datasets of every named graph are harvested alike.
    dataset = Dataset()
    with warnings.catch_warnings():
        # rdflib's quad parsers use its own deprecated ConjunctiveGraph API internally.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"rdflib\.")
        dataset.parse(data=body, format=parser, publicID=url)
    graph = Graph()
    for s, p, o, _ in dataset.quads((None, None, None, None)):
        graph.add((s, p, o))
    return graph


def _parser_error(page: Fetched, fmt: str, error: ParserError) -> str:
    message = str(error.msg if hasattr(error, "msg") else error)
    located = _LOCATION.match(message)
    if located:  # RDF/XML: "<system id>:<line>:<column>: <message>"
        return f"page {page.url}: {fmt} syntax error at line {located.group(1)}: {located.group(3)}"
    if fmt in ("ntriples", "nquads"):
        line = _first_bad_line(page.body, fmt)
        if line:
            return f"page {page.url}: {fmt} syntax error at line {line}: {message}"
    return f"page {page.url}: not valid {fmt}: {message}"


def _first_bad_line(body: bytes, fmt: str) -> int | None:
    # Line-based formats: the parser does not count lines, so find the first one it rejects.
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            _union(line + b"\n", PARSERS[fmt], None)
        except (ParserError, ValueError):
            return number
    return None
