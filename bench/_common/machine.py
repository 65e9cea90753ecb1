"""What ran the benchmark: the machine, the package versions and the code (git)."""

from __future__ import annotations

import io
import os
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from _common import REPO


def describe(packages: Iterable[str] = ()) -> dict[str, Any]:
    """CPUs (those this process may use), CPU model and SHA-NI, memory, OS, Python, the file
    system of the temporary folder, and the versions of ``packages`` that are installed."""
    info: dict[str, Any] = {
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        if model := re.search(r"model name\s*:\s*(.*)", cpuinfo):
            info["cpu"] = model.group(1).strip()
        if flags := re.search(r"flags\s*:\s*(.*)", cpuinfo):
            info["sha_ni"] = "sha_ni" in flags.group(1).split()
        if total := re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()):
            info["memory_gib"] = round(int(total.group(1)) / (1 << 20), 1)
    except OSError:
        pass
    try:
        df = subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True, text=True)
        fs = df.stdout.splitlines()[-1].split()
        info["tmp_fs"] = f"{fs[1]} on {fs[0]}"
    except (OSError, IndexError):
        pass
    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    info["packages"] = found
    return info


def git(*args: str, strip: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip() if strip else done.stdout


def git_state(*paths: str) -> dict[str, Any]:
    """The working tree's HEAD and its uncommitted changes under ``paths``."""
    porcelain = git("status", "--porcelain", "--", *paths, strip=False)  # " M path": keep the space
    return {
        "source": "worktree",
        "commit": git("rev-parse", "HEAD")[:12],
        "dirty_paths": [line[3:] for line in porcelain.splitlines()],  # "XY path"
    }


def use_committed_code() -> dict[str, Any]:
    """Run against a clean ``git archive`` export of HEAD's connector/ and schemas/.

    The working tree may be edited while a long run goes on; a snapshot first on
    ``sys.path`` and ``PYTHONPATH`` (which the ``connector`` subprocesses inherit) keeps the
    code under test fixed and known. The repository itself is only read.
    """
    commit = git("rev-parse", "HEAD")
    snapshot = Path(tempfile.mkdtemp(prefix="bench-catalog-code-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "connector", "schemas"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(snapshot, filter="data")
    sys.path.insert(0, str(snapshot))
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(snapshot) + (os.pathsep + previous if previous else "")
    import connector

    child = subprocess.run(  # what the connector subprocesses will import
        [sys.executable, "-c", "import connector; print(connector.__file__)"],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for where in (connector.__file__, child):
        if not Path(where).resolve().is_relative_to(snapshot.resolve()):
            raise RuntimeError(f"connector imported from {where}, not from the snapshot")
    return {"source": "head", "commit": commit[:12], "snapshot": str(snapshot)}
