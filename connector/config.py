"""Configuration.

Load order, later wins:

1. the defaults in :data:`DEFAULTS` (embedded SQLite and local storage under ``HOME``);
2. a Python settings file named by ``CONNECTOR_SETTINGS`` (upper-case names only);
3. ``CONNECTOR_<KEY>`` environment variables (values parsed as JSON when they parse, else text;
   a value that starts like JSON, ``[`` or ``{``, but does not parse is an error);
4. the mapping given to ``create_app`` (tests).

List settings (:data:`LIST_SEPARATORS`) take a JSON list or the items separated by commas
(``SOURCE_ROOTS`` by ``os.pathsep`` too, as ``PATH`` is), from any source; ``SOURCE_ROOTS``
may also be a mapping ``{organisation slug: [paths]}`` (see :mod:`connector.adapters.local`).

``HOME`` defaults to ``$CONNECTOR_HOME``, else ``./instance`` in the working directory.
``DATABASE_URL`` and ``STORAGE_URL`` derive from ``HOME`` unless set. The result is validated
once: an unknown key or a value of the wrong type raises :class:`ConfigError` naming the key.
Secrets come only from the environment or the settings file, never from the code.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "CONNECTOR_"
ARROW_MEMORY_POOLS = ("jemalloc", "mimalloc", "system", "default")  # see connector.staging.memory

DEFAULTS: dict[str, Any] = {
    "HOME": None,
    "DATABASE_URL": None,
    "STORAGE_URL": None,
    "SCHEMAS_DIR": None,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "MAX_JSON_DEPTH": 64,
    "AUTO_MIGRATE": None,
    "SEARCH_MAX_LIMIT": 100,
    "SEARCH_DEFAULT_LIMIT": 20,
    "LOG_LEVEL": "INFO",
    "TESTING": False,
    "SITE_LOCATION": "ai-factory",
    "SITE_REGION": "EU",
    "STORAGE_OPTIONS": {},
    "SOURCE_ROOTS": None,
    "SOURCE_ALLOWLIST": [],
    "S3_ENDPOINT_URL": None,
    "S3_USE_INSTANCE_METADATA": False,
    "PSEUDONYMISATION_SECRET": None,
    "SECRETS_KEY": None,
    "PROJECT_QUOTA_BYTES": 1 << 40,
    "MAX_SOURCE_BYTES": None,
    "SOURCE_DEADLINE_SECONDS": 6 * 3600.0,
    "SOURCE_READ_TIMEOUT": 60.0,
    "CSV_PARSE_THREADS": None,
    "SOURCE_MAX_JSON_DEPTH": 64,
    "SOURCE_MAX_RECORD_BYTES": 16 << 20,
    "PARQUET_ENCODE_THREADS": None,
    "ARROW_MEMORY_POOL": "jemalloc",
    "JOB_LEASE_SECONDS": 300,
    "JOB_MAX_ATTEMPTS": 5,
    "JOB_BACKOFF_SECONDS": 10.0,
    "JOB_MAX_CRASHES": 2,
    "JOB_ISOLATION": True,
    "JOB_MEMORY_LIMIT": 2 << 30,
    "JOB_CPU_SECONDS": 24 * 3600,
    "JOB_OPEN_FILES": 1024,
    "JOB_CGROUP": None,
    "WORKER_POLL_SECONDS": 2.0,
    "WORKER_IN_PROCESS": None,
    "DSP_PARTICIPANT_ID": None,
    "DSP_PARTICIPANTS": [],
    "DSP_IDENTIFIER_TYPE": None,
    "DSP_PAGE_SIZE": 100,
    "DSP_TOKEN_TTL_SECONDS": 300,
    "DSP_TRIGGERS": False,
    "HARVEST_LEASE_SECONDS": 300,
    "HARVEST_MAX_PAGE_BYTES": 50 << 20,
    "HARVEST_TIMEOUT_SECONDS": 60.0,
    "PUBLIC_BASE_URL": None,
    "CATALOG_TITLE": "Data catalog",
    "CATALOG_DESCRIPTION": "The datasets this connector offers, in DCAT-AP 3.0.1.",
    "CATALOG_PUBLISHER": "Data catalog operator",
    "CATALOG_PAGE_SIZE": 100,
}

_TYPES: dict[str, tuple[type, ...]] = {
    "HOME": (str, type(None)),
    "DATABASE_URL": (str, type(None)),
    "STORAGE_URL": (str, type(None)),
    "SCHEMAS_DIR": (str, type(None)),
    "MAX_CONTENT_LENGTH": (int,),
    "MAX_JSON_DEPTH": (int,),
    "AUTO_MIGRATE": (bool, type(None)),
    "SEARCH_MAX_LIMIT": (int,),
    "SEARCH_DEFAULT_LIMIT": (int,),
    "LOG_LEVEL": (str,),
    "TESTING": (bool,),
    "SITE_LOCATION": (str,),
    "SITE_REGION": (str,),
    "STORAGE_OPTIONS": (dict,),
    "SOURCE_ROOTS": (list, dict, type(None)),
    "SOURCE_ALLOWLIST": (list,),
    "S3_ENDPOINT_URL": (str, type(None)),
    "S3_USE_INSTANCE_METADATA": (bool,),
    "PSEUDONYMISATION_SECRET": (str, type(None)),
    "SECRETS_KEY": (str, type(None)),
    "PROJECT_QUOTA_BYTES": (int,),
    "MAX_SOURCE_BYTES": (int, type(None)),
    "SOURCE_DEADLINE_SECONDS": (int, float),
    "SOURCE_READ_TIMEOUT": (int, float),
    "CSV_PARSE_THREADS": (int, type(None)),
    "SOURCE_MAX_JSON_DEPTH": (int,),
    "SOURCE_MAX_RECORD_BYTES": (int,),
    "PARQUET_ENCODE_THREADS": (int, type(None)),
    "ARROW_MEMORY_POOL": (str,),
    "JOB_LEASE_SECONDS": (int,),
    "JOB_MAX_ATTEMPTS": (int,),
    "JOB_BACKOFF_SECONDS": (int, float),
    "JOB_MAX_CRASHES": (int,),
    "JOB_ISOLATION": (bool,),
    "JOB_MEMORY_LIMIT": (int, type(None)),
    "JOB_CPU_SECONDS": (int, type(None)),
    "JOB_OPEN_FILES": (int, type(None)),
    "JOB_CGROUP": (str, type(None)),
    "WORKER_POLL_SECONDS": (int, float),
    "WORKER_IN_PROCESS": (bool, type(None)),
    "DSP_PARTICIPANT_ID": (str, type(None)),
    "DSP_PARTICIPANTS": (list,),
    "DSP_IDENTIFIER_TYPE": (str, type(None)),
    "DSP_PAGE_SIZE": (int,),
    "DSP_TOKEN_TTL_SECONDS": (int,),
    "DSP_TRIGGERS": (bool,),
    "HARVEST_LEASE_SECONDS": (int,),
    "HARVEST_MAX_PAGE_BYTES": (int,),
    "HARVEST_TIMEOUT_SECONDS": (int, float),
    "PUBLIC_BASE_URL": (str, type(None)),
    "CATALOG_TITLE": (str,),
    "CATALOG_DESCRIPTION": (str,),
    "CATALOG_PUBLISHER": (str,),
    "CATALOG_PAGE_SIZE": (int,),
}

#: The largest DCAT-AP export page (datasets per page) a caller may ask for.
CATALOG_MAX_PAGE_SIZE = 1000

#: List settings of text items and what separates the items in their plain-text form.
LIST_SEPARATORS: dict[str, tuple[str, ...]] = {
    "SOURCE_ALLOWLIST": (",",),
    "SOURCE_ROOTS": (",", os.pathsep),
}
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")

# Environment variables that belong to the test harness or to the adapters' own defaults.
_IGNORED_ENV = {"SETTINGS", "TEST_DATABASE_URL", "CKAN_API_TOKEN"}


class ConfigError(ValueError):
    """A configuration key is unknown or has a value of the wrong type."""


def _looks_like_json(raw: str) -> bool:
    return raw.lstrip()[:1] in ("[", "{")


def _parse_env_value(key: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        if _looks_like_json(raw):
            raise ConfigError(f"{key}: starts like JSON but does not parse: {exc}") from None
        return raw


def parse_list(key: str, value: Any, separators: tuple[str, ...] = (",",)) -> Any:
    """A list setting from its text form: a JSON list (or, where the key allows, a JSON
    object), else the items between ``separators``, stripped, empty ones dropped. Values that
    are not text are returned as they are. ConfigError names ``key`` when JSON-looking text
    does not parse."""
    if not isinstance(value, str):
        return value
    if _looks_like_json(value):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: starts like JSON but does not parse: {exc}") from None
    for separator in separators[1:]:
        value = value.replace(separator, separators[0])
    return [item.strip() for item in value.split(separators[0]) if item.strip()]


def host_or_network(entry: str) -> str | ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An allow-list entry as a network (an address or CIDR, IPv6 optionally in brackets) or a
    lower-case host name without the trailing dot; ValueError for anything else."""
    text = entry.strip() if isinstance(entry, str) else entry
    if not isinstance(text, str) or not text:
        raise ValueError(f"{entry!r} is neither a host name nor an address nor a CIDR")
    try:
        return ipaddress.ip_network(text[1:-1] if text.startswith("[") and text.endswith("]")
                                    else text, strict=False)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels) \
            or labels[-1].isdigit():
        raise ValueError(f"{entry!r} is neither a host name nor an address nor a CIDR")
    return name


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the validated configuration, following the load order in the module docstring."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    settings_file = environ.get(ENV_PREFIX + "SETTINGS")
    if settings_file:
        if not Path(settings_file).is_file():
            raise ConfigError(f"CONNECTOR_SETTINGS: no such file {settings_file!r}")
        values = runpy.run_path(settings_file)
        config.update({k: v for k, v in values.items() if k.isupper()})
    for name, raw in environ.items():
        if name.startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX):]
            if key in _IGNORED_ENV:
                continue
            config[key] = raw if key in ("HOME", "DATABASE_URL", "STORAGE_URL",
                                         "SCHEMAS_DIR", "LOG_LEVEL",
                                         "SITE_LOCATION", "SITE_REGION", *LIST_SEPARATORS,
                                         "S3_ENDPOINT_URL",
                                         "DSP_PARTICIPANT_ID", "DSP_IDENTIFIER_TYPE",
                                         "PSEUDONYMISATION_SECRET", "SECRETS_KEY", "PUBLIC_BASE_URL",
                                         "CATALOG_TITLE", "CATALOG_DESCRIPTION",
                                         "CATALOG_PUBLISHER", "JOB_CGROUP") else _parse_env_value(key, raw)
    config.update(overrides or {})
    for key, separators in LIST_SEPARATORS.items():
        if key in config:
            config[key] = parse_list(key, config[key], separators)
    _validate(config)
    return _derive(config)


def _validate(config: Mapping[str, Any]) -> None:
    for key, value in config.items():
        if key not in _TYPES:
            raise ConfigError(f"unknown configuration key {key!r} (known: {', '.join(sorted(_TYPES))})")
        allowed = _TYPES[key]
        if isinstance(value, bool) and bool not in allowed:
            raise ConfigError(f"{key}: expected {allowed[0].__name__}, got {value!r}")
        if not isinstance(value, allowed):
            raise ConfigError(f"{key}: expected {allowed[0].__name__}, got {value!r}")
    for key in ("MAX_CONTENT_LENGTH", "MAX_JSON_DEPTH", "SEARCH_MAX_LIMIT", "SEARCH_DEFAULT_LIMIT",
                "PROJECT_QUOTA_BYTES", "JOB_LEASE_SECONDS", "JOB_MAX_ATTEMPTS",
                "HARVEST_LEASE_SECONDS", "HARVEST_MAX_PAGE_BYTES", "JOB_MAX_CRASHES",
                "JOB_MEMORY_LIMIT", "JOB_CPU_SECONDS", "JOB_OPEN_FILES", "SOURCE_MAX_JSON_DEPTH",
                "SOURCE_MAX_RECORD_BYTES"):
        if config[key] is not None and config[key] <= 0:
            raise ConfigError(f"{key}: must be positive, got {config[key]!r}")
    if config["CSV_PARSE_THREADS"] is not None and config["CSV_PARSE_THREADS"] < 1:
        raise ConfigError("CSV_PARSE_THREADS: must be 1 (serial) or more, "
                          f"got {config['CSV_PARSE_THREADS']!r}")
    if config["PARQUET_ENCODE_THREADS"] is not None and config["PARQUET_ENCODE_THREADS"] < 1:
        raise ConfigError("PARQUET_ENCODE_THREADS: must be 1 (one part at a time) or more, "
                          f"got {config['PARQUET_ENCODE_THREADS']!r}")
    if config["ARROW_MEMORY_POOL"] not in ARROW_MEMORY_POOLS:
        raise ConfigError(f"ARROW_MEMORY_POOL: expected one of {', '.join(ARROW_MEMORY_POOLS)}, "
                          f"got {config['ARROW_MEMORY_POOL']!r}")
    _validate_dsp(config)
    _validate_sources(config)
    _validate_secrets_key(config)
    if not 1 <= config["CATALOG_PAGE_SIZE"] <= CATALOG_MAX_PAGE_SIZE:
        raise ConfigError(f"CATALOG_PAGE_SIZE: must be from 1 to {CATALOG_MAX_PAGE_SIZE}, "
                          f"got {config['CATALOG_PAGE_SIZE']!r}")
    base = config["PUBLIC_BASE_URL"]
    if base is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base):
        raise ConfigError(f"PUBLIC_BASE_URL: expected an http(s) URL without query or fragment, got {base!r}")
    for key in ("CATALOG_TITLE", "CATALOG_DESCRIPTION", "CATALOG_PUBLISHER"):
        if not config[key].strip():
            raise ConfigError(f"{key}: must not be empty")



def _validate_sources(config: Mapping[str, Any]) -> None:
    """Every allow-list entry a host name, address or CIDR; the roots a list of paths or a
    mapping of organisation slugs (or ``*``) to paths."""
    for entry in config["SOURCE_ALLOWLIST"]:
        try:
            host_or_network(entry)
        except ValueError as exc:
            raise ConfigError(f"SOURCE_ALLOWLIST: {exc}") from None
    roots = config["SOURCE_ROOTS"]
    lists = roots.values() if isinstance(roots, dict) else [] if roots is None else [roots]
    if isinstance(roots, dict) and not all(isinstance(k, str) and k.strip() for k in roots):
        raise ConfigError("SOURCE_ROOTS: the keys are organisation slugs or '*'")
    for paths in lists:
        paths = [paths] if isinstance(paths, str) else paths
        if not isinstance(paths, list) or not all(isinstance(p, str) and os.path.isabs(p) for p in paths):
            raise ConfigError(f"SOURCE_ROOTS: expected absolute paths, got {paths!r}")


def _validate_dsp(config: Mapping[str, Any]) -> None:
    """The Dataspace Protocol keys; secrets are checked when the application starts."""
    from connector.dsp.participants import parse_participants

    try:
        participants = parse_participants(config["DSP_PARTICIPANTS"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    own = config["DSP_PARTICIPANT_ID"]
    if own is not None and not own.strip():
        raise ConfigError("DSP_PARTICIPANT_ID: must not be empty")
    if participants and own is None:
        raise ConfigError("DSP_PARTICIPANT_ID: required when DSP_PARTICIPANTS names participants")
    if any(p.id == own for p in participants):
        raise ConfigError(f"DSP_PARTICIPANTS: {own!r} is our own DSP_PARTICIPANT_ID")
    for key in ("DSP_PAGE_SIZE", "DSP_TOKEN_TTL_SECONDS"):
        if not 1 <= config[key] <= (1000 if key == "DSP_PAGE_SIZE" else 86400):
            raise ConfigError(f"{key}: out of range, got {config[key]!r}")


def _validate_secrets_key(config: Mapping[str, Any]) -> None:
    """``SECRETS_KEY`` seals DSP secrets at rest (:mod:`connector.encryption`); the value is never echoed."""
    from connector.encryption import MIN_KEY_LENGTH

    key = config["SECRETS_KEY"]
    if key is not None and len(key.strip()) < MIN_KEY_LENGTH:
        raise ConfigError(f"SECRETS_KEY: must be at least {MIN_KEY_LENGTH} characters "
                          "(e.g. the output of `openssl rand -base64 32`)")


def _derive(config: dict[str, Any]) -> dict[str, Any]:
    home = Path(config["HOME"] or Path.cwd() / "instance").resolve()
    config["HOME"] = str(home)
    embedded = config["DATABASE_URL"] is None
    if embedded:
        config["DATABASE_URL"] = f"sqlite:///{home / 'connector.db'}"
    if config["STORAGE_URL"] is None:
        config["STORAGE_URL"] = (home / "storage").as_uri()
    if config["SCHEMAS_DIR"] is None:
        config["SCHEMAS_DIR"] = str(default_schemas_dir())
    if config["AUTO_MIGRATE"] is None:
        config["AUTO_MIGRATE"] = embedded
    if config["WORKER_IN_PROCESS"] is None:
        config["WORKER_IN_PROCESS"] = embedded
    if config["SOURCE_ROOTS"] is None:
        config["SOURCE_ROOTS"] = [str(home / "sources")]
    return config


def default_schemas_dir() -> Path:
    """The ``schemas/`` folder of a source checkout, else the one installed as data files."""
    here = Path(__file__).resolve().parent.parent / "schemas"
    if here.is_dir():
        return here
    import sys

    return Path(sys.prefix) / "share" / "connector" / "schemas"
