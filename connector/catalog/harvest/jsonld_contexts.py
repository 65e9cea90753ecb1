"""JSON-LD contexts from local copies only: a remote ``@context`` is never fetched.

rdflib's JSON-LD parser would download every ``@context`` (and ``@import``) given as a URL.
Before a document reaches it, :func:`inline_contexts` replaces each such reference with the
copy shipped in ``contexts/`` (listed in ``contexts/index.json``) and refuses any other, so
the parser only ever sees inline contexts.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urldefrag, urljoin

from connector.catalog.harvest.records import PageError

CONTEXT = "@context"
IMPORT = "@import"
# Contexts that import contexts: deeper chains are refused rather than followed forever.
MAX_DEPTH = 8


@cache
def known_contexts() -> dict[str, str]:
    """Context URL -> file name in ``contexts/``, for every context we ship."""
    index = resources.files(__package__).joinpath("contexts", "index.json")
    return dict(json.loads(index.read_text(encoding="utf-8")))


@cache
def _local_context(name: str) -> str:
    return resources.files(__package__).joinpath("contexts", name).read_text(encoding="utf-8")


def local_context(url: str) -> Any:
    """The ``@context`` value of the shipped copy of ``url``, or None if we ship none."""
    name = known_contexts().get(urldefrag(url).url)
    if name is None:
        return None
    # A fresh object each time: callers may merge into it.
    return json.loads(_local_context(name))[CONTEXT]


def inline_contexts(document: Any, base: str) -> Any:
    """``document`` with every context URL replaced by its local copy.

    Raises :class:`PageError` for a context URL we do not ship: it is never fetched.
    Relative context references are resolved against ``base`` first.
    """
    return _walk(document, base, 0)


def _walk(node: Any, base: str, depth: int) -> Any:
    if isinstance(node, list):
        return [_walk(item, base, depth) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == CONTEXT:
            out[key] = _context(value, base, depth)
        else:
            out[key] = _walk(value, base, depth)
    return out


def _context(value: Any, base: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise PageError(f"JSON-LD contexts nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return _context(_resolve(value, base), base, depth + 1)
    if isinstance(value, list):
        return [_context(item, base, depth) for item in value]
    if isinstance(value, dict):
        definition = _walk(value, base, depth + 1)  # scoped contexts inside term definitions
        imported = definition.pop(IMPORT, None)
        if isinstance(imported, str):
            resolved = _context(_resolve(imported, base), base, depth + 1)
            if not isinstance(resolved, dict):
                raise PageError(f"@import {imported} is not a single context object")
            definition = {**resolved, **definition}
        return definition
    return value  # null resets the context; anything else is the parser's to reject


def _resolve(reference: str, base: str) -> Any:
    url = urljoin(base, reference)
    context = local_context(url)
    if context is None:
        raise PageError(f"remote @context {url} is not available locally; it is never fetched")
    return context
