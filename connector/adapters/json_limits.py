"""Nesting depth and record size of JSON text, checked before a parser sees the bytes.

pyarrow's JSON reader, ijson and Python's ``json`` recurse (or allocate) once per nesting level:
``"[" * 100000 + "]" * 100000`` took a process to 23.6 GB, one JSON Lines object nested 100,000
deep segfaulted libarrow. So the text is scanned as it streams, and a record nested deeper than
``max_depth`` or longer than ``max_record_bytes`` is refused with the line (JSON Lines) or byte
offset (JSON), before any of those bytes are handed on.

The scan is vectorised (numpy) over each read: a quote is a string delimiter unless an odd run
of backslashes precedes it (the run is carried across reads), a bracket counts only outside
strings (parity of the delimiters before it), and the depth is a cumulative sum over the
brackets. JSON Lines (the staging hot path) is first screened: a line cannot nest deeper than it
has opening brackets, and the opening brackets of the 1 KiB blocks a line touches bound them, so
only reads where that bound exceeds the limit are scanned exactly, from the start of the line
(``docs/benchmarks.md`` has the cost). Byte offsets are in the decoded (UTF-8) text.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from connector.adapters.errors import SourceTooLarge
from connector.adapters.streams import CHUNK, Reader

DEPTH_SETTING = "SOURCE_MAX_JSON_DEPTH"
RECORD_SETTING = "SOURCE_MAX_RECORD_BYTES"
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_RECORD_BYTES = 16 << 20  # what the parallel JSON Lines reader reached before (8 x 2 MiB)

_QUOTE, _BACKSLASH, _NEWLINE = 0x22, 0x5C, 0x0A
_OPEN, _CLOSE = 0x5B, 0x5D  # "[" and "]"; "{" and "}" are the same bytes with 0x20 set
_BLOCK = 1024  # bytes per block of the JSON Lines screen


def depth_error(name: str, limit: int, where: str) -> SourceTooLarge:
    return SourceTooLarge(f"{name}: {where} nests deeper than {limit} levels; the limit is the "
                          f"setting {DEPTH_SETTING}", max_json_depth=limit, setting=DEPTH_SETTING)


def record_error(name: str, limit: int, where: str) -> SourceTooLarge:
    return SourceTooLarge(f"{name}: {where} is longer than {limit} bytes; the limit is the setting "
                          f"{RECORD_SETTING}", max_record_bytes=limit, setting=RECORD_SETTING)


def _string_quotes(arr: np.ndarray, backslashes: int) -> tuple[np.ndarray, int]:
    """Positions of the quotes that delimit strings, and the backslash run ``arr`` ends with.

    ``backslashes`` is the run the text before ``arr`` ended with. Outside strings a backslash
    is not JSON at all, and the parser stops there before any bracket this scan misjudges.
    """
    quotes = np.flatnonzero(arr == _QUOTE)
    if not backslashes and arr.tobytes().find(b"\\") < 0:
        return quotes, 0
    slashes = np.flatnonzero(arr == _BACKSLASH)
    trailing = 0
    escaped = np.zeros(len(quotes), dtype=bool)
    if len(slashes):
        index = np.arange(len(slashes))
        starts = np.ones(len(slashes), dtype=bool)
        starts[1:] = slashes[1:] != slashes[:-1] + 1
        first = np.maximum.accumulate(np.where(starts, index, 0))  # where each one's run starts
        runs = index - first + 1  # the run's length up to and including each backslash
        if backslashes and slashes[0] == 0:
            runs[first == 0] += backslashes
        # Only quotes right after a backslash can be escaped: look those few up.
        after = np.flatnonzero(arr[np.maximum(quotes - 1, 0)] == _BACKSLASH)
        after = after[quotes[after] > 0]
        last = np.searchsorted(slashes, quotes[after]) - 1  # the backslash just before
        escaped[after] = runs[last] % 2 == 1
        trailing = int(runs[-1]) if slashes[-1] == len(arr) - 1 else 0
    if backslashes % 2 and len(quotes) and quotes[0] == 0:
        escaped[0] = True
    return quotes[~escaped], trailing


class ScanState:
    """Where a scan stands between reads: depth, inside a string or not, the backslash run."""

    __slots__ = ("backslashes", "depth", "in_string")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.backslashes = 0


def scan(arr: np.ndarray, state: ScanState, *, lines: bool) -> tuple[np.ndarray, np.ndarray]:
    """Bracket positions outside strings in ``arr`` and the depth after each; updates ``state``.

    With ``lines`` a newline ends a record: depth and string state start afresh after it.
    """
    quotes, state.backslashes = _string_quotes(arr, state.backslashes)
    folded = arr & 0xDF
    brackets = np.flatnonzero((folded == _OPEN) | (folded == _CLOSE))
    delimiters = np.zeros(len(arr), dtype=np.int32)
    delimiters[quotes] = 1
    counted = np.cumsum(delimiters, out=delimiters)  # dense: faster than a search per bracket
    before = counted[brackets]  # delimiters before each bracket (a bracket is not a quote)
    newlines = np.flatnonzero(arr == _NEWLINE) if lines else np.empty(0, dtype=np.intp)
    if len(newlines):
        line = np.searchsorted(newlines, brackets)  # newlines before each bracket
        fresh = line > 0
        start_quotes = counted[newlines]
        base = np.where(fresh, start_quotes[np.maximum(line - 1, 0)], 0)
        parity = (before - base + np.where(fresh, 0, int(state.in_string))) & 1
    else:
        parity = (before + int(state.in_string)) & 1
    outside = parity == 0
    brackets = brackets[outside]
    if len(newlines):
        line, fresh = line[outside], fresh[outside]
    depths = np.cumsum(np.where(folded[brackets] == _OPEN, 1, -1))
    if len(newlines):
        sums = np.concatenate(([0], depths))
        at_newline = sums[np.searchsorted(brackets, newlines)]  # the sum at each newline
        depths = depths - np.where(fresh, at_newline[np.maximum(line - 1, 0)], -state.depth)
        after = newlines[-1]
        tail = brackets > after
        state.depth = int(depths[tail][-1]) if tail.any() else 0
        state.in_string = bool((len(quotes) - start_quotes[-1]) & 1)
    else:
        depths = depths + state.depth
        if len(depths):
            state.depth = int(depths[-1])
        state.in_string ^= bool(len(quotes) & 1)
    return brackets, depths


class JsonLinesLimits(Reader):
    """JSON Lines text passed through once every line in it is checked (see the module)."""

    def __init__(self, stream: BinaryIO, *, name: str, max_depth: int, max_record_bytes: int) -> None:
        super().__init__()
        self._stream, self._name = stream, name
        self._max_depth, self._max_record = max_depth, max_record_bytes
        self._offset = 0  # text bytes passed on so far
        self._lines = 0  # newlines passed on so far
        self._tail = b""  # the unfinished last line (for an exact scan from its start)
        self._tail_opens = 0  # a bound on its opening brackets
        self._state: ScanState | None = None  # the exact state at the end of the tail, if scanned
        self._scratch = np.empty(0, dtype=np.uint8)
        self._flags = np.empty(0, dtype=bool)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        data = self._stream.read(n)
        if data:
            self._check(data)
        return data

    def _check(self, data: bytes) -> None:
        newline = data.find(b"\n")
        last = data.rfind(b"\n")
        newlines = self._screen(np.frombuffer(data, dtype=np.uint8))
        if newlines < 0 or self._state is not None:
            self._exact(data, newline >= 0)
            newlines = data.count(b"\n") if newlines < 0 else newlines
        self._check_length(data, newline, last)
        if newline >= 0:
            self._tail = data[last + 1:]
        else:
            self._tail += data
        self._lines += newlines
        self._offset += len(data)

    def _screen(self, arr: np.ndarray) -> int:
        """The newlines in ``arr``, or -1 when a line in it may have more opening brackets than
        the depth limit (the sum over the blocks the line touches bounds them)."""
        if len(self._scratch) < len(arr):  # reused: fresh temporaries cost page faults
            self._scratch = np.empty(len(arr), dtype=np.uint8)
            self._flags = np.empty(len(arr), dtype=bool)
        scratch, flags = self._scratch[:len(arr)], self._flags[:len(arr)]
        np.bitwise_or(arr, 0x20, out=scratch)
        np.equal(scratch, 0x7B, out=flags)
        block_opens = _block_sums(flags.view(np.uint8))
        np.equal(arr, _NEWLINE, out=flags)
        block_ends = _block_sums(flags.view(np.uint8))
        sums = np.concatenate(([0], np.cumsum(block_opens)))
        marks = np.flatnonzero(block_ends)
        if not len(marks):
            self._tail_opens += int(sums[-1])
            return -1 if self._tail_opens > self._max_depth else 0
        first = self._tail_opens + int(sums[marks[0] + 1])
        between = sums[marks[1:] + 1] - sums[marks[:-1]]
        self._tail_opens = int(sums[-1] - sums[marks[-1]])
        if first > self._max_depth or self._tail_opens > self._max_depth or \
                (between > self._max_depth).any():
            return -1
        return int(block_ends.sum())

    def _exact(self, data: bytes, ends_line: bool) -> None:
        """Scan exactly from the start of the unfinished line, or on from where the last exact
        scan stopped inside it (a long line is not scanned again read after read)."""
        if self._state is None:
            state, text, start = ScanState(), self._tail + data, self._offset - len(self._tail)
        else:
            state, text, start = self._state, data, self._offset
        brackets, depths = scan(np.frombuffer(text, dtype=np.uint8), state, lines=True)
        deep = np.flatnonzero(depths > self._max_depth)
        if len(deep):
            at = int(brackets[deep[0]])
            line = self._lines + text.count(b"\n", 0, at) + 1
            raise depth_error(self._name, self._max_depth, f"line {line} (at byte {start + at} of the text)")
        self._state = None if ends_line else state

    def _check_length(self, data: bytes, newline: int, last: int) -> None:
        limit, tail = self._max_record, len(self._tail)
        first = tail + (newline if newline >= 0 else len(data))
        if first > limit:
            self._raise_long(self._lines + 1, self._offset - tail)
        if len(data) > limit and newline >= 0:  # lines inside this read may be long too
            ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE)
            gaps = np.diff(ends) - 1
            long = np.flatnonzero(gaps > limit)
            if len(long):
                self._raise_long(self._lines + int(long[0]) + 2, self._offset + int(ends[long[0]]) + 1)
            if len(data) - last - 1 > limit:
                self._raise_long(self._lines + len(ends) + 1, self._offset + last + 1)

    def _raise_long(self, line: int, start: int) -> None:
        raise record_error(self._name, self._max_record, f"line {line} (from byte {start} of the text)")

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()


def _block_sums(flags: np.ndarray) -> np.ndarray:
    """How many of ``flags`` (0 or 1 bytes) are set in each ``_BLOCK``-byte block (the last
    block may be shorter)."""
    whole = len(flags) - len(flags) % _BLOCK
    # Eight byte lanes summed per 64-bit word (at most 128 per lane: no carry between lanes).
    lanes = flags[:whole].view(np.uint64).reshape(-1, _BLOCK // 8).sum(axis=1, dtype=np.uint64)
    sums = lanes.view(np.uint8).reshape(-1, 8).sum(axis=1, dtype=np.int64)
    if whole < len(flags):
        sums = np.append(sums, int(np.count_nonzero(flags[whole:])))
    return sums


class JsonDocumentLimits(Reader):
    """One JSON document passed through once checked: depth, and the size of every record
    (a value that opens at ``record_depth``: 1 for the items of a top-level array)."""

    def __init__(self, stream: BinaryIO, *, name: str, max_depth: int, max_record_bytes: int,
                 record_depth: int = 1) -> None:
        super().__init__()
        self._stream, self._name = stream, name
        self._max_depth, self._max_record = max_depth, max_record_bytes
        self._record_depth = record_depth
        self._state = ScanState()
        self._offset = 0
        self._record_start: int | None = None  # where the record being read began

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        data = self._stream.read(n)
        if data:
            self.check(data)
        return data

    def check(self, data: bytes) -> None:
        before = self._state.depth
        brackets, depths = scan(np.frombuffer(data, dtype=np.uint8), self._state, lines=False)
        deep = np.flatnonzero(depths > self._max_depth)
        if len(deep):
            at = self._offset + int(brackets[deep[0]])
            raise depth_error(self._name, self._max_depth, f"the document (at byte {at} of the text)")
        level = self._record_depth
        previous = np.concatenate(([before], depths[:-1]))
        opened = brackets[(previous == level) & (depths == level + 1)] + self._offset
        closed = brackets[(previous == level + 1) & (depths == level)] + self._offset
        starts = list(opened)
        if self._record_start is not None:
            starts.insert(0, self._record_start)
        for start, end in zip(starts, closed, strict=False):
            if end - start + 1 > self._max_record:
                self._raise_long(int(start))
        self._record_start = int(starts[-1]) if len(starts) > len(closed) else None
        self._offset += len(data)
        if self._record_start is not None and self._offset - self._record_start > self._max_record:
            self._raise_long(self._record_start)

    def _raise_long(self, start: int) -> None:
        raise record_error(self._name, self._max_record, f"the record from byte {start} of the text")

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()


def check_document(text: bytes, *, name: str, max_depth: int, max_record_bytes: int | None = None) -> None:
    """Raise :class:`SourceTooLarge` when the whole JSON document ``text`` nests deeper than
    ``max_depth`` (or has a top-level record longer than ``max_record_bytes``)."""
    limits = JsonDocumentLimits(_Empty(), name=name, max_depth=max_depth,
                                max_record_bytes=max_record_bytes or len(text) + 1)
    for start in range(0, len(text), CHUNK):
        limits.check(text[start:start + CHUNK])


class _Empty(Reader):
    def read(self, n: int = -1) -> bytes:
        return b""
