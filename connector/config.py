"""Configuration: every setting declared once in :data:`SETTINGS`, loaded and validated once.

Load order, later wins:

1. the defaults in :data:`SETTINGS` (embedded SQLite and local storage under ``HOME``);
2. a Python settings file named by ``CONNECTOR_SETTINGS`` (upper-case names only);
3. ``CONNECTOR_<KEY>`` environment variables, parsed as the key's :attr:`Setting.parser` says:
   ``text`` taken as it is, ``json`` parsed as JSON when it parses, else text (a value that
   starts like JSON, ``[`` or ``{``, but does not parse is an error), ``list`` as below;
4. the mapping given to ``create_app`` (tests).

List settings take a JSON list or the items separated by the key's separators (commas;
``SOURCE_ROOTS`` ``os.pathsep`` too, as ``PATH`` is), from any source; ``SOURCE_ROOTS`` may also
be a mapping ``{organisation slug: [paths]}`` (see :mod:`connector.adapters.local`).

``HOME`` defaults to ``$CONNECTOR_HOME``, else ``./instance`` in the working directory.
``DATABASE_URL`` and ``STORAGE_URL`` derive from ``HOME`` unless set. The result is validated
once: an unknown key or a value of the wrong type raises :class:`ConfigError` naming the key.
Secrets come only from the environment or the settings file, never from the code, and their
values never appear in a message. This is the only module that reads the process environment:
the composition roots pass :func:`environment` down where a setting names a variable (the DSP
participants' secrets). ``python -m connector.config --markdown`` prints the settings table of
docs/operations.md. One module over the usual size: the table is most of it, and declaring
each key once beside its loader is its point.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import runpy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "CONNECTOR_"
ARROW_MEMORY_POOLS = ("jemalloc", "mimalloc", "system", "default")  # see connector.staging.memory

#: The largest DCAT-AP export page (datasets per page) a caller may ask for.
CATALOG_MAX_PAGE_SIZE = 1000

Check = Callable[[Any], "str | None"]


class ConfigError(ValueError):
    """A configuration key is unknown or has a value of the wrong type."""


@dataclass(frozen=True)
class Setting:
    """One configuration key: its default, accepted types, how its environment text is parsed,
    the check its value must pass (a problem sentence, or None) and the line that documents it."""

    key: str
    default: Any
    types: tuple[type, ...]
    doc: str
    parser: str = "json"  # "text", "json" or "list" (see the module docstring)
    separators: tuple[str, ...] = (",",)  # list settings only
    check: Check | None = None
    secret: bool = False  # the value is never shown: not in messages, not in the documentation
    shown_default: str | None = None  # the documented default, when not the value itself

    def parse_env(self, raw: str) -> Any:
        """The value of ``CONNECTOR_<key>`` from its text."""
        if self.parser == "json":
            return _parse_env_value(self.key, raw)
        return raw  # "text", and "list": parsed with the other sources by parse_list

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this key, or None."""
        shown = "a secret value" if self.secret else repr(value)
        if not isinstance(value, self.types) or (isinstance(value, bool) and bool not in self.types):
            return f"expected {self.types[0].__name__}, got {shown}"
        if value is None or self.check is None:
            return None
        return self.check(value)


def positive(value: Any) -> str | None:
    return None if value > 0 else f"must be positive, got {value!r}"


def at_least_one(meaning: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value >= 1 else f"must be 1 ({meaning}) or more, got {value!r}"
    return check


def between(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be from {low} to {high}, got {value!r}"
    return check


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"expected one of {', '.join(choices)}, got {value!r}"
    return check


def not_blank(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def http_url(value: str) -> str | None:
    if re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        return None
    return f"expected an http(s) URL without query or fragment, got {value!r}"


def secrets_key(value: str) -> str | None:
    """``SECRETS_KEY`` seals DSP secrets at rest (:mod:`connector.encryption`)."""
    from connector.encryption import MIN_KEY_LENGTH

    if len(value.strip()) >= MIN_KEY_LENGTH:
        return None
    return f"must be at least {MIN_KEY_LENGTH} characters (e.g. the output of `openssl rand -base64 32`)"


_STR, _OPT_STR, _INT, _OPT_INT, _NUM = (str,), (str, type(None)), (int,), (int, type(None)), (int, float)


def _s(key: str, default: Any, types: tuple[type, ...], doc: str, **kw: Any) -> Setting:
    return Setting(key, default, types, doc, **kw)


#: Every setting, in the order the documentation lists them.
SETTINGS: tuple[Setting, ...] = (
    _s("HOME", None, _OPT_STR, "instance folder holding the embedded database and storage",
       parser="text", shown_default="`$CONNECTOR_HOME`, else `./instance`"),
    _s("DATABASE_URL", None, _OPT_STR,
       "SQLAlchemy URL; `postgresql+psycopg://user@host/db` in production",
       parser="text", shown_default="`sqlite:///$HOME/connector.db`"),
    _s("STORAGE_URL", None, _OPT_STR, "storage tier (fsspec URL) for staged data",
       parser="text", shown_default="`file://$HOME/storage`"),
    _s("STORAGE_OPTIONS", {}, (dict,),
       "fsspec options of the tier (for S3: `endpoint_url`, `key`, `secret`, ...)"),
    _s("AUTO_MIGRATE", None, (bool, type(None)), "apply migrations at start-up",
       shown_default="true for the embedded SQLite, else false"),
    _s("SCHEMAS_DIR", None, _OPT_STR, "where the JSON Schemas are read from",
       parser="text", shown_default="the repository's `schemas/`"),
    _s("MAX_CONTENT_LENGTH", 1024 * 1024, _INT, "largest accepted request body in bytes (413 above)",
       check=positive),
    _s("MAX_JSON_DEPTH", 64, _INT, "deepest accepted JSON nesting (400 above)", check=positive),
    _s("SEARCH_DEFAULT_LIMIT", 20, _INT, "page size of `GET /api/v1/datasets` without `limit`",
       check=positive),
    _s("SEARCH_MAX_LIMIT", 100, _INT, "the largest page `GET /api/v1/datasets` returns",
       check=positive),
    _s("LOG_LEVEL", "INFO", _STR, "Python logging level", parser="text"),
    _s("TESTING", False, (bool,), "test mode (no warning about an unset `PUBLIC_BASE_URL`)"),
    _s("SITE_LOCATION", "ai-factory", _STR,
       "where this connector processes data (ODRL `processingLocation`)", parser="text"),
    _s("SITE_REGION", "EU", _STR, "the region of `SITE_LOCATION` (ODRL `spatial`)", parser="text"),
    _s("SOURCE_ROOTS", None, (list, dict, type(None)),
       "the local folders `file://` sources may be read from, per organisation: a list means "
       "`<root>/<org-slug>/` for each organisation; a mapping `{\"<org-slug>\": [paths], \"*\": [paths]}` "
       "names them (see [Local source roots](#local-source-roots))",
       parser="list", separators=(",", os.pathsep), shown_default="`[$HOME/sources]`"),
    _s("SOURCE_ALLOWLIST", [], (list,),
       "host names, addresses or CIDRs that HTTP/S3/CKAN sources may reach although not public "
       "(see [Source address guard](#source-address-guard))", parser="list"),
    _s("S3_ENDPOINT_URL", None, _OPT_STR, "endpoint of an S3-compatible source store", parser="text"),
    _s("S3_USE_INSTANCE_METADATA", False, (bool,),
       "let botocore ask the instance metadata service (169.254.169.254) for credentials when none "
       "are configured; off, an S3 source or tier without credentials fails instead"),
    _s("CKAN_API_TOKEN", None, _OPT_STR,
       "CKAN API token for private resources, sent only to the portal the resource is on",
       parser="text", secret=True),
    _s("PSEUDONYMISATION_SECRET", None, _OPT_STR,
       "the secret project pseudonymisation keys derive from; set it in production",
       parser="text", secret=True, shown_default="a random key in `$HOME/pseudonymisation.key`"),
    _s("SECRETS_KEY", None, _OPT_STR,
       "at least 32 characters (e.g. `openssl rand -base64 32`); seals the DSP secrets kept in the "
       "database (AES-256-GCM). Every `serve` and `worker` process sharing a database needs the "
       "same key: set it unless they share `HOME`. See docs/dsp.md, \"Trust state\"",
       parser="text", secret=True, check=secrets_key,
       shown_default="a random key in `$HOME/secrets.key` (mode 0600, made on first use)"),
    _s("PROJECT_QUOTA_BYTES", 1 << 40, _INT,
       "bytes a project may keep on the tier, unless its own quota is set", check=positive,
       shown_default="1 TiB"),
    _s("MAX_SOURCE_BYTES", None, _OPT_INT, "the most bytes read from one source"),
    _s("SOURCE_DEADLINE_SECONDS", 6 * 3600.0, _NUM, "overall deadline of one source read",
       shown_default="21600"),
    _s("SOURCE_READ_TIMEOUT", 60.0, _NUM, "longest wait for a source's next bytes", shown_default="60"),
    _s("SOURCE_MAX_JSON_DEPTH", 64, _INT,
       "deepest nesting of a JSON, JSON Lines or JSON-LD record read from a source or harvested; "
       "checked before any parser sees the bytes (separate from `MAX_JSON_DEPTH`: sources are data "
       "files, not API bodies, and raising one must not loosen the other)", check=positive),
    _s("SOURCE_MAX_RECORD_BYTES", 16 << 20, _INT,
       "longest record of a source: a JSON Lines line, a JSON array item, a CSV/JSON Lines record "
       "the parallel readers hand to pyarrow in one block", check=positive, shown_default="16 MiB"),
    _s("CSV_PARSE_THREADS", None, _OPT_INT,
       "threads parsing CSV and JSON Lines in chunks; 1: pyarrow's serial reader (docs/staging.md)",
       check=at_least_one("serial"), shown_default="the CPUs (at most 8)"),
    _s("PARQUET_ENCODE_THREADS", None, _OPT_INT,
       "threads encoding Parquet parts side by side; 1: one part at a time",
       check=at_least_one("one part at a time"), shown_default="half the CPUs (at most 4)"),
    _s("ARROW_MEMORY_POOL", "jemalloc", _STR,
       "Arrow's memory pool in staging jobs (`jemalloc` giving freed pages back at once, "
       "`mimalloc`, `system`, `default`): jemalloc keeps peak RSS about 50 MiB lower for a few "
       "percent of CPU", check=one_of(*ARROW_MEMORY_POOLS)),
    _s("JOB_LEASE_SECONDS", 300, _INT, "a worker's lease on a job", check=positive),
    _s("JOB_MAX_ATTEMPTS", 5, _INT, "tries of a job for transient failures", check=positive),
    _s("JOB_BACKOFF_SECONDS", 10.0, _NUM, "first back-off between tries (doubling)", shown_default="10"),
    _s("JOB_MAX_CRASHES", 2, _INT,
       "a job whose worker died while running it this often (a child killed by a signal or a "
       "limit, or a whole worker whose lease ran out) ends `failed` with the cause and a "
       "`staging.fail` audit event: a poison job is not retried for ever", check=positive),
    _s("JOB_ISOLATION", True, (bool,),
       "run each staging job and harvest run in a child process under the three limits below "
       "(off only to debug a job in the worker's own process)"),
    _s("JOB_MEMORY_LIMIT", 2 << 30, _OPT_INT,
       "a job's memory: the cgroup's `memory.max` with `JOB_CGROUP`; otherwise its resident "
       "memory, watched every 50 ms (SIGKILL above it), with its address space capped "
       "(`RLIMIT_AS`) at 4 × the limit, at least the limit + 6 GiB; `null`: unlimited",
       check=positive, shown_default="2147483648 (2 GiB)"),
    _s("JOB_CPU_SECONDS", 24 * 3600, _OPT_INT,
       "a job's CPU time, all its threads together (`RLIMIT_CPU`: SIGXCPU, then SIGKILL 5 s "
       "later); `null`: unlimited", check=positive),
    _s("JOB_OPEN_FILES", 1024, _OPT_INT,
       "a job's open file descriptors (`RLIMIT_NOFILE`); `null`: the worker's own limit",
       check=positive),
    _s("JOB_CGROUP", None, _OPT_STR,
       "a delegated cgroup v2 directory (writable, `memory` in its `cgroup.subtree_control`, e.g. "
       "a systemd `Delegate=yes` unit's sub-group) under which each job gets its own group with "
       "`memory.max`; a directory that is not one stops the service", parser="text"),
    _s("WORKER_IN_PROCESS", None, (bool, type(None)), "run the worker inside `connector serve`",
       shown_default="true on the embedded default"),
    _s("WORKER_POLL_SECONDS", 2.0, _NUM, "how often the worker looks for work", shown_default="2"),
    _s("DSP_PARTICIPANT_ID", None, _OPT_STR,
       "our Dataspace Protocol participant id; required when `DSP_PARTICIPANTS` names any",
       parser="text", check=not_blank),
    _s("DSP_PARTICIPANTS", [], (list,),
       "the DSP participants we trust, each with its address and credential; secrets are named "
       "by environment variable, never given (docs/dsp.md)"),
    _s("DSP_IDENTIFIER_TYPE", None, _OPT_STR,
       "the `identifierType` announced in `/.well-known/dspace-version`", parser="text"),
    _s("DSP_PAGE_SIZE", 100, _INT, "catalog page size of the DSP catalog endpoint",
       check=between(1, 1000)),
    _s("DSP_TOKEN_TTL_SECONDS", 300, _INT, "lifetime of the access tokens our token endpoint issues",
       check=between(1, 86400)),
    _s("DSP_TRIGGERS", False, (bool,),
       "serve the Dataspace TCK's consumer trigger endpoints (`<base>/triggers/negotiations`, "
       "`/transfers`, docs/dsp.md); for conformance runs only"),
    _s("HARVEST_LEASE_SECONDS", 300, _INT, "a worker's lease on a harvest run", check=positive),
    _s("HARVEST_MAX_PAGE_BYTES", 50 << 20, _INT, "the largest page a harvest reads", check=positive,
       shown_default="50 MiB"),
    _s("HARVEST_TIMEOUT_SECONDS", 60.0, _NUM, "a harvest's read timeout", shown_default="60"),
    _s("PUBLIC_BASE_URL", None, _OPT_STR,
       "the public root URL every published URI starts with (DCAT catalog, CKAN `site_url`, DSP "
       "`serviceId` and links); **set it in production**", parser="text", check=http_url,
       shown_default="unset (each request's root URL)"),
    _s("CATALOG_TITLE", "Data catalog", _STR, "the DCAT-AP catalog's title", parser="text",
       check=not_blank),
    _s("CATALOG_DESCRIPTION", "The datasets this connector offers, in DCAT-AP 3.0.1.", _STR,
       "the DCAT-AP catalog's description", parser="text", check=not_blank),
    _s("CATALOG_PUBLISHER", "Data catalog operator", _STR, "the DCAT-AP catalog's publisher name",
       parser="text", check=not_blank),
    _s("CATALOG_PAGE_SIZE", 100, _INT, "datasets per DCAT-AP export page when `per_page` is absent",
       check=between(1, CATALOG_MAX_PAGE_SIZE)),
)

#: The settings by key.
BY_KEY: dict[str, Setting] = {setting.key: setting for setting in SETTINGS}
#: The defaults by key (a view of :data:`SETTINGS`).
DEFAULTS: dict[str, Any] = {setting.key: setting.default for setting in SETTINGS}
#: List settings and what separates their items in their plain-text form (a view).
LIST_SEPARATORS: dict[str, tuple[str, ...]] = {s.key: s.separators for s in SETTINGS if s.parser == "list"}
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")

# Environment variables of the test harness, not settings.
_IGNORED_ENV = {"SETTINGS", "TEST_DATABASE_URL"}


def environment() -> Mapping[str, str]:
    """The process environment, for the composition roots to pass down where a setting names a
    variable (the DSP participants' secrets): the one place the code reads it besides
    :func:`load_config`."""
    return os.environ


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
            setting = BY_KEY.get(key)
            config[key] = setting.parse_env(raw) if setting else _parse_env_value(key, raw)
    config.update(overrides or {})
    for key, separators in LIST_SEPARATORS.items():
        config[key] = parse_list(key, config[key], separators)
    _validate(config)
    return _derive(config)


def _validate(config: Mapping[str, Any]) -> None:
    for key, value in config.items():
        setting = BY_KEY.get(key)
        if setting is None:
            raise ConfigError(f"unknown configuration key {key!r} (known: {', '.join(sorted(BY_KEY))})")
        problem = setting.problem(value)
        if problem:
            raise ConfigError(f"{key}: {problem}")
    _validate_dsp(config)
    _validate_sources(config)


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
    """The Dataspace Protocol participants against our own id; secrets are checked when the
    application starts."""
    from connector.participant_settings import parse_participants

    try:
        participants = parse_participants(config["DSP_PARTICIPANTS"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    own = config["DSP_PARTICIPANT_ID"]
    if participants and own is None:
        raise ConfigError("DSP_PARTICIPANT_ID: required when DSP_PARTICIPANTS names participants")
    if any(p.id == own for p in participants):
        raise ConfigError(f"DSP_PARTICIPANTS: {own!r} is our own DSP_PARTICIPANT_ID")


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
    return Path(sys.prefix) / "share" / "connector" / "schemas"


_TYPE_NAMES = {str: "text", int: "integer", float: "number", bool: "boolean", list: "list",
               dict: "mapping", type(None): "null"}


def _shown_type(setting: Setting) -> str:
    names = [_TYPE_NAMES[t] for t in setting.types if not (t is int and float in setting.types)]
    return " or ".join(names)


def _shown_default(setting: Setting) -> str:
    value = setting.default
    if setting.shown_default is not None:
        return setting.shown_default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict, str)):
        return f"`{json.dumps(value) if not isinstance(value, str) else value}`"
    return str(value)


def markdown_table() -> str:
    """The settings table of docs/operations.md, one row per :data:`SETTINGS` entry."""
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for setting in SETTINGS:
        meaning = ("secret (environment or settings file only, never shown): " + setting.doc
                   if setting.secret else setting.doc)
        rows.append(f"| `{setting.key}` | {_shown_type(setting)} | {_shown_default(setting)} | {meaning} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m connector.config --markdown
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m connector.config --markdown")
    sys.stdout.write(markdown_table())
