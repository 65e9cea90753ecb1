"""Compression: inference (name, media type, magic bytes), streaming gzip/bz2/zstd through
Arrow's codecs, and zip archives read member by member without extracting anything.

Every decoded stream sits behind a :class:`~connector.adapters.streams.RatioGuard`.
Zip members with ``..`` parts, absolute or drive names, NUL bytes, symbolic links, special
files or encryption refuse the whole archive. A zip member never yields more than its
declared size (zipfile stops there and checks the CRC), so the declared sizes are checked
against the ratio limit before anything is decompressed.
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Callable
from typing import BinaryIO

import pyarrow as pa

from connector.adapters.errors import SourceFormatError, SourceRefused, SourceTooLarge
from connector.adapters.streams import RatioGuard

COMPRESSIONS = ("gzip", "bz2", "zstd", "zip")
SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd",
            ".zip": "zip"}
MEDIA_TYPES = {"application/gzip": "gzip", "application/x-gzip": "gzip",
               "application/x-bzip2": "bz2", "application/zstd": "zstd",
               "application/zip": "zip", "application/x-zip-compressed": "zip"}
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip"),
          (b"PK\x05\x06", "zip"))
_BZ2 = re.compile(rb"BZh[1-9]1AY&SY")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Files that archivers add beside the data; never read.
_JUNK = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$|Thumbs\.db$)")


def split_suffix(name: str) -> tuple[str, str | None]:
    """``("data.csv", "gzip")`` for ``"data.csv.gz"``; ``(name, None)`` without a known suffix."""
    lower = name.lower()
    for suffix, compression in SUFFIXES.items():
        if lower.endswith(suffix):
            return name[: -len(suffix)], compression
    return name, None


def sniff(head: bytes) -> str | None:
    """The compression whose magic number starts ``head``, if any."""
    for magic, compression in _MAGIC:
        if head.startswith(magic):
            return compression
    return "bz2" if _BZ2.match(head) else None


def decompress(stream: BinaryIO, compression: str, *, consumed: Callable[[], int],
               max_ratio: float | None, grace: int, name: str) -> BinaryIO:
    """The decoded bytes of a gzip, bz2 or zstd ``stream`` (several concatenated members too).

    ``consumed()`` gives the compressed bytes read so far, the denominator of the ratio.
    """
    decoded = pa.CompressedInputStream(stream, compression)
    return RatioGuard(decoded, consumed, max_ratio=max_ratio, grace=grace, name=name)


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member is refused, or None when it is safe to read."""
    raw = info.orig_filename
    name = raw.replace("\\", "/")
    mode = info.external_attr >> 16 if info.create_system == 3 else 0  # Unix mode bits
    if "\x00" in raw:
        return "a NUL byte in the name"
    if name.startswith("/") or _DRIVE.match(name):
        return "an absolute name"
    if ".." in name.split("/"):
        return "a parent directory reference (..)"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "a special file"
    if info.flag_bits & 0x1:
        return "encryption"
    return None


def members(archive: zipfile.ZipFile, *, name: str, max_ratio: float | None, grace: int,
            archive_bytes: int) -> list[zipfile.ZipInfo]:
    """The regular data members of ``archive`` in name order, after the safety checks."""
    infos = archive.infolist()
    for info in infos:
        problem = member_problem(info)
        if problem:
            raise SourceRefused(f"{name}: zip member {info.orig_filename!r} refused: {problem}",
                                member=info.orig_filename)
    regular = [i for i in infos if not i.is_dir() and not _JUNK.search(i.filename)]
    if max_ratio is not None:
        for info in regular:
            if info.file_size > grace and info.file_size > max_ratio * max(info.compress_size, 1):
                raise SourceTooLarge(
                    f"{name}: zip member {info.filename!r} declares {info.file_size} bytes from "
                    f"{info.compress_size} (above the ratio limit of {max_ratio:g}:1)",
                    member=info.filename, max_ratio=max_ratio)
        total = sum(i.file_size for i in regular)
        if total > grace and total > max_ratio * max(archive_bytes, 1):
            raise SourceTooLarge(
                f"{name}: the zip members declare {total} bytes from an archive of {archive_bytes} "
                f"(above the ratio limit of {max_ratio:g}:1)", max_ratio=max_ratio)
    return sorted(regular, key=lambda i: i.filename)


def open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, max_ratio: float | None,
                grace: int, name: str) -> BinaryIO:
    """A guarded stream of one member's decoded bytes."""
    try:
        decoded = archive.open(info)
    except (NotImplementedError, RuntimeError) as exc:  # unsupported method, encrypted
        raise SourceFormatError(f"{name}: cannot read zip member {info.filename!r}: {exc}") from exc
    return RatioGuard(decoded, lambda: info.compress_size, max_ratio=max_ratio, grace=grace,
                      name=f"{name}!{info.filename}")
