"""Tables, and rewriting one benchmark's section of ``docs/benchmarks.md`` between its markers."""

from __future__ import annotations

import os
import re
from pathlib import Path

DOC_HEADER = """# Benchmarks

Each benchmark rewrites its own section, between its markers, with the results of one run
and the command that produced it. Analysis written by hand goes outside the markers.

"""

_NUMBER = re.compile(r"^[\d,.]+$")


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of benchmark ``name``'s section."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def update_docs(path: Path, begin: str, end: str, section: str) -> None:
    """Replace the text from ``begin`` to ``end`` (``section`` holds both markers), or append
    ``section`` when the file has no such markers; the file is replaced in one rename."""
    text = path.read_text(encoding="utf-8") if path.exists() else DOC_HEADER
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + section.rstrip("\n") + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: numbers right-aligned, the rest left-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.rjust(w) if _NUMBER.match(c) else c.ljust(w)
                for c, w in zip(row, widths, strict=True)
            )
        )
    return "\n".join(lines)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; a column whose every cell is a number is right-aligned."""
    right = [bool(rows) and all(_NUMBER.match(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if r else "---" for r in right) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
