"""Input files generated with the anchors' ``gen_data.py`` and cached between runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import MIB, REPO, log

DEFAULT_ANCHORS = REPO.parent / "shared" / "bench-anchors"


def ensure_data(data_dir: str, anchors: str, kind: str, mib: int) -> dict[str, Any]:
    """Path, size and rows of the generated file, made with the anchors' gen_data.py if missing."""
    name = "data.csv" if kind == "csv" else "data.jsonl"
    folder = Path(data_dir) / f"{kind}-{mib}m"
    path, meta_path = folder / name, folder / "meta.json"
    if meta_path.exists() and path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get(name, {}).get("bytes") == path.stat().st_size:
            log(f"reusing {path} ({path.stat().st_size / MIB:,.0f} MiB)")
            return {
                "path": str(path),
                "bytes": path.stat().st_size,
                "rows": meta[name]["rows"],
                "generated": False,
            }
    free = shutil.disk_usage(data_dir).free
    if free < mib * MIB * 1.5:
        raise SystemExit(
            f"not enough space under {data_dir} for a {mib} MiB file ({free / MIB:,.0f} MiB free)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [
        "--csv-mib",
        str(mib if kind == "csv" else 0),
        "--jsonl-mib",
        str(mib if kind == "jsonl" else 0),
        "--parquet-mib",
        "0",
    ]
    log(f"generating {path} ({mib} MiB) with {anchors}/gen_data.py")
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, os.path.join(anchors, "gen_data.py"), "--out", str(folder), *sizes], check=True
    )
    meta = json.loads(meta_path.read_text())
    log(f"generated {path} in {time.perf_counter() - t0:.0f} s")
    return {"path": str(path), "bytes": path.stat().st_size, "rows": meta[name]["rows"], "generated": True}
