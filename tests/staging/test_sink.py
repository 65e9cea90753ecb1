"""The hashing sink: what it counts and hashes, and the early writeback of fsynced local parts."""

from __future__ import annotations

import hashlib
import io
import sys

import pytest

from connector.staging.sink import HashingFile, start_writeback

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")


def _write(sink: HashingFile, chunks: int, size: int) -> bytes:
    data = b""
    for i in range(chunks):
        chunk = bytes([i % 251]) * size
        sink.write(chunk)
        data += chunk
    return data


@linux_only
def test_an_fsynced_local_part_is_handed_to_the_kernel_writeback_as_it_grows(tmp_path):
    path = tmp_path / "part.parquet"
    sink = HashingFile(open(path, "wb"), fsync=True, writeback_bytes=64 << 10)
    data = _write(sink, 10, 20 << 10)  # 200 KiB: writeback asked at 80, 160 KiB
    assert sink._written_back == 160 << 10
    sink.close()
    assert path.read_bytes() == data and sink.size == len(data)
    assert sink.hash.hexdigest() == hashlib.sha256(data).hexdigest()


def test_without_fsync_no_writeback_is_asked(tmp_path):
    sink = HashingFile(open(tmp_path / "part.parquet", "wb"), fsync=False, writeback_bytes=1024)
    _write(sink, 4, 1024)
    assert sink._written_back == 0
    sink.close()


def test_a_file_without_a_descriptor_is_written_whole_and_never_asked_again():
    class Remote(io.BytesIO):  # like an upload buffer: no descriptor, and a flush would upload early
        flushes = 0

        def flush(self):
            self.flushes += 1

        def close(self):
            self.kept = self.getvalue()
            super().close()

    raw = Remote()
    sink = HashingFile(raw, fsync=True, writeback_bytes=1024)
    data = _write(sink, 5, 1024)
    assert sink._writeback_bytes == 0 and raw.flushes == 0
    sink.close()
    assert raw.kept == data


@linux_only
def test_start_writeback_says_whether_the_kernel_took_the_request(tmp_path):
    with open(tmp_path / "f", "wb") as f:
        f.write(b"x" * 4096)
        f.flush()
        assert start_writeback(f.fileno(), 0, 4096) is True
    assert start_writeback(-1, 0, 4096) is False
