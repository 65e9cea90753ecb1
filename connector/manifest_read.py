"""The reading side of a version's ``_manifest.json``: the checks every reader relies on and
the errors a reader raises. Pure (no service, no database), so that the training-job client
(:mod:`connector.client`), the DSP source adapter and staging share one definition.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from connector.errors import ConnectorError, NotFound

MANIFEST_VERSION = 1
FILE_PATTERN = re.compile(r"^part-[0-9]{5,}\.parquet$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


class ManifestMissing(NotFound):
    """No ``_manifest.json``: the version is not published (or is being removed)."""

    code, title = "manifest-missing", "No manifest: version not published"


class ManifestInvalid(ConnectorError):
    """``_manifest.json`` exists but is not a manifest this code can trust."""

    status, code, title = 422, "manifest-invalid", "Manifest is not valid"


class ManifestExpired(ConnectorError):
    """The agreement behind the staged version has expired; the data must not be used."""

    status, code, title = 410, "manifest-expired", "Staged data has expired"


class IntegrityError(ConnectorError):
    """A file listed in the manifest is missing, has another size or another sha256."""

    status, code, title = 409, "integrity-error", "Staged data does not match its manifest"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""),
                         problems=problems)
        self.problems = problems


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text, validate=True)))


def check_manifest(doc: Any, *, where: str = "manifest") -> dict[str, Any]:
    """The checks a reader relies on, without JSON Schema; raise :class:`ManifestInvalid`."""
    problems = []
    if not isinstance(doc, dict):
        raise ManifestInvalid(f"{where}: not a JSON object")
    if doc.get("manifestVersion") != MANIFEST_VERSION:
        problems.append(f"unsupported manifestVersion {doc.get('manifestVersion')!r}")
    files = doc.get("files")
    if not isinstance(files, list) or not files:
        problems.append("files: must be a non-empty list")
        files = []
    seen = set()
    for i, entry in enumerate(files):
        if not isinstance(entry, dict):
            problems.append(f"files[{i}]: not an object")
            continue
        path = entry.get("path")
        if not isinstance(path, str) or not FILE_PATTERN.match(path) or path in seen:
            problems.append(f"files[{i}].path: {path!r} is not a unique part-NNNNN.parquet name")
        seen.add(path)
        for key in ("rows", "bytes"):
            value = entry.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"files[{i}].{key}: must be a non-negative integer")
        if not isinstance(entry.get("sha256"), str) or not SHA256_PATTERN.match(entry["sha256"]):
            problems.append(f"files[{i}].sha256: must be 64 lower-case hex digits")
    expires = doc.get("expires")
    if expires is not None:
        try:
            parse_timestamp(expires)
        except (TypeError, ValueError):
            problems.append(f"expires: {expires!r} is not a UTC timestamp like 2025-06-30T12:00:00Z")
    arrow = (doc.get("schema") or {}).get("arrow") if isinstance(doc.get("schema"), dict) else None
    if arrow is not None:
        try:
            decode_schema(arrow)
        except (ValueError, TypeError, pa.ArrowInvalid):
            problems.append("schema.arrow: not a base64 Arrow IPC schema")
    if problems:
        raise ManifestInvalid(f"{where}: " + "; ".join(problems), problems=problems)
    return doc
