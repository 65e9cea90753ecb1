"""The file a part is written through: every byte counted and sha256-hashed on its way out.

With ``fsync`` on a local file, written data is also handed to the kernel's writeback every
``WRITEBACK_BYTES`` (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which starts the writes
and does not wait for them), as PostgreSQL's ``*_flush_after`` settings do. Without it the
kernel keeps a whole part dirty in memory (its background threshold is a share of RAM), and
the ``fsync`` at close writes all of it while nothing else runs: about 0.1 s for the 243 MiB
of the 1 GiB CSV benchmark, against 0.01 s with it. The final ``fsync`` stays the guarantee.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import io
import os
import sys
from collections.abc import Callable
from typing import Any

WRITEBACK_BYTES = 32 << 20
_SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """libc's ``sync_file_range`` on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range  # the process's own libc
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def start_writeback(fd: int, offset: int, nbytes: int) -> bool:
    """Ask the kernel to start writing ``nbytes`` of ``fd`` from ``offset`` to disk, without
    waiting; False where that cannot be asked (not Linux, or the call failed)."""
    function = _sync_file_range()
    return function is not None and function(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE) == 0


class HashingFile(io.RawIOBase):
    """Write-through file object that counts and sha256-hashes every byte written."""

    def __init__(self, raw: Any, *, fsync: bool = False, writeback_bytes: int = WRITEBACK_BYTES) -> None:
        super().__init__()
        self.raw = raw
        self.fsync = fsync
        self.hash = hashlib.sha256()
        self.size = 0
        self._writeback_bytes = writeback_bytes if fsync else 0
        self._written_back = 0  # bytes handed to the kernel's writeback so far

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:  # a discarded part: nothing more may reach the storage tier
            raise ValueError(f"write to a closed part file: {getattr(self.raw, 'path', self.raw)!r}")
        view = memoryview(data)
        self.hash.update(view)
        self.raw.write(view)
        self.size += view.nbytes
        if self._writeback_bytes and self.size - self._written_back >= self._writeback_bytes:
            self._write_back()
        return view.nbytes

    def _write_back(self) -> None:
        """Start the kernel's writeback of what was written since the last call (a hint: on any
        failure it is not asked again, and the fsync at close does all the work)."""
        try:
            fd = self.raw.fileno()  # first: a remote file has none, and must not be flushed early
            self.raw.flush()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            fd = -1
        if fd < 0 or not start_writeback(fd, self._written_back, self.size - self._written_back):
            self._writeback_bytes = 0
            return
        self._written_back = self.size

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self.raw.flush()
        if self.fsync:
            with contextlib.suppress(AttributeError, io.UnsupportedOperation):
                os.fsync(self.raw.fileno())
        self.raw.close()

    def discard(self) -> None:
        """Close without committing, where the file system allows it (S3 multipart uploads)."""
        if self.closed:
            return
        super().close()
        with contextlib.suppress(Exception):
            self.raw.discard()
        with contextlib.suppress(Exception):
            self.raw.close()
