"""The catalog benchmark's parts (bench/catalog_search.py): the vocabularies, the synthetic
catalog and its queries, the databases, one backend's run, and the report."""

from __future__ import annotations

from _common.docs import markers

TARGET_P95_MS = 50.0
MARK_BEGIN, MARK_END = markers("catalog_search")

KIND_ONE = "one-word"
KIND_TWO = "two-word+theme+format"
KIND_LABELS = {KIND_ONE: "1 word", KIND_TWO: "2 words + theme + format"}
