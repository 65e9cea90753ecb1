"""Source adapters behind a registry modelled on fsspec's ``registry.py``.

``known_adapters`` maps a URL scheme to the dotted path of its class and an install hint;
the class is imported on first use (``get_adapter``) and kept in the private registry,
of which ``registry`` is a read-only view. Other packages add schemes through the entry
point group ``connector.adapters`` (``name = "package.module:Class"``), read once, on the
first lookup; they never replace a built-in scheme. Importing this package imports no
adapter and no pyarrow.

    from connector.adapters import SourceSpec, open_source
    with open_source(SourceSpec("s3://bucket/data.csv.gz"), endpoint_url=...) as stream:
        for batch in stream: ...
"""

from __future__ import annotations

import importlib
import logging
import threading
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connector.adapters.errors import AdapterUnavailable, UnsupportedSource

if TYPE_CHECKING:
    from connector.adapters.base import SourceAdapter, SourceSpec, SourceStream

ENTRY_POINT_GROUP = "connector.adapters"
log = logging.getLogger(__name__)

_LOCAL = {"class": "connector.adapters.local.LocalAdapter", "err": "the local adapter failed to import"}
_HTTP = {"class": "connector.adapters.http.HttpAdapter", "err": "the HTTP adapter failed to import"}
_CKAN = {"class": "connector.adapters.ckan.CkanAdapter", "err": "the CKAN adapter failed to import"}
known_adapters: dict[str, dict[str, str]] = {
    "file": _LOCAL,
    "http": _HTTP,
    "https": _HTTP,
    "s3": {"class": "connector.adapters.s3.S3Adapter",
           "err": "s3 needs `pip install connector[s3]` (s3fs)"},
    "ckan": _CKAN,
    "ckan+http": _CKAN,
    "ckan+https": _CKAN,
    "dsp": {"class": "connector.adapters.dsp.DspAdapter", "err": "the DSP transfer adapter failed to import"},
}

_registry: dict[str, type[SourceAdapter]] = {}
registry = MappingProxyType(_registry)
_entry_points_read = False
_lock = threading.Lock()


def register_adapter(name: str, cls: type[SourceAdapter] | str, clobber: bool = False,
                     errtxt: str | None = None) -> None:
    """Add an adapter for scheme ``name``: a class, or the dotted path of one (imported lazily).

    Without ``clobber`` a different adapter already known under ``name`` raises ValueError.
    """
    name = name.lower()
    if isinstance(cls, str):
        known = known_adapters.get(name)
        if known and known["class"] != cls and not clobber:
            raise ValueError(f"adapter scheme {name!r} is already known ({known['class']}); "
                             "pass clobber=True to replace it")
        known_adapters[name] = {"class": cls, "err": errtxt or f"{cls} failed to import for {name!r}"}
        if clobber:
            _registry.pop(name, None)
        return
    if name in _registry and _registry[name] is not cls and not clobber:
        raise ValueError(f"adapter scheme {name!r} is already registered ({_registry[name].__name__}); "
                         "pass clobber=True to replace it")
    _registry[name] = cls


def _import_class(path: str) -> type:
    module, _, name = path.rpartition(":") if ":" in path else path.rpartition(".")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise TypeError(f"{path} is not a class")
    return obj


def load_entry_points(*, reload: bool = False) -> None:
    """Read the ``connector.adapters`` entry points into ``known_adapters`` (once)."""
    global _entry_points_read
    with _lock:
        if _entry_points_read and not reload:
            return
        _entry_points_read = True
        for point in entry_points(group=ENTRY_POINT_GROUP):
            name = point.name.lower()
            if name in known_adapters and known_adapters[name]["class"] != point.value:
                log.warning("entry point %s ignored: scheme %r is already served by %s",
                            point, name, known_adapters[name]["class"])
                continue
            known_adapters[name] = {"class": point.value,
                                    "err": f"the adapter for {name!r} from entry point {point.value} "
                                           "failed to import"}


def get_adapter(scheme: str) -> type[SourceAdapter]:
    """The adapter class for a URL scheme (``""`` means a local path), imported on first use."""
    scheme = (scheme or "file").lower()
    if scheme not in _registry:
        if scheme not in known_adapters:
            load_entry_points()
        if scheme not in known_adapters:
            raise UnsupportedSource(f"no source adapter for {scheme!r} URLs "
                                    f"(known: {', '.join(sorted(known_adapters))})", scheme=scheme)
        entry = known_adapters[scheme]
        try:
            cls = _import_class(entry["class"])
        except ImportError as exc:
            raise AdapterUnavailable(entry["err"], scheme=scheme) from exc
        register_adapter(scheme, cls)
    return _registry[scheme]


def scheme_of(url: str) -> str:
    """The registry key for ``url``: its scheme, or ``file`` for a plain path."""
    return urlsplit(url).scheme.lower() or "file"


def adapter_for(url: str, **options: Any) -> SourceAdapter:
    """An adapter instance for ``url``; ``options`` go to its constructor."""
    return get_adapter(scheme_of(url))(**options)


def open_source(spec: SourceSpec | str, **options: Any) -> SourceStream:
    """``adapter_for(spec.url, **options).read(spec)``."""
    url = spec if isinstance(spec, str) else spec.url
    return adapter_for(url, **options).read(spec)


def __getattr__(name: str) -> Any:  # SourceSpec & co. without importing pyarrow up front
    if name in ("SourceSpec", "SourceAdapter", "SourceStream", "Provenance", "FileRecord"):
        from connector.adapters import base
        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ENTRY_POINT_GROUP", "adapter_for", "get_adapter", "known_adapters", "load_entry_points",
           "open_source", "register_adapter", "registry", "scheme_of"]
