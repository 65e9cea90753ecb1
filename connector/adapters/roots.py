"""Which local paths a source may name: the roots of each organisation, and the checks.

``SOURCE_ROOTS`` is a mapping ``{organisation slug: [paths], "*": [paths]}`` or a plain list of
paths. In a mapping each organisation reads its own roots, and ``*`` holds roots every
organisation shares (an operator's deliberate choice). A plain list is per organisation by
convention: organisation ``slug`` reads ``<root>/<slug>/`` only, so one list serves many
organisations without any of them reaching another's files. The composition root turns the
setting into :class:`SourceRoots`, and the roots of the dataset's owner into the ``roots=`` of
:class:`connector.adapters.local.LocalAdapter`; nothing here reads the environment.

Paths are compared after ``realpath``, so a symbolic link that leaves the roots is refused.
This module imports no I/O library, so checking a URL at registration stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from connector.adapters.errors import SourceRefused

ROOTS_SETTING = "SOURCE_ROOTS"
ALL_ORGANISATIONS = "*"


def local_path(url: str) -> str:
    """The absolute path a ``file://`` URL or a plain path names, else SourceRefused."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise SourceRefused(f"file URL names another host ({parts.netloc})")
        path = url2pathname(parts.path)
    else:
        path = url
    if "\x00" in path:
        raise SourceRefused("a NUL byte in the path")
    if not os.path.isabs(path):
        raise SourceRefused(f"{path!r} is not an absolute path")
    return path


def inside(real: str, roots: Iterable[str]) -> bool:
    """True when the real path ``real`` is one of ``roots`` or lies below one."""
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def check_path(path: str, roots: tuple[str, ...], organisation: str | None = None) -> str:
    """The real path of ``path`` when it lies under the real ``roots``, else SourceRefused."""
    whose = f" of organisation {organisation!r}" if organisation else ""
    if not roots:
        raise SourceRefused(f"no local source roots{whose} are configured ({ROOTS_SETTING})")
    real = os.path.realpath(path)
    if not inside(real, roots):
        how = "through a symbolic link " if real != os.path.normpath(path) else ""
        raise SourceRefused(f"{path} leads {how}outside the local source roots{whose}", path=path)
    return real


@dataclass(frozen=True)
class SourceRoots:
    """The ``SOURCE_ROOTS`` setting: which roots each organisation may read."""

    per_organisation: tuple[str, ...] = ()  # the plain-list form: <root>/<slug>/
    named: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_setting(cls, value: list[str] | Mapping[str, Any] | None) -> SourceRoots:
        if isinstance(value, Mapping):
            return cls(named={slug: tuple([paths] if isinstance(paths, str) else paths)
                              for slug, paths in value.items()})
        return cls(per_organisation=tuple(value or ()))

    def for_organisation(self, slug: str | None) -> tuple[str, ...]:
        """The roots datasets of organisation ``slug`` may read (only shared ones for None)."""
        shared = tuple(self.named.get(ALL_ORGANISATIONS, ()))
        if not slug or slug == ALL_ORGANISATIONS or os.sep in slug or slug.startswith("."):
            return shared
        own = tuple(self.named.get(slug, ()))
        return (*(os.path.join(root, slug) for root in self.per_organisation), *own, *shared)

    def check(self, url: str, slug: str | None) -> str:
        """The real path of a ``file://`` URL or plain path when it lies under ``slug``'s
        roots (the file need not exist yet), else SourceRefused."""
        roots = tuple(os.path.realpath(root) for root in self.for_organisation(slug))
        return check_path(local_path(url), roots, slug)
