"""A small CKAN portal on 127.0.0.1: ``package_search`` over an in-memory list of packages.

It honours what the harvester sends (``rows``, ``start``, ``sort=id asc``, ``fl=id`` and an
``fq`` of ``metadata_modified:[<date> TO *]``), records every request, and can be told to fail
a page in the ways real portals do (HTML, truncated JSON, HTTP 500, ``success: false``, 429).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULTS = ("html", "truncated", "500", "error", "429")


def package(i: int, *, modified: str = "2025-01-01T10:00:00.000000", **overrides: Any) -> dict[str, Any]:
    """A realistic CKAN package (organisation, licence, tags, two resources)."""
    body = {
        "id": f"pkg-{i:05d}",
        "name": f"air-quality-{i:05d}",
        "title": f"Air quality measurements, station {i}",
        "notes": f"Hourly NO2, PM10 and PM2.5 concentrations measured at station {i}.",
        "license_id": "cc-by",
        "metadata_created": "2024-06-01T08:00:00.000000",
        "metadata_modified": modified,
        "organization": {"name": "env-agency", "title": "Environment Agency"},
        "tags": [{"name": "air quality"}, {"name": "environment"}, {"name": f"station-{i}"}],
        "maintainer": "Open data desk", "maintainer_email": "opendata@env.example.eu",
        "url": f"https://env.example.eu/stations/{i}",
        "resources": [
            {"id": f"res-{i}-csv", "name": "Measurements (CSV)", "format": "CSV",
             "url": f"https://env.example.eu/data/{i}.csv", "mimetype": "text/csv", "size": 1024 + i,
             "hash": f"{i:064x}"},
            {"id": f"res-{i}-api", "name": "API", "format": "JSON",
             "url": f"https://env.example.eu/api/stations/{i}"},
        ],
    }
    body.update(overrides)
    return body


class Portal:
    def __init__(self) -> None:
        self.packages: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, str]] = []
        self.faults: dict[int, str] = {}  # start offset -> fault kind
        self.fault_times: int | None = None  # None: every time
        self.retry_after = "0"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Portal:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, *packages: dict[str, Any]) -> None:
        for p in packages:
            self.packages[p["id"]] = p

    def search(self, params: dict[str, str]) -> tuple[int, str, bytes]:
        self.requests.append(params)
        start, rows = int(params.get("start", 0)), int(params.get("rows", 10))
        fault = self.faults.get(start)
        if fault and (self.fault_times is None or self.fault_times > 0):
            if self.fault_times is not None:
                self.fault_times -= 1
            return self._fault(fault)
        found = sorted(self.packages.values(), key=lambda p: p["id"])
        match = re.search(r"metadata_modified:\[(\S+) TO \*\]", params.get("fq", ""))
        if match:
            since = match.group(1).rstrip("Z")
            found = [p for p in found if p["metadata_modified"][:19] >= since[:19]]
        page = found[start:start + rows]
        if params.get("fl") == "id":
            page = [{"id": p["id"]} for p in page]
        body = {"help": "package_search", "success": True, "result": {"count": len(found), "results": page}}
        return 200, "application/json", json.dumps(body).encode()

    def _fault(self, kind: str) -> tuple[int, str, bytes]:
        if kind == "html":
            return 200, "text/html; charset=utf-8", b"<!DOCTYPE html><html><body>Maintenance</body></html>"
        if kind == "truncated":
            full = json.dumps({"success": True, "result": {"count": 9, "results": [package(99)]}})
            return 200, "application/json", full[: len(full) // 2].encode()
        if kind == "500":
            return 500, "text/plain", b"Internal Server Error"
        if kind == "error":
            return 200, "application/json", json.dumps(
                {"success": False, "error": {"message": "Solr is down", "__type": "Search Error"}}).encode()
        if kind == "429":
            return 429, "text/plain", b"slow down"
        raise ValueError(kind)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (the http.server hook's name)
                parts = urlsplit(self.path)
                if parts.path != "/api/3/action/package_search":
                    self.send_error(404)
                    return
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                status, media, body = portal.search(params)
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", portal.retry_after)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
