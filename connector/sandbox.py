"""Run a function in a child process under resource limits, and say in words how it ended.

Untrusted bytes (staging sources, harvested documents) are parsed here, never in the API
process: a parser that recurses until the stack runs out, or allocates until the kernel steps
in, takes down only its child, and the parent records why.

The child is a fresh interpreter, ``python -m connector.sandbox``, started with
:class:`subprocess.Popen` (no ``preexec_fn``), not a ``fork`` of the caller. ``connector serve``
runs waitress's threads and the worker loop in a thread: a forked copy of such a process
inherits whatever locks those threads held at that instant (logging, the SQLAlchemy pool, the
allocator's arenas) and may deadlock on them, and ``preexec_fn`` runs Python in that copy. A
fresh interpreter starts clean, opens its own database connections and imports only what its
target needs; it costs about half a second per job, nothing next to a staging. The child reads
its orders (a pickle, from its parent only) on standard input, applies its limits, asks the
kernel to kill it when its parent thread dies (``PR_SET_PDEATHSIG``), then calls the target.

Limits (:class:`Limits`):

* memory: ``memory.max`` of a cgroup v2 made for the child under ``cgroup`` (a delegated,
  writable cgroup directory with the memory controller in its ``cgroup.subtree_control``); the
  kernel's OOM killer then ends the child and ``memory.events`` says so. Without one, the
  parent watches the child's resident memory (``/proc/<pid>/statm``, every 50 ms) and kills it
  with SIGKILL above ``memory_bytes``; ``RLIMIT_AS`` at ``address_space_bytes`` backs that up
  against an allocation too fast to be seen (the allocation fails: ``MemoryError``, or a crash
  in native code). ``RLIMIT_AS`` alone at the memory limit does not work: address space is not
  resident memory. A normal staging of a 66 MB CSV reserved 2.2 GiB of address space (mimalloc's
  1 GiB arena, jemalloc's arenas, 8 MiB per thread stack, the libraries) for 262 MiB resident,
  and failed under a 2 GiB ``RLIMIT_AS``; the reservation grows with the CPUs (arenas, pool
  threads), not with the data.
* CPU time: ``RLIMIT_CPU`` (all threads together); the kernel sends SIGXCPU, then SIGKILL.
* open files: ``RLIMIT_NOFILE``.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import pickle
import resource
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MEMORY_SETTING = "CONNECTOR_JOB_MEMORY_LIMIT"
CPU_SETTING = "CONNECTOR_JOB_CPU_SECONDS"
FILES_SETTING = "CONNECTOR_JOB_OPEN_FILES"

EXIT_ERROR, EXIT_MEMORY, EXIT_OPEN_FILES, EXIT_ORPHANED = 1, 3, 4, 5
_PR_SET_PDEATHSIG = 1
_CPU_GRACE = 5  # seconds of CPU between SIGXCPU (soft limit) and SIGKILL (hard limit)
_REPORT_CHARS = 2000
_WATCH_SECONDS = 0.05


@dataclass(frozen=True)
class Limits:
    """Resource limits of a child; None leaves a resource unlimited."""

    memory_bytes: int | None = 2 << 30  # resident (watched), or the cgroup's memory.max
    address_space_bytes: int | None = 8 << 30  # RLIMIT_AS, the backstop (not with a cgroup)
    cpu_seconds: int | None = None
    open_files: int | None = 1024
    cgroup: str | None = None  # a delegated cgroup v2 directory; None: RLIMIT_AS


@dataclass(frozen=True)
class Outcome:
    """How a child ended: its exit status or signal, and a cause a person understands."""

    exit_code: int | None  # None when a signal ended it
    signal: int | None
    cause: str | None  # None when it exited 0
    cpu_seconds: float
    peak_rss_bytes: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def describe_bytes(value: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value} bytes"


def memory_cause(limits: Limits) -> str:
    return (f"the worker exceeded the {describe_bytes(limits.memory_bytes or 0)} memory limit "
            f"({MEMORY_SETTING})")


def open_files_cause(limits: Limits) -> str:
    return f"the worker exceeded the limit of {limits.open_files} open files ({FILES_SETTING})"


def cpu_cause(limits: Limits) -> str:
    return f"the worker exceeded the {limits.cpu_seconds} s CPU time limit ({CPU_SETTING})"


def run(target: str, *args: Any, limits: Limits, env: dict[str, str] | None = None) -> Outcome:
    """Call ``target`` (``"package.module:function"``) with ``args`` (picklable) in a child
    process under ``limits``; wait for it and return how it ended."""
    report_read, report_write = os.pipe()
    cgroup = _Cgroup.create(limits) if limits.cgroup else None
    try:
        child = subprocess.Popen([sys.executable, "-m", "connector.sandbox"], stdin=subprocess.PIPE,
                                 pass_fds=(report_write,), env=env)
    except BaseException:
        os.close(report_read)
        if cgroup:
            cgroup.remove()
        raise
    finally:
        os.close(report_write)
    try:
        if cgroup:
            cgroup.admit(child.pid)  # before the orders: the child waits for them on stdin
        with contextlib.suppress(BrokenPipeError):
            child.stdin.write(pickle.dumps({"target": target, "args": args, "limits": limits,
                                            "report_fd": report_write, "parent": os.getpid()}))
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()
        status, usage, over = _wait(child.pid, None if cgroup else limits.memory_bytes)
        child.returncode = os.waitstatus_to_exitcode(status)
        report = _read_all(report_read)
        oom = over or (cgroup.oom_killed() if cgroup else False)
    finally:
        os.close(report_read)
        if child.returncode is None:  # interrupted while waiting: never leave it running
            child.kill()
            child.wait()
        if cgroup:
            cgroup.remove()
    cpu = usage.ru_utime + usage.ru_stime
    code = child.returncode
    return Outcome(exit_code=None if code < 0 else code, signal=-code if code < 0 else None,
                   cause=_cause(code, report, cpu, oom, limits), cpu_seconds=cpu,
                   peak_rss_bytes=usage.ru_maxrss * 1024)


def _wait(pid: int, resident_limit: int | None) -> tuple[int, Any, bool]:
    """Wait for ``pid``; kill it if its resident memory passes ``resident_limit``. Returns its
    wait status, its resource usage and whether it was killed for its memory."""
    if resident_limit is None:
        _, status, usage = os.wait4(pid, 0)
        return status, usage, False
    page = os.sysconf("SC_PAGE_SIZE")
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, False
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                resident = int(statm.read().split()[1]) * page
        except (OSError, IndexError, ValueError):  # exiting: the next wait4 reaps it
            resident = 0
        if resident > resident_limit:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return status, usage, True
        time.sleep(_WATCH_SECONDS)


def _cause(code: int, report: bytes, cpu: float, oom: bool, limits: Limits) -> str | None:
    if code == 0:
        return None
    if oom:
        return memory_cause(limits)
    if code < 0:
        number = -code
        if limits.cpu_seconds is not None and number in (signal.SIGXCPU, signal.SIGKILL) \
                and cpu >= limits.cpu_seconds - 1:
            return cpu_cause(limits)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        return f"the worker was killed by signal {number} ({name})"
    if code == EXIT_MEMORY:
        return memory_cause(limits)
    if code == EXIT_OPEN_FILES:
        return open_files_cause(limits)
    if code == EXIT_ORPHANED:
        return "the worker's parent process ended before the worker started"
    detail = report.decode("utf-8", "replace").strip()
    return detail or f"the worker exited with status {code}"


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)[:_REPORT_CHARS * 4]


class _Cgroup:
    """A cgroup v2 made for one child under a delegated directory, removed after it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, limits: Limits) -> _Cgroup:
        path = Path(limits.cgroup or "") / f"connector-job-{os.getpid()}-{secrets.token_hex(4)}"
        path.mkdir()
        group = cls(path)
        try:
            if limits.memory_bytes is not None:
                (path / "memory.max").write_text(str(limits.memory_bytes))
                with contextlib.suppress(FileNotFoundError):  # no swap accounting: nothing to cap
                    (path / "memory.swap.max").write_text("0")
        except OSError:
            group.remove()
            raise
        return group

    def admit(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def oom_killed(self) -> bool:
        try:
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
        except (OSError, ValueError):
            return False
        return int(events.get("oom_kill", 0)) > 0

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()


def usable_cgroup(path: str) -> str | None:
    """``path`` when it is a writable cgroup v2 directory whose children get the memory
    controller; None otherwise (the caller falls back to RLIMIT_AS)."""
    directory = Path(path)
    try:
        controllers = (directory / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    return path if "memory" in controllers and os.access(directory, os.W_OK) else None


# --- the child -------------------------------------------------------------------------

def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(EXIT_ORPHANED)


def _limit(kind: int, soft: int, hard: int | None = None) -> None:
    _, current_hard = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))


def _apply(limits: Limits) -> None:
    if limits.address_space_bytes is not None and not limits.cgroup:
        _limit(resource.RLIMIT_AS, limits.address_space_bytes)
    if limits.cpu_seconds is not None:
        _limit(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + _CPU_GRACE)
    if limits.open_files is not None:
        _limit(resource.RLIMIT_NOFILE, limits.open_files)


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, MemoryError):
        return EXIT_MEMORY
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        return EXIT_OPEN_FILES
    return EXIT_ERROR


def _child() -> None:
    orders = pickle.loads(sys.stdin.buffer.read())  # noqa: S301  (written by our parent only)
    _die_with_parent(orders["parent"])
    report = orders["report_fd"]
    os.set_inheritable(report, False)
    _apply(orders["limits"])
    module, _, name = orders["target"].partition(":")
    try:
        getattr(importlib.import_module(module), name)(*orders["args"])
    except BaseException as exc:  # noqa: BLE001  (the parent is told, in the exit status)
        code = _exit_code(exc)
        if code == EXIT_ERROR:
            with contextlib.suppress(Exception):
                os.write(report, f"{type(exc).__name__}: {exc}"[:_REPORT_CHARS].encode("utf-8", "replace"))
            import traceback

            traceback.print_exc()
        os._exit(code)


if __name__ == "__main__":
    _child()
