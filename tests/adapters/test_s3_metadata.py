"""Without credentials, S3 access never asks the instance metadata service unless the operator
opts in (``S3_USE_INSTANCE_METADATA``). The metadata endpoint is a loopback listener we run
(``AWS_EC2_METADATA_SERVICE_ENDPOINT``), so no test can reach a real one; the variable
``AWS_EC2_METADATA_DISABLED`` is removed on purpose, to show our code, not the environment,
keeps botocore away."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import NoCredentialsError

from connector.adapters.base import SourceSpec
from connector.adapters.errors import TransientSourceError
from connector.adapters.s3 import S3Adapter
from connector.staging.storage import StorageTier
from tests.adapters.conftest import BUCKET


class _Metadata(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path))  # type: ignore[attr-defined]
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[tuple[str, str]]]:
    """A stand-in metadata service on loopback, and an environment with no credentials."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_EC2_METADATA_DISABLED", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{server.server_port}/")
    try:
        yield server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _read(adapter: S3Adapter) -> None:
    with pytest.raises(TransientSourceError, match="NoCredentialsError"):
        adapter.read(SourceSpec(f"s3://{BUCKET}/fixtures/sample.csv", format="csv")).read_all()


def test_an_s3_source_without_credentials_never_asks_the_metadata_service(
        s3_endpoint: str, metadata: list[tuple[str, str]]) -> None:
    _read(S3Adapter(endpoint_url=s3_endpoint))
    assert metadata == []


def test_the_operator_may_opt_in_to_instance_metadata_credentials(
        s3_endpoint: str, metadata: list[tuple[str, str]]) -> None:
    _read(S3Adapter(endpoint_url=s3_endpoint, use_instance_metadata=True))
    assert any(path.startswith("/latest/") for _, path in metadata)


@pytest.mark.parametrize("opt_in", [False, True])
def test_an_s3_storage_tier_asks_the_metadata_service_only_when_opted_in(
        s3_endpoint: str, metadata: list[tuple[str, str]], opt_in: bool) -> None:
    tier = StorageTier.from_url(f"s3://{BUCKET}/tier", endpoint_url=s3_endpoint,
                                instance_metadata=opt_in)
    with pytest.raises(NoCredentialsError):
        tier.fs.ls(f"{BUCKET}/tier")
    assert bool(metadata) is opt_in
