"""Local and POSIX sources (a Lustre or NFS mount too): absolute paths and ``file://`` URLs.

Only files under the allowed roots are read (``roots=``, built by the composition root for the
organisation that owns the dataset with :class:`connector.adapters.roots.SourceRoots`; none
given means every path is refused; the adapter never reads the environment for them). Paths are
resolved with ``realpath`` first, so a symlink that leaves the roots is refused; the file
is then opened with ``O_NOFOLLOW`` and, on Linux, the opened descriptor's own path is
checked again, so swapping a link in between does not help. Only regular files are read
(a FIFO or a device is refused without blocking on it).

A directory is several files: its data files (known extensions, not hidden, not ``_``
markers) in sorted order, recursively; symbolic links to directories are not followed.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

from connector.adapters import formats
from connector.adapters.base import Location, Opened, SourceAdapter, SourceSpec
from connector.adapters.errors import SourceRefused, UnsupportedSource
from connector.adapters.roots import check_path, inside, local_path
from connector.adapters.streams import Budget

_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | \
    getattr(os, "O_NONBLOCK", 0)


class LocalAdapter(SourceAdapter):
    """Reads files under ``roots`` (none: every path is refused)."""

    schemes = ("", "file")

    def __init__(self, *, roots: list[str | os.PathLike[str]] | None = None,
                 spool_dir: str | None = None) -> None:
        super().__init__(spool_dir=spool_dir)
        self.roots = tuple(os.path.realpath(r) for r in roots or ())

    def _check_scheme(self, url: str) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in self.schemes:
            raise UnsupportedSource(f"the local adapter reads paths and file:// URLs, not {scheme!r}")

    def _inside(self, real: str) -> bool:
        return inside(real, self.roots)

    def _check(self, path: str) -> str:
        return check_path(path, self.roots)

    def _locations(self, spec: SourceSpec, budget: Budget) -> list[Location]:
        path = local_path(spec.url)
        real = self._check(path)
        if not os.path.isdir(real):
            os.stat(real)  # FileNotFoundError -> not found
            return [Location(Path(path).as_uri(), os.path.basename(path), key=real)]
        found: list[tuple[str, Location]] = []
        for directory, subdirs, files in os.walk(real, followlinks=False):
            for sub in subdirs:
                if os.path.islink(os.path.join(directory, sub)):
                    self._check(os.path.join(directory, sub))
            subdirs[:] = [d for d in subdirs if not d.startswith((".", "_"))]
            for name in files:
                full = os.path.join(directory, name)
                relative = os.path.relpath(full, real)
                if not formats.is_data_name(relative, spec.format):
                    continue
                shown = os.path.join(path, relative)
                found.append((relative, Location(Path(shown).as_uri(), name, key=self._check(full))))
        return [location for _, location in sorted(found, key=lambda item: item[0])]

    def _open(self, spec: SourceSpec, location: Location, budget: Budget, *,
              probe: bool = False) -> Opened:
        real = location.key
        try:
            fd = os.open(real, _FLAGS)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the resolved path became a symbolic link
                raise SourceRefused(f"{real} is a symbolic link now") from exc
            raise
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SourceRefused(f"{real} is not a regular file")
            os.set_blocking(fd, True)
            opened_path = f"/proc/self/fd/{fd}"
            if os.path.islink(opened_path) and not self._inside(os.readlink(opened_path)):
                raise SourceRefused(f"{real} left the allowed roots while being opened")
            stream = os.fdopen(fd, "rb", buffering=0)
        except BaseException:
            os.close(fd)
            raise
        return Opened(stream=stream, final_url=Path(real).as_uri(), name=location.name,
                      size=info.st_size, local=True)
