"""CKAN resources: ``ckan://<portal-host>[:port][/<base-path>]/<resource-id>``.

The resource is resolved through the portal's Action API,
``https://<portal-host>[:port][/<base-path>]/api/3/action/resource_show?id=<resource-id>``,
and its ``url`` is then read by the HTTP adapter under the same SSRF rules (the portal's
address is checked too). ``ckan+http://`` talks to a portal over plain HTTP (intranet
portals, tests); ``ckan+https://`` is the same as ``ckan://``. The resource's ``format``
and ``mimetype`` fields help to infer the format when the URL has no extension.

An API token (``api_token=``: the ``CKAN_API_TOKEN`` setting) is sent only to the portal's
own host, for the Action API and for files uploaded to the portal, never to other hosts.
"""

from __future__ import annotations

import re
import ssl
from urllib.parse import quote, unquote, urljoin, urlsplit

from connector.adapters import formats
from connector.adapters.base import Location, Opened, SourceAdapter, SourceSpec, display_url
from connector.adapters.errors import SourceFormatError, SourceNotFound, SourceRefused
from connector.adapters.http import HttpAdapter, filename_of
from connector.adapters.safety import Allowlist, Resolver, system_resolver
from connector.adapters.streams import Budget

API_ANSWER_LIMIT = 4 << 20
_RESOURCE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
CKAN_FORMATS = {"csv": "csv", "tsv": "tsv", "tab": "tsv", "json": "json", "jsonl": "jsonl",
                "ndjson": "jsonl", "json lines": "jsonl", "jsonlines": "jsonl",
                "parquet": "parquet", "arrow": "arrow", "feather": "feather"}


def portal_and_resource(url: str) -> tuple[str, str]:
    """``("https://host/base", resource_id)`` for a ``ckan://`` URL."""
    parts = urlsplit(url)
    scheme = "http" if parts.scheme.lower() == "ckan+http" else "https"
    segments = [s for s in parts.path.split("/") if s]
    if not parts.netloc or not segments:
        raise SourceRefused(f"{display_url(url)}: expected ckan://<portal-host>[/<base-path>]/<resource-id>")
    resource = unquote(segments[-1])
    if not _RESOURCE_ID.match(resource):
        raise SourceRefused(f"{display_url(url)}: {resource!r} is not a CKAN resource id")
    base = "/".join(segments[:-1])
    return f"{scheme}://{parts.netloc}" + (f"/{base}" if base else ""), resource


def format_hint(resource: dict) -> str | None:
    """The format a CKAN resource declares (``format`` field, else ``mimetype``)."""
    declared = str(resource.get("format") or "").strip().lower().lstrip(".")
    return CKAN_FORMATS.get(declared) or formats.format_from_media_type(declared) or \
        formats.format_from_media_type(resource.get("mimetype"))


class CkanAdapter(SourceAdapter):
    """Reads CKAN resources by id; network access through an :class:`HttpAdapter`."""

    schemes = ("ckan", "ckan+http", "ckan+https")

    def __init__(self, *, allowlist: Allowlist | list[str] | None = None,
                 ssl_context: ssl.SSLContext | None = None, resolver: Resolver = system_resolver,
                 api_token: str | None = None, http: HttpAdapter | None = None,
                 spool_dir: str | None = None) -> None:
        super().__init__(spool_dir=spool_dir)
        self.http = http or HttpAdapter(allowlist=allowlist, ssl_context=ssl_context,
                                        resolver=resolver, spool_dir=spool_dir)
        self.api_token = api_token or None

    def _headers(self, url: str, portal: str) -> dict[str, str]:
        same_host = urlsplit(url).netloc.lower() == urlsplit(portal).netloc.lower()
        return {"Authorization": self.api_token} if self.api_token and same_host else {}

    def resource(self, spec: SourceSpec, budget: Budget) -> dict:
        """The resource record from ``resource_show``."""
        portal, resource_id = portal_and_resource(spec.url)
        api = f"{portal}/api/3/action/resource_show?id={quote(resource_id, safe='')}"
        try:
            answer = self.http.get_json(api, spec, budget, limit=API_ANSWER_LIMIT,
                                        headers=self._headers(api, portal))
        except SourceNotFound as exc:
            raise SourceNotFound(f"CKAN resource {resource_id!r} not found on {display_url(portal)}") from exc
        if not isinstance(answer, dict) or answer.get("success") is not True or \
                not isinstance(answer.get("result"), dict):
            raise SourceFormatError(f"{display_url(api)}: not a CKAN resource_show answer")
        return answer["result"]

    def _locations(self, spec: SourceSpec, budget: Budget) -> list[Location]:
        portal, _ = portal_and_resource(spec.url)
        resource = self.resource(spec, budget)
        url = resource.get("url")
        if not isinstance(url, str) or not url.strip():
            raise SourceNotFound(f"{display_url(spec.url)}: the resource has no URL")
        absolute = urljoin(portal + "/", url.strip())
        return [Location(absolute, filename_of(None, absolute), key=portal,
                         format_hint=format_hint(resource), media_type=resource.get("mimetype"))]

    def _open(self, spec: SourceSpec, location: Location, budget: Budget, *,
              probe: bool = False) -> Opened:
        opened = self.http.open_url(location.url, spec, budget, self._headers(location.url, location.key))
        opened.media_type = opened.media_type or location.media_type
        return opened
