"""The file a part is written through: every byte counted and sha256-hashed on its way out."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from typing import Any


class HashingFile(io.RawIOBase):
    """Write-through file object that counts and sha256-hashes every byte written."""

    def __init__(self, raw: Any, *, fsync: bool = False) -> None:
        super().__init__()
        self.raw = raw
        self.fsync = fsync
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:  # a discarded part: nothing more may reach the storage tier
            raise ValueError(f"write to a closed part file: {getattr(self.raw, 'path', self.raw)!r}")
        view = memoryview(data)
        self.hash.update(view)
        self.raw.write(view)
        self.size += view.nbytes
        return view.nbytes

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
