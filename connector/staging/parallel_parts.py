"""Parallel Parquet encoding: parts encoded side by side, one thread and ParquetWriter each.

The calling thread hands row groups, in order, to the part being filled (see the module
docstring of :mod:`connector.staging.writer` for the scheme and its memory bound).
"""

from __future__ import annotations

import collections
import os
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from connector.staging.parts import PartInfo, WriteProgress, _Part

MAX_ENCODE_THREADS = 4


def resolve_encode_threads(value: int | None = None) -> int:
    """Parquet encoding threads: ``value`` (the ``PARQUET_ENCODE_THREADS`` setting, passed in by
    the staging service), else half the CPUs (at most :data:`MAX_ENCODE_THREADS`). 1: one part at
    a time, in the calling thread.

    Half: the parsers take the other cores. On 2 cores a second encoder measured no faster than
    one (1.10x vs 1.08x the best anchor, docs/staging.md) and wrote 9 parts per GiB instead of
    one, so 2-core machines keep the single encoder."""
    if value is not None:
        if value < 1:
            raise ValueError("encode_threads must be 1 (one part at a time) or more")
        return value
    return max(1, min((os.cpu_count() or 1) // 2, MAX_ENCODE_THREADS))


_STOP = object()
_FINISH = object()
ROW_GROUP_OVERHEAD = 64 * 1024  # page headers, statistics: added to the bound of a row group's bytes


class _PartEncoder:
    """One part encoded by a thread of ``pool``: the row groups handed to it, in the order handed.

    The thread reports to ``events``: ``("written", self, rows, size)`` after each row group,
    ``("closed", self, PartInfo)`` once the part is closed, ``("failed", self, exc)`` (the part
    discarded). ``_STOP`` makes it discard the part and end.
    """

    def __init__(self, index: int, make_part: Callable[[int], _Part], events: queue.SimpleQueue[Any],
                 pool: ThreadPoolExecutor) -> None:
        self.index = index
        self.events = events
        self.make_part = make_part
        self.tables: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.assigned = 0  # row groups handed over
        self.size = 0  # bytes written, as last reported
        self.bounds: collections.deque[int] = collections.deque()  # per row group not yet written
        pool.submit(self._run)

    @property
    def size_bound(self) -> int:
        """An upper bound of the part's size once every row group handed over is written."""
        return self.size + sum(self.bounds)

    def put(self, table: pa.Table) -> None:
        self.assigned += 1
        self.bounds.append(2 * table.nbytes + ROW_GROUP_OVERHEAD)
        self.tables.put(table)

    def finish(self) -> None:
        self.tables.put(_FINISH)

    def stop(self) -> None:
        self.tables.put(_STOP)

    def _run(self) -> None:
        part: _Part | None = None
        try:
            part = self.make_part(self.index)
            while True:
                item = self.tables.get()
                if item is _STOP:
                    break
                if item is _FINISH:
                    info, part = part.close(), None
                    self.events.put(("closed", self, info))
                    return
                part.write(item)
                rows, item = item.num_rows, None  # not held while waiting for the next one
                self.events.put(("written", self, rows, part.size))
        except BaseException as exc:  # noqa: BLE001  (handed to the calling thread, re-raised there)
            if part is not None:
                part.discard()  # before reporting: the caller's abort may remove the prefix next
            self.events.put(("failed", self, exc))
            return
        if part is not None:
            part.discard()


class _ParallelParts:
    """The calling thread's side of parallel encoding: hand row groups to parts, in order, with at
    most ``threads`` parts open and ``in_flight`` row groups handed over but not yet written."""

    def __init__(self, make_part: Callable[[int], _Part], *, threads: int, in_flight: int,
                 part_row_groups: int, max_part_bytes: int,
                 on_row_group: Callable[[WriteProgress], None] | None) -> None:
        self.make_part = make_part
        self.threads, self.in_flight_max = threads, in_flight
        self.part_row_groups, self.max_part_bytes = part_row_groups, max_part_bytes
        self.on_row_group = on_row_group
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # One thread per open part, reused from part to part.
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="connector-parquet")
        self.active: list[_PartEncoder] = []  # started and not yet closed, in part order
        self.current: _PartEncoder | None = None  # the part row groups are handed to
        self.parts: dict[int, PartInfo] = {}
        self.started = self.in_flight = self.rows = self.row_groups = self.closed_bytes = 0

    def put(self, table: pa.Table) -> None:
        self._drain()
        if self.current is not None and self._full(self.current):
            self.current.finish()
            self.current = None
        if self.current is None:
            while len(self.active) >= self.threads:
                self._wait()
            self.current = _PartEncoder(self.started, self.make_part, self.events, self.pool)
            self.active.append(self.current)
            self.started += 1
        while self.in_flight >= self.in_flight_max:
            self._wait()
        self.current.put(table)
        self.in_flight += 1

    def _full(self, part: _PartEncoder) -> bool:
        """The serial rule (a part is closed once its size reaches the bound), decided on the
        exact size: when the bound of what is still being encoded could reach it, wait for it."""
        if part.assigned >= self.part_row_groups:
            return True
        while part.bounds and part.size_bound >= self.max_part_bytes:
            self._wait()
        return part.size >= self.max_part_bytes

    def finish(self) -> tuple[PartInfo, ...]:
        """Close the last part, wait for every part; the parts in order."""
        if self.current is not None:
            self.current.finish()
            self.current = None
        while self.active:
            self._wait()
        self.pool.shutdown(wait=True)
        return tuple(self.parts[i] for i in sorted(self.parts))

    def abort(self) -> None:
        """Stop every part still open (each discards its file) and wait for their threads."""
        for part in self.active:
            part.stop()
        self.pool.shutdown(wait=True, cancel_futures=True)  # a part not started yet opens nothing
        self.active, self.current = [], None

    def _drain(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self._handle(event)

    def _wait(self) -> None:
        self._handle(self.events.get())

    def _handle(self, event: tuple[Any, ...]) -> None:
        kind, part, *rest = event
        if kind == "failed":
            self.active.remove(part)
            if self.current is part:
                self.current = None
            raise rest[0]
        if kind == "closed":
            self.parts[part.index] = rest[0]
            self.closed_bytes += rest[0].bytes
            self.active.remove(part)
            return
        rows, part.size = rest
        part.bounds.popleft()
        self.in_flight -= 1
        self.rows += rows
        self.row_groups += 1
        if self.on_row_group is not None:
            size = self.closed_bytes + sum(p.size for p in self.active)
            self.on_row_group(WriteProgress(self.rows, size, self.started, self.row_groups))
