"""Real servers on loopback for the adapter tests: an HTTP server (files, redirects, stalls,
error codes and a fake CKAN Action API) and moto's S3 server, plus the fixture files."""

from __future__ import annotations

import bz2
import gzip
import json
import mimetypes
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

ROWS = 600


def sample_table() -> pa.Table:
    """Ints, floats with nulls, strings with delimiters, quotes, newlines and non-ASCII,
    timestamps and booleans."""
    start = datetime(2024, 1, 1, 8, 0, 0)
    names = [f"name {i}" for i in range(ROWS)]
    names[3], names[10], names[20], names[30] = "comma, inside", 'a "quoted" word', "two\nlines", "Zürich ✓"
    return pa.table({
        "id": pa.array(range(ROWS), pa.int64()),
        "name": pa.array(names, pa.string()),
        "amount": pa.array([None if i % 7 == 0 else i * 1.25 for i in range(ROWS)], pa.float64()),
        "ts": pa.array([start + timedelta(minutes=i) for i in range(ROWS)], pa.timestamp("s")),
        "flag": pa.array([i % 3 == 0 for i in range(ROWS)], pa.bool_()),
    })


def _rows(table: pa.Table) -> list[dict]:
    rows = table.to_pylist()
    for row in rows:
        row["ts"] = row["ts"].isoformat(sep=" ")
    return rows


def write_fixtures(root: Path) -> dict[str, Path]:
    """The same table in every format and compression the adapters read."""
    root.mkdir(parents=True, exist_ok=True)
    table = sample_table()
    pa_csv.write_csv(table, root / "sample.csv")
    pa_csv.write_csv(table, root / "sample.tsv", pa_csv.WriteOptions(delimiter="\t"))
    rows = _rows(table)
    (root / "sample.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                       encoding="utf-8")
    (root / "sample.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    pq.write_table(table, root / "sample.parquet", row_group_size=200)
    feather.write_feather(table, root / "sample.arrow")
    with ipc.new_stream(root / "sample.arrows", table.schema) as writer:
        writer.write_table(table, max_chunksize=250)
    csv = (root / "sample.csv").read_bytes()
    (root / "sample.csv.gz").write_bytes(gzip.compress(csv))
    (root / "sample.csv.bz2").write_bytes(bz2.compress(csv))
    with pa.CompressedOutputStream(str(root / "sample.csv.zst"), "zstd") as out:
        out.write(csv)
    # 16 MiB of "0\n" lines: about 16 kB gzipped, a ratio near 1000:1.
    (root / "bomb.csv.gz").write_bytes(gzip.compress(b"n\n" + b"0\n" * (8 << 20), 9))
    with zipfile.ZipFile(root / "sample.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/sample.csv", csv)
        archive.writestr("README.txt", "not data")
    return {p.name: p for p in root.iterdir()}


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adapter-fixtures")
    write_fixtures(root)
    return root


# -- loopback HTTP server -------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # clients that hang up on purpose (limits, deadlines) are expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        state: Loopback = self.server.state  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        state.requests.append((parts.path, dict(self.headers)))
        route, _, rest = parts.path.lstrip("/").partition("/")
        try:
            getattr(self, "route_" + route.replace("-", "_"), self.route_missing)(rest, query, state)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, body: bytes, content_type: str = "application/octet-stream",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def route_missing(self, rest: str, query: dict, state: Loopback) -> None:
        self._send(404, b"not found", "text/plain")

    def route_files(self, rest: str, query: dict, state: Loopback) -> None:
        path = state.root / rest
        if not path.is_file():
            return self.route_missing(rest, query, state)
        kind = mimetypes.guess_type(rest)[0] or "application/octet-stream"
        self._send(200, path.read_bytes(), query.get("type", kind),
                   {"ETag": f'"{path.stat().st_size}"'})

    def route_named(self, rest: str, query: dict, state: Loopback) -> None:
        """A file behind an extension-less URL, named by Content-Disposition."""
        body = (state.root / rest).read_bytes()
        self._send(200, body, "application/octet-stream",
                   {"Content-Disposition": f'attachment; filename="{rest}"'})

    def route_blob(self, rest: str, query: dict, state: Loopback) -> None:
        """A file behind an extension-less URL with an uninformative media type."""
        self._send(200, (state.root / query["name"]).read_bytes(), "application/octet-stream")

    def route_chunked(self, rest: str, query: dict, state: Loopback) -> None:
        body = (state.root / rest).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for start in range(0, len(body), 4096):
            chunk = body[start:start + 4096]
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def route_chunked_cut(self, rest: str, query: dict, state: Loopback) -> None:
        """Two chunks, then a hang-up without the closing chunk."""
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"4\r\na,b\n\r\n4\r\n1,2\n\r\n")
        self.close_connection = True

    def route_redirect(self, rest: str, query: dict, state: Loopback) -> None:
        self._send(int(query.get("code", "302")), b"", "text/plain", {"Location": query["to"]})

    def route_loop(self, rest: str, query: dict, state: Loopback) -> None:
        self._send(302, b"", "text/plain", {"Location": f"/loop/{int(rest or 0) + 1}"})

    def route_status(self, rest: str, query: dict, state: Loopback) -> None:
        extra = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
        self._send(int(rest), b"status", "text/plain", extra)

    def route_trickle(self, rest: str, query: dict, state: Loopback) -> None:
        """Headers, then one byte every 0.1 s: never stalls long enough for a read timeout."""
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"a,b\n")
        for _ in range(200):
            time.sleep(0.1)
            self.wfile.write(b"1")
            self.wfile.flush()

    def route_silent(self, rest: str, query: dict, state: Loopback) -> None:
        """Headers, then nothing for 3 s."""
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.flush()
        time.sleep(3)

    def route_short(self, rest: str, query: dict, state: Loopback) -> None:
        """Declares more bytes than it sends, then hangs up."""
        body = (state.root / rest).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body) + 1000))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def route_api(self, rest: str, query: dict, state: Loopback) -> None:
        """The CKAN Action API's ``resource_show``."""
        if rest != "3/action/resource_show":
            return self.route_missing(rest, query, state)
        resource = state.resources.get(query.get("id", ""))
        if resource is None:
            body = {"success": False, "error": {"__type": "Not Found Error", "message": "Not found"}}
            return self._send(404, json.dumps(body).encode(), "application/json")
        body = {"help": "resource_show", "success": True, "result": {"id": query["id"], **resource}}
        self._send(200, json.dumps(body).encode(), "application/json")


class Loopback:
    """A threaded HTTP server on ``host`` serving ``root``; ``requests`` logs (path, headers)."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root, self.host = root, host
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.resources: dict[str, dict] = {}
        self.server = _Server((host, 0), _Handler)
        self.server.state = self  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="session")
def http_server(fixtures_dir: Path) -> Iterator[Loopback]:
    server = Loopback(fixtures_dir)
    yield server
    server.stop()


@pytest.fixture
def second_server(fixtures_dir: Path) -> Iterator[Loopback]:
    """Another loopback server on 127.0.0.2, which the usual allow-list does not name."""
    server = Loopback(fixtures_dir, host="127.0.0.2")
    yield server
    server.stop()


# -- loopback S3 (moto's server mode) -------------------------------------------------

BUCKET = "sources"


@pytest.fixture(scope="session")
def s3_endpoint(fixtures_dir: Path) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with the fixture files in ``s3://sources/fixtures/``."""
    import s3fs
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as patch:
        for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                           ("AWS_DEFAULT_REGION", "us-east-1")):
            patch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "CONNECTOR_S3_ENDPOINT_URL"):
            patch.delenv(key, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
        fs.mkdir(BUCKET)
        for path in sorted(fixtures_dir.iterdir()):
            fs.pipe(f"{BUCKET}/fixtures/{path.name}", path.read_bytes())
        try:
            yield endpoint
        finally:
            server.stop()


@pytest.fixture
def s3_upload(s3_endpoint: str):
    """Put bytes at a key of the loopback S3 server: ``s3_upload("dir/a.csv", b"...")``."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)

    def upload(key: str, data: bytes) -> str:
        fs.pipe(f"{BUCKET}/{key}", data)
        return f"s3://{BUCKET}/{key}"

    return upload


@pytest.fixture(autouse=True)
def _no_source_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No operator settings from the environment leak into a test."""
    for key in ("CONNECTOR_SOURCE_ALLOWLIST", "CONNECTOR_SOURCE_ROOTS", "CONNECTOR_CKAN_API_TOKEN",
                "CONNECTOR_S3_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
