"""The Arrow memory pool a staging process uses (set in a child process: it is process-wide)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from connector.staging.memory import configure_arrow_memory


def _in_child(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True)
    return done.stdout.strip()


def test_jemalloc_becomes_the_default_pool_and_gives_freed_memory_back_at_once():
    out = _in_child(
        "import numpy as np, pyarrow as pa\n"
        "from connector.staging.memory import configure_arrow_memory\n"
        "def anon():\n"
        "    line = [x for x in open('/proc/self/status') if x.startswith('RssAnon')][0]\n"
        "    return int(line.split()[1]) >> 10\n"
        "print(configure_arrow_memory('jemalloc'), pa.default_memory_pool().backend_name)\n"
        "b = pa.allocate_buffer(256 << 20, resizable=False)\n"
        "np.ndarray(256 << 20, np.uint8, buffer=memoryview(b).cast('B')).fill(1)\n"
        "held = anon(); del b; freed = anon()\n"
        "print(held - freed >= 200)\n"
        "print(configure_arrow_memory('jemalloc'))\n")
    assert out.split() == ["jemalloc", "jemalloc", "True", "jemalloc"]


def test_default_leaves_pyarrows_own_choice():
    out = _in_child(
        "import pyarrow as pa\n"
        "before = pa.default_memory_pool().backend_name\n"
        "from connector.staging.memory import configure_arrow_memory\n"
        "print(configure_arrow_memory('default') == before)\n")
    assert out == "True"


def test_an_unknown_pool_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown Arrow memory pool 'tcmalloc'"):
        configure_arrow_memory("tcmalloc")
