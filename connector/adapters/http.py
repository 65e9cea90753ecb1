"""HTTP(S) sources, streamed with the standard library's ``http.client``.

Every hop (the URL and each redirect, at most 5) goes through the SSRF guard of
:mod:`~connector.adapters.safety`; the socket is opened to the checked address and TLS
is verified against the URL's host name (SNI too), so a second DNS answer cannot redirect
the connection. ``file://`` and every other scheme are refused; https never redirects to
http. Timeouts: ``connect_timeout`` per connection attempt, ``read_timeout`` per socket
read, both cut to what is left of the overall ``deadline``; a watchdog shuts the socket
down when the deadline passes, so a trickling server cannot hold a read open.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
from email.message import Message
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from connector import __version__
from connector.adapters.base import Location, Opened, SourceAdapter, SourceSpec, display_url
from connector.adapters.errors import (
    SourceFormatError,
    SourceNotFound,
    SourceRefused,
    SourceTooLarge,
    TerminalSourceError,
    TransientSourceError,
)
from connector.adapters.safety import Allowlist, Resolver, Target, check_url, system_resolver
from connector.adapters.streams import Budget, Reader

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
TRANSIENT_4XX = (408, 425, 429)
TERMINAL_5XX = (501, 505)


class _Body(Reader):
    """The body of one response; each read is one socket read with a deadline-cut timeout."""

    def __init__(self, response: http.client.HTTPResponse, connection: http.client.HTTPConnection,
                 sock: socket.socket, watchdog: threading.Timer | None, spec: SourceSpec,
                 budget: Budget) -> None:
        super().__init__()
        self._response, self._connection, self._sock = response, connection, sock
        self._watchdog, self._spec, self._budget = watchdog, spec, budget

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return self._response.read()
        self._sock.settimeout(self._budget.timeout(self._spec.read_timeout))
        data = self._response.read1(n)
        if not data and n and self._response.length:  # read1 does not check Content-Length
            raise http.client.IncompleteRead(b"", self._response.length)
        return data

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        try:
            self._response.close()
            self._connection.close()
        finally:
            super().close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


def _status_error(status: int, reason: str, url: str, retry_after: str | None) -> Exception:
    where = f"{display_url(url)}: HTTP {status} {reason}".rstrip()
    if status in (404, 410):
        return SourceNotFound(where, http_status=status)
    if status in TRANSIENT_4XX or (status >= 500 and status not in TERMINAL_5XX):
        delay = float(retry_after) if retry_after and retry_after.strip().isdigit() else None
        return TransientSourceError(where, retry_after=delay, http_status=status)
    return TerminalSourceError(where, http_status=status)


def filename_of(content_disposition: str | None, url: str) -> str:
    """The file name a response gives (Content-Disposition), else the last part of its URL."""
    if content_disposition:
        message = Message()
        message["content-disposition"] = content_disposition
        name = message.get_filename()
        if name:
            return name.replace("\\", "/").rsplit("/", 1)[-1]
    return unquote(urlsplit(url).path).rstrip("/").rsplit("/", 1)[-1]


class HttpAdapter(SourceAdapter):
    """Reads ``http://`` and ``https://`` URLs under the SSRF guard.

    ``allowlist``: host names, addresses or CIDRs admitted although not public (default:
    ``CONNECTOR_SOURCE_ALLOWLIST``). ``ssl_context``: to trust a private CA.
    ``resolver``: ``(host, port) -> [address]``, the system resolver by default.
    """

    schemes = ("http", "https")

    def __init__(self, *, allowlist: Allowlist | list[str] | None = None,
                 ssl_context: ssl.SSLContext | None = None, resolver: Resolver = system_resolver,
                 max_redirects: int = MAX_REDIRECTS, spool_dir: str | None = None) -> None:
        super().__init__(spool_dir=spool_dir)
        self.allowlist = Allowlist.of(allowlist)
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.resolver = resolver
        self.max_redirects = max_redirects

    def _check_scheme(self, url: str) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in self.schemes:
            raise SourceRefused(f"the HTTP adapter reads only http and https URLs, not "
                                f"{scheme or 'plain paths'!r}", scheme=scheme)

    def _open(self, spec: SourceSpec, location: Location, budget: Budget, *,
              probe: bool = False) -> Opened:
        return self.open_url(location.url, spec, budget)

    def open_url(self, url: str, spec: SourceSpec, budget: Budget,
                 headers: dict[str, str] | None = None) -> Opened:
        """The streaming body of ``url`` with what its headers say (name, type, size, ETag)."""
        body, final_url, answer = self.get(url, spec, budget, headers)
        length = answer.get("content-length", "")
        return Opened(stream=body, final_url=final_url,
                      name=filename_of(answer.get("content-disposition"), final_url),
                      media_type=answer.get("content-type"),
                      size=int(length) if length.isdigit() else None, etag=answer.get("etag"))

    def get(self, url: str, spec: SourceSpec, budget: Budget,
            headers: dict[str, str] | None = None) -> tuple[_Body, str, dict[str, str]]:
        """GET ``url`` following checked redirects: (streaming body, final URL, headers)."""
        previous: str | None = None
        headers = dict(headers or {})
        origin = urlsplit(url).netloc.lower()
        for _hop in range(self.max_redirects + 1):
            target = check_url(url, self.allowlist, resolver=self.resolver)
            if previous == "https" and target.scheme == "http":
                raise SourceRefused(f"{display_url(url)}: redirect from https to plain http refused")
            if urlsplit(url).netloc.lower() != origin:  # credentials stay with their host
                headers.pop("Authorization", None)
            previous = target.scheme
            body, status, reason, answer = self._request(target, spec, budget, headers)
            if status in REDIRECTS and answer.get("location"):
                body.close()
                url = urljoin(url, answer["location"].strip()).split("#", 1)[0]
                continue
            if status != 200:
                body.close()
                raise _status_error(status, reason, url, answer.get("retry-after"))
            return body, url, answer
        raise SourceRefused(f"{display_url(url)}: more than {self.max_redirects} redirects")

    def get_json(self, url: str, spec: SourceSpec, budget: Budget, *, limit: int,
                 headers: dict[str, str] | None = None) -> Any:
        """A small JSON document (an API answer), at most ``limit`` bytes."""
        body, final_url, _ = self.get(url, spec, budget, {"Accept": "application/json", **(headers or {})})
        with body:
            data = b""
            while len(data) <= limit:
                chunk = body.read(limit + 1 - len(data))
                if not chunk:
                    break
                data += chunk
        if len(data) > limit:
            raise SourceTooLarge(f"{display_url(final_url)}: answer larger than {limit} bytes")
        try:
            return json.loads(data)
        except ValueError as exc:
            raise SourceFormatError(f"{display_url(final_url)}: not a JSON answer: {exc}") from exc

    def _connect(self, target: Target, spec: SourceSpec, budget: Budget) -> socket.socket:
        error: OSError | None = None
        for address in target.addresses:
            budget.check_time()
            try:
                sock = socket.create_connection((address, target.port),
                                                timeout=budget.timeout(spec.connect_timeout))
                break
            except OSError as exc:
                error = exc
        else:
            assert error is not None
            raise error
        sock.settimeout(budget.timeout(spec.read_timeout))
        if target.scheme == "https":
            try:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=target.host)
            except BaseException:
                sock.close()
                raise
        return sock

    def _request(self, target: Target, spec: SourceSpec, budget: Budget, headers: dict[str, str]
                 ) -> tuple[_Body, int, str, dict[str, str]]:
        sock = self._connect(target, spec, budget)
        watchdog = None
        left = budget.remaining()
        if left is not None:
            watchdog = threading.Timer(max(left, 0.0), _shutdown, args=(sock,))
            watchdog.daemon = True
            watchdog.start()
        connection = (http.client.HTTPSConnection(target.host, target.port, context=self.ssl_context)
                      if target.scheme == "https" else http.client.HTTPConnection(target.host, target.port))
        connection.sock = sock
        parts = urlsplit(target.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", path, headers={
                "User-Agent": f"connector/{__version__}", "Accept": "*/*",
                "Accept-Encoding": "identity", "Connection": "close", **headers})
            response = connection.getresponse()
        except BaseException:
            if watchdog is not None:
                watchdog.cancel()
            connection.close()
            raise
        answer = {k.lower(): v for k, v in response.getheaders()}
        body = _Body(response, connection, sock, watchdog, spec, budget)
        return body, response.status, response.reason, answer
