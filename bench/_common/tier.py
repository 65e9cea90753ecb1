"""Reading a local storage tier from outside the service: what a reader would see as
published, what is still hidden, and whether every visible version is whole."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MANIFEST = "_manifest.json"
CROISSANT = "croissant.json"
HIDDEN = (".tmp-",)  # the service writes a version under <dataset>/.tmp-<version>-... first


def _size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def dataset_folders(root: Path) -> list[Path]:
    """``<root>/<project>/<dataset>`` folders."""
    if not root.is_dir():
        return []
    return [d for p in root.iterdir() if p.is_dir() for d in p.iterdir() if d.is_dir()]


def temporary(root: Path) -> dict[str, int]:
    """Hidden temporary version folders on the tier and the bytes each holds."""
    found = {}
    for dataset in dataset_folders(root):
        for child in dataset.iterdir():
            if child.name.startswith(HIDDEN) and child.is_dir():
                found[str(child.relative_to(root))] = _size(child)
    return found


def version_problems(version: Path) -> list[str]:
    """Why a visible version folder is not a whole version (empty when it is): its manifest
    must exist and parse, and the folder must hold exactly the files it lists, at their sizes."""
    manifest_path = version / MANIFEST
    if not manifest_path.exists():
        return [f"{version.name}: no {MANIFEST}"]
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        return [f"{version.name}: {MANIFEST} does not parse ({exc})"]
    listed = {f["path"]: int(f["bytes"]) for f in manifest.get("files", [])}
    present = {p.name for p in version.iterdir()} - {MANIFEST, CROISSANT}
    problems = [f"{version.name}: {name} is not in the manifest" for name in sorted(present - set(listed))]
    problems += [f"{version.name}: {name} is missing" for name in sorted(set(listed) - present)]
    for name in sorted(set(listed) & present):
        size = (version / name).stat().st_size
        if size != listed[name]:
            problems.append(f"{version.name}: {name} has {size} bytes, the manifest says {listed[name]}")
    return problems


def visible_versions(root: Path) -> dict[str, list[str]]:
    """Every version folder a reader sees (not hidden), with its problems (empty when whole)."""
    seen = {}
    for dataset in dataset_folders(root):
        for child in dataset.iterdir():
            if child.is_dir() and not child.name.startswith("."):
                seen[str(child.relative_to(root))] = version_problems(child)
    return seen


def publishing(dataset: Path) -> bool:
    """True once a hidden temporary folder of ``dataset`` holds ``croissant.json`` or the
    manifest: the parts are closed and the version is being published."""
    try:
        children = os.listdir(dataset)
    except OSError:
        return False
    return any(
        name.startswith(HIDDEN)
        and any(os.path.exists(os.path.join(dataset, name, f)) for f in (CROISSANT, MANIFEST))
        for name in children
    )


def published_folder(dataset: Path) -> bool:
    """True once ``dataset`` holds a visible version folder."""
    try:
        return any(not name.startswith(".") for name in os.listdir(dataset))
    except OSError:
        return False


def read_back_rows(version: Path) -> dict[str, Any]:
    """Rows of the version's Parquet parts as pyarrow reads them (the whole first column)."""
    import pyarrow.parquet as pq

    manifest = json.loads((version / MANIFEST).read_text())
    rows = 0
    for entry in manifest["files"]:
        part = pq.ParquetFile(version / entry["path"])
        first = part.schema_arrow.names[0]
        rows += sum(batch.num_rows for batch in part.iter_batches(columns=[first]))
    return {"rows": rows, "manifest_rows": int(manifest["rows"]), "parts": len(manifest["files"])}
