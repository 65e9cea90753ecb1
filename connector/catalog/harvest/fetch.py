"""The :data:`~connector.catalog.harvest.records.Fetch` a harvest run reads its source with.

Built on :class:`connector.adapters.http.HttpAdapter`, so the source-safety rules of staging
apply: loopback, private and metadata addresses are refused unless the operator allow-list
(``CONNECTOR_SOURCE_ALLOWLIST`` / ``SOURCE_ALLOWLIST``) admits them, every redirect is checked
again, and each request has connect and read timeouts and an overall deadline. A page larger
than ``max_bytes`` is refused. ``429 Too Many Requests`` and ``503 Service Unavailable`` are
retried a bounded number of times, waiting what ``Retry-After`` asks (within a cap);
``min_interval`` spaces requests out for portals that ask for it. A JSON page (CKAN answers,
DCAT-AP in JSON-LD: a JSON media type, or a body starting with ``{`` or ``[`` under no other
known type) nested deeper than ``max_json_depth`` (``SOURCE_MAX_JSON_DEPTH``) is refused before
any parser sees it. Every failure becomes a :class:`~connector.catalog.harvest.records.PageError`
with a one-line reason.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from connector.adapters.base import SourceSpec, display_url
from connector.adapters.errors import TransientSourceError
from connector.adapters.http import HttpAdapter
from connector.adapters.json_limits import DEFAULT_MAX_DEPTH, check_document
from connector.adapters.safety import Allowlist
from connector.adapters.streams import Budget
from connector.catalog.harvest.records import Fetched, PageError
from connector.errors import ConnectorError

RETRY_STATUSES = (429, 503)
#: Media types under which a body that looks like JSON is still checked as JSON.
_UNTYPED = (None, "text/plain", "application/octet-stream")


@dataclass(frozen=True)
class FetchSettings:
    """Limits of one source's requests; the defaults suit public portals."""

    max_bytes: int = 50 << 20
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    deadline: float = 300.0
    retries: int = 3
    backoff: float = 2.0
    max_retry_after: float = 120.0
    min_interval: float = 0.0
    max_json_depth: int = DEFAULT_MAX_DEPTH


class HttpFetch:
    """A callable ``fetch(url, headers=None) -> Fetched`` under the source-safety rules."""

    def __init__(self, *, allowlist: Allowlist | Iterable[str] | None = None,
                 settings: FetchSettings = FetchSettings(),
                 sleep: Callable[[float], None] = time.sleep,
                 adapter: HttpAdapter | None = None) -> None:
        self.adapter = adapter or HttpAdapter(allowlist=Allowlist.of(allowlist))
        self.settings = settings
        self.sleep = sleep
        self._last: float | None = None

    def __call__(self, url: str, headers: dict[str, str] | None = None) -> Fetched:
        settings = self.settings
        for attempt in range(settings.retries + 1):
            self._space_out()
            try:
                return self._get(url, headers)
            except TransientSourceError as exc:
                status = exc.extensions.get("http_status")
                if status not in RETRY_STATUSES or attempt == settings.retries:
                    raise PageError(_one_line(exc.detail)) from exc
                wait = exc.retry_after if exc.retry_after is not None else settings.backoff * 2 ** attempt
                if wait > settings.max_retry_after:
                    raise PageError(f"{display_url(url)}: HTTP {status}, asked to wait {wait:g} s "
                                    f"(more than {settings.max_retry_after:g} s)") from exc
                self.sleep(wait)
            except ConnectorError as exc:
                raise PageError(_one_line(exc.detail)) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise PageError(_one_line(f"{display_url(url)}: {_describe(exc)}")) from exc
        raise AssertionError("unreachable")  # the loop returns or raises

    def _space_out(self) -> None:
        if self.settings.min_interval and self._last is not None:
            left = self._last + self.settings.min_interval - time.monotonic()
            if left > 0:
                self.sleep(left)
        self._last = time.monotonic()

    def _get(self, url: str, headers: dict[str, str] | None) -> Fetched:
        settings = self.settings
        spec = SourceSpec(url, connect_timeout=settings.connect_timeout,
                          read_timeout=settings.read_timeout, deadline=settings.deadline)
        budget = Budget(max_bytes=None, deadline=settings.deadline, label=display_url(url))
        body, final_url, answer = self.adapter.get(url, spec, budget, headers)
        limit = settings.max_bytes
        chunks: list[bytes] = []
        size = 0
        with body:
            while size <= limit:
                chunk = body.read(min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        if size > limit:
            raise PageError(f"{display_url(final_url)}: page larger than {limit} bytes")
        media = (answer.get("content-type") or "").split(";", 1)[0].strip().lower() or None
        body = b"".join(chunks)
        if _is_json(media, body):
            check_document(body, name=f"page {display_url(final_url)}", max_depth=settings.max_json_depth)
        return Fetched(url=final_url, body=body, media_type=media)


def _is_json(media: str | None, body: bytes) -> bool:
    if media is not None and (media.endswith(("/json", "+json"))):
        return True
    return media in _UNTYPED and body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed after {len(exc.partial)} bytes of the page"
    return str(exc) or type(exc).__name__


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
