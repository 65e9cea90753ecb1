"""Byte streams with limits: the meter on raw bytes, the ratio guard on decoded bytes,
a strict transcoder to UTF-8, and spooling to a temporary file for random-access formats.

Every wrapper is a plain readable file object whose ``read(n)`` returns up to ``n`` bytes
(fewer only at the end), so pyarrow, zipfile and ijson can read through it.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import shutil
import tempfile
import time
from typing import BinaryIO

from connector.adapters.errors import SourceFormatError, SourceTimeout, SourceTooLarge

CHUNK = 1 << 20


class Reader(io.RawIOBase):
    """A readable binary stream defined by its ``read(n)``."""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class Budget:
    """The limits of one ``read()``, shared by every file it reads: bytes and wall time."""

    def __init__(self, *, max_bytes: int | None, deadline: float | None, label: str = "the source") -> None:
        self.label = label
        self.max_bytes = max_bytes
        self.deadline_s = deadline
        self.started = time.monotonic()
        self.ends = None if deadline is None else self.started + deadline
        self.bytes = 0

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        return None if self.ends is None else self.ends - time.monotonic()

    def expired(self) -> bool:
        return self.ends is not None and time.monotonic() >= self.ends

    def timeout(self, limit: float | None) -> float | None:
        """``limit`` shortened to the time left (never below 1 ms)."""
        left = self.remaining()
        if left is None:
            return limit
        left = max(left, 0.001)
        return left if limit is None else min(limit, left)

    def check_time(self) -> None:
        if self.expired():
            raise SourceTimeout(f"{self.label}: did not finish within the deadline of {self.deadline_s:g} s",
                                deadline=self.deadline_s)

    def charge(self, n: int) -> None:
        self.bytes += n
        if self.max_bytes is not None and self.bytes > self.max_bytes:
            raise SourceTooLarge(f"{self.label}: larger than the maximum of {self.max_bytes} bytes",
                                 max_bytes=self.max_bytes)


class MeteredReader(Reader):
    """Raw bytes of one file: counted against the budget, hashed with sha256, deadline-checked.

    ``peek(n)`` looks ahead without consuming (for format and compression sniffing).
    """

    def __init__(self, raw: BinaryIO, budget: Budget) -> None:
        super().__init__()
        self._raw = raw
        self._budget = budget
        self._head = b""
        self._sha = hashlib.sha256()
        self.bytes = 0
        self.eof = False

    def _fetch(self, n: int) -> bytes:
        self._budget.check_time()
        data = self._raw.read(n)
        self._budget.check_time()
        if not data:
            self.eof = True
            return b""
        self._budget.charge(len(data))
        self._sha.update(data)
        self.bytes += len(data)
        return data

    def peek(self, n: int) -> bytes:
        while len(self._head) < n and not self.eof:
            self._head += self._fetch(n - len(self._head))
        return self._head[:n]

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        parts, size = [], 0
        if self._head:
            parts.append(self._head[:n])
            self._head = self._head[n:]
            size = len(parts[0])
        while size < n and not self.eof:
            data = self._fetch(n - size)
            parts.append(data)
            size += len(data)
        return b"".join(parts)

    def drain(self) -> None:
        """Read to the end, so that the count and the hash cover the whole file."""
        self._head = b""
        while not self.eof:
            self._fetch(CHUNK)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class RatioGuard(Reader):
    """Decoded bytes of a compressed stream: refused once they outgrow ``max_ratio`` x the
    compressed bytes consumed (after a grace of ``grace`` bytes, so small files always pass)."""

    def __init__(self, decoded: BinaryIO, compressed_bytes, *, max_ratio: float | None,
                 grace: int, name: str) -> None:
        super().__init__()
        self._decoded = decoded
        self._compressed = compressed_bytes  # callable -> bytes consumed so far
        self._max_ratio = max_ratio
        self._grace = grace
        self._name = name
        self.bytes = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        parts, size = [], 0
        while size < n:
            data = self._decoded.read(n - size)
            if not data:
                break
            parts.append(data)
            size += len(data)
            self.bytes += len(data)
            self._check()
        return b"".join(parts)

    def _check(self) -> None:
        if self._max_ratio is None or self.bytes <= self._grace:
            return
        compressed = max(self._compressed(), 1)
        if self.bytes / compressed > self._max_ratio:
            raise SourceTooLarge(
                f"{self._name}: {compressed} compressed bytes expanded to {self.bytes} "
                f"(more than the limit of {self._max_ratio:g}:1): refused as a possible "
                "decompression bomb", max_ratio=self._max_ratio)

    def close(self) -> None:
        try:
            self._decoded.close()
        finally:
            super().close()


class TranscodingReader(Reader):
    """Decodes ``encoding`` strictly and re-encodes as UTF-8; invalid bytes raise
    :class:`SourceFormatError` with the byte offset."""

    def __init__(self, stream: BinaryIO, encoding: str, *, name: str) -> None:
        super().__init__()
        self._stream = stream
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self._name = name
        self._out = b""
        self._offset = 0
        self._done = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        while len(self._out) < n and not self._done:
            raw = self._stream.read(max(n, CHUNK))
            final = not raw
            try:
                text = self._decoder.decode(raw, final=final)
            except UnicodeDecodeError as exc:
                raise SourceFormatError(
                    f"{self._name}: not valid {self._encoding} near byte {self._offset + exc.start}: "
                    f"{exc.reason}; declare the source's encoding", encoding=self._encoding) from exc
            self._offset += len(raw)
            self._out += text.encode("utf-8")
            self._done = final
        data, self._out = self._out[:n], self._out[n:]
        return data

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()


class Prefixed(Reader):
    """``head`` followed by the rest of ``stream`` (to push back sniffed bytes)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            data, self._head = self._head + self._stream.read(), b""
            return data
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
            if len(data) < n:
                data += self._stream.read(n - len(data))
            return data
        return self._stream.read(n)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()


def spool(stream: BinaryIO, *, directory: str | None = None) -> BinaryIO:
    """Copy ``stream`` into an anonymous temporary file (deleted on close), rewound.

    Used for formats that need random access (Parquet footers, zip central directories)
    when the source is not a local file; the size is bounded by the limits of ``stream``.
    """
    spooled = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115  (the caller closes it)
    try:
        shutil.copyfileobj(stream, spooled, CHUNK)
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    return spooled
