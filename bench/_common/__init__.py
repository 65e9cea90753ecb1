"""Helpers the benchmarks share: where things go, logging, statistics, the machine, the
``connector`` processes, and writing a benchmark's section of ``docs/benchmarks.md``.

Each benchmark under ``bench/`` is a script run alone (``python bench/<name>.py``); Python puts
``bench/`` first on ``sys.path``, so ``import _common`` finds this package.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO / "bench" / "results"
DOCS_PATH = REPO / "docs" / "benchmarks.md"
MIB = 1 << 20
SCRATCH = Path(tempfile.gettempdir()) / "connector-bench-staging"  # generated inputs, outputs


def log(message: str) -> None:
    """One time-stamped progress line on standard error."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
