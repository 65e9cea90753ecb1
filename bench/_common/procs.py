"""Processes: CPU other processes use while a benchmark measures, resident memory of a
process tree, and killing a process group."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from _common import log


class MachineLoad:
    """Whole-machine CPU use while a measurement runs (other work skews latencies)."""

    def __init__(self) -> None:
        self.load_start = os.getloadavg()[0]
        self.cpu_start = self._cpu()

    @staticmethod
    def _cpu() -> tuple[int, int]:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except OSError:
            return 0, 0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields) - idle, sum(fields)

    def summary(self) -> dict[str, float]:
        busy0, total0 = self.cpu_start
        busy1, total1 = self._cpu()
        busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan")
        return {
            "loadavg_1m_start": round(self.load_start, 2),
            "loadavg_1m_end": round(os.getloadavg()[0], 2),
            "machine_cpu_busy": round(busy, 3),
        }


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks used) of a process, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[11]) + int(rest[12])


def _proc_title(pid: int) -> str:
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        return title or "[" + Path(f"/proc/{pid}/comm").read_text().strip() + "]"
    except (OSError, UnicodeDecodeError):
        return "?"


def _entries(pids: Iterable[int], folder: str) -> Iterator[str]:
    """The paths ``/proc/<pid>/<folder>/<entry>`` of processes that still exist."""
    for pid in pids:
        try:
            names = os.listdir(f"/proc/{pid}/{folder}")
        except OSError:
            continue
        yield from (f"/proc/{pid}/{folder}/{name}" for name in names)


def _local_ports(pids: set[int]) -> set[int]:
    """Local TCP ports of the sockets the processes ``pids`` hold."""
    inodes = set()
    for fd in _entries(pids, "fd"):
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[9] in inodes:
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


class ProcessCpu:
    """CPU used by other processes than the benchmark's own while a measurement runs.

    The benchmark's own: this process and its descendants (the server), the PostgreSQL
    backends serving their connections (found by client port in the process title) and
    those backends' parallel workers. Everything else, another session's test suite
    included, is "other". Linux /proc only; elsewhere it reports nothing.
    """

    def __init__(self) -> None:
        self.machine = MachineLoad()
        self.t0 = time.monotonic()
        self.start = self._others()

    @staticmethod
    def _others() -> dict[int, tuple[int, str]]:
        if not Path("/proc/self/stat").exists():
            return {}
        stats = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (st := _proc_stat(int(name))):
                stats[int(name)] = st
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        mine, stack = set(), [os.getpid()]
        while stack:
            pid = stack.pop()
            mine.add(pid)
            stack.extend(children.get(pid, []))
        ports = _local_ports(mine)
        titles, pg_mine = {}, set()
        for pid in stats:
            if pid in mine:
                continue
            title = _proc_title(pid)
            port = re.search(r"\(([0-9]+)\)", title)
            if title.startswith("postgres:") and port and int(port.group(1)) in ports:
                pg_mine.add(pid)
            else:
                titles[pid] = title
        others = {}
        for pid, title in titles.items():
            leader = re.search(r"parallel worker for PID ([0-9]+)", title)
            if not (leader and int(leader.group(1)) in pg_mine):
                others[pid] = (stats[pid][1], title)
        return others

    def summary(self) -> dict[str, Any]:
        end = self._others()
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        used: Counter[str] = Counter()
        for pid, (ticks, title) in end.items():
            before = self.start[pid][0] if pid in self.start else 0
            used[title[:80]] += max(0, ticks - before)
        return {
            "other_cpus": round(sum(used.values()) / CLK_TCK / elapsed, 2),
            "other_top": [
                [name, round(t / CLK_TCK / elapsed, 2)] for name, t in used.most_common(3) if t
            ],
            **self.machine.summary(),
        }


def wait_until_quiet(args: argparse.Namespace, label: str) -> float:
    """Wait until other processes use at most ``--quiet-cpus`` CPUs; returns seconds waited."""
    started = time.monotonic()
    last_log = 0.0
    while True:
        probe = ProcessCpu()
        time.sleep(2)
        seen = probe.summary()
        waited = time.monotonic() - started
        if seen["other_cpus"] <= args.quiet_cpus:
            return round(waited, 1)
        if waited > args.quiet_timeout:
            log(f"{label}: machine still busy after {waited:.0f} s; measuring anyway")
            return round(waited, 1)
        if waited - last_log >= 60 or last_log == 0:
            last_log = waited or 1e-9
            log(
                f"{label}: waiting for a quiet machine (others use {seen['other_cpus']} CPUs: "
                f"{', '.join(n for n, _ in seen['other_top'])})"
            )
        time.sleep(5)



def cpu_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK

def other_processes(seconds: float = 3.0) -> tuple[float, list[tuple[str, float]]]:
    """CPUs used by processes outside this process tree over ``seconds``, and the top ones."""
    import psutil

    me = psutil.Process()
    mine = {me.pid} | {p.pid for p in me.children(recursive=True)}
    procs = {}
    for p in psutil.process_iter(["pid"]):
        if p.pid in mine:
            continue
        try:
            procs[p.pid] = (p, p.cpu_times())
        except psutil.Error:
            pass
    time.sleep(seconds)
    used = []
    for p, before in procs.values():
        try:
            after = p.cpu_times()
            name = " ".join(p.cmdline()[:3])[:80] or p.name()
        except psutil.Error:
            continue
        delta = (after.user + after.system) - (before.user + before.system)
        if delta > 0:
            used.append((name, delta / seconds))
    used.sort(key=lambda x: -x[1])
    return round(sum(u for _, u in used), 2), [(n, round(u, 2)) for n, u in used[:3]]


def wait_quiet(args: argparse.Namespace, label: str) -> dict[str, Any]:
    """Wait until other processes use at most ``--quiet-cpus``; ``--quiet-wait`` is the budget
    for the whole run (``args.quiet_left``), so a machine that stays busy costs it only once."""
    started = time.monotonic()
    last = -1e9
    while True:
        others, top = other_processes()
        waited = time.monotonic() - started if last > -1e9 else 0.0
        if others <= args.quiet_cpus:
            args.quiet_left -= waited
            return {"quiet": True, "waited_s": round(waited), "other_cpus": others, "top": top}
        if waited >= args.quiet_left:
            args.quiet_left = 0.0
            log(
                f"{label}: still busy after {waited:.0f} s (others use {others} CPUs: {top}); "
                "measuring anyway"
            )
            return {"quiet": False, "waited_s": round(waited), "other_cpus": others, "top": top}
        if waited - last >= 60:
            last = waited
            log(f"{label}: waiting for a quiet machine (others use {others} CPUs: {top})")
        time.sleep(args.quiet_poll)



def tree_rss_bytes(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants now (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def group_members(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` that still exist (zombies excluded)."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := _stat_fields(int(name))) and fields[2] == pgid:
            if fields[0] != "Z":
                members.append(int(name))
    return members


def _stat_fields(pid: int) -> list[Any] | None:
    """(state, ppid, pgid) of a process from /proc/<pid>/stat, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return [rest[0], int(rest[1]), int(rest[2])]


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := _stat_fields(int(name))):
            children.setdefault(fields[1], []).append(int(name))
    found, stack = [], list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children.get(child, []))
    return found


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to every process of group ``pgid`` (a process started with
    ``start_new_session=True`` and whatever it forked) and to every descendant of its leader
    (one that moved to a group of its own too); returns the pids it signalled."""
    targets = sorted(set(group_members(pgid)) | set(descendants(pgid)))
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return targets


# fsync and fdatasync by architecture (Linux syscall tables)
FSYNC_SYSCALLS = {"x86_64": {74, 75}, "aarch64": {82, 83}}


def in_syscall(pids: list[int], numbers: set[int]) -> bool:
    """True when a thread of one of ``pids`` is inside one of the system calls ``numbers``
    now (``/proc/<pid>/task/<tid>/syscall``: the number while blocked, "running" otherwise)."""
    for task in _entries(pids, "task"):
        try:
            first = Path(f"{task}/syscall").read_text().split(" ", 1)[0]
        except OSError:
            continue
        if first.isdigit() and int(first) in numbers:
            return True
    return False
