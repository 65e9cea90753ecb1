"""S3 (moto's server on loopback) and CKAN (a fake portal on the loopback HTTP server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from connector.adapters.base import SourceSpec
from connector.adapters.ckan import CkanAdapter, portal_and_resource
from connector.adapters.errors import SourceNotFound, SourceRefused, TransientSourceError, UnsupportedSource
from connector.adapters.s3 import S3Adapter
from connector.adapters.streams import Budget
from tests.adapters.conftest import BUCKET, Loopback

ALLOW = ["127.0.0.1"]


# -- S3 -------------------------------------------------------------------------------

def test_the_endpoint_comes_from_the_settings_never_from_the_environment(
        s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from connector.config import load_config

    monkeypatch.setenv("CONNECTOR_S3_ENDPOINT_URL", s3_endpoint)
    assert S3Adapter().endpoint_url is None
    adapter = S3Adapter(endpoint_url=load_config({"HOME": str(tmp_path)})["S3_ENDPOINT_URL"])
    assert adapter.read(f"s3://{BUCKET}/fixtures/sample.parquet").read_all().num_rows == 600


def test_an_endpoint_in_the_spec_is_checked_by_the_ssrf_guard(s3_endpoint: str) -> None:
    spec = SourceSpec(f"s3://{BUCKET}/fixtures/sample.csv", options={"endpoint_url": s3_endpoint})
    with pytest.raises(SourceRefused, match="loopback"):
        S3Adapter().read(spec)
    assert S3Adapter(allowlist=ALLOW).read(spec).read_all().num_rows == 600


def test_an_endpoint_in_the_spec_cannot_point_at_the_metadata_service() -> None:
    spec = SourceSpec("s3://bucket/key.csv", options={"endpoint_url": "http://169.254.169.254/"})
    with pytest.raises(SourceRefused, match="metadata"):
        S3Adapter(allowlist=ALLOW).read(spec)


def test_credentials_in_spec_options_are_refused(s3_endpoint: str) -> None:
    spec = SourceSpec(f"s3://{BUCKET}/fixtures/sample.csv", options={"key": "AKIA", "secret": "x"})
    with pytest.raises(SourceRefused, match=r"\['key', 'secret'\] are not accepted"):
        S3Adapter(endpoint_url=s3_endpoint).read(spec)


def test_a_missing_key_is_not_found(s3_endpoint: str) -> None:
    with pytest.raises(SourceNotFound):
        S3Adapter(endpoint_url=s3_endpoint).read(f"s3://{BUCKET}/fixtures/absent.csv")


def test_an_unreachable_endpoint_is_transient() -> None:
    import socket
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = SourceSpec("s3://bucket/key.csv", connect_timeout=1, read_timeout=1, deadline=20)
    with pytest.raises(TransientSourceError):
        S3Adapter(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1).read(spec)


def test_s3_reads_stream_in_32_mib_blocks_and_probes_in_small_ones(s3_endpoint: str,
                                                                   fixtures_dir: Path) -> None:
    adapter = S3Adapter(endpoint_url=s3_endpoint)
    spec = SourceSpec(f"s3://{BUCKET}/fixtures/sample.csv")
    budget = Budget(max_bytes=None, deadline=None)
    [location] = adapter._locations(spec, budget)
    for probe, size in ((False, 32 << 20), (True, 1 << 20)):
        opened = adapter._open(spec, location, budget, probe=probe)
        with opened.stream:
            assert opened.stream._file.blocksize == size
            assert opened.size == (fixtures_dir / "sample.csv").stat().st_size


# -- CKAN -----------------------------------------------------------------------------

def test_ckan_urls_name_the_portal_and_the_resource() -> None:
    assert portal_and_resource("ckan://data.gov.example/abc-123") == ("https://data.gov.example", "abc-123")
    assert portal_and_resource("ckan+http://10.0.0.5:5000/data/portal/abc") == (
        "http://10.0.0.5:5000/data/portal", "abc")
    with pytest.raises(SourceRefused, match="not a CKAN resource id"):
        portal_and_resource("ckan://portal/has%20space")
    with pytest.raises(SourceRefused, match="expected ckan://"):
        portal_and_resource("ckan://portal/")


def test_a_ckan_resource_is_resolved_and_read_with_provenance(http_server: Loopback,
                                                              fixtures_dir: Path) -> None:
    http_server.resources["r-1"] = {"url": "/files/sample.jsonl", "format": "JSONL"}  # relative to the portal
    stream = CkanAdapter(allowlist=ALLOW).read(f"ckan+http://127.0.0.1:{http_server.port}/r-1")
    assert stream.read_all().num_rows == 600
    record = stream.provenance.files[0]
    assert record.url == http_server.url("/files/sample.jsonl")
    assert record.sha256 == hashlib.sha256((fixtures_dir / "sample.jsonl").read_bytes()).hexdigest()


def test_the_ckan_format_field_names_the_format_of_an_extension_less_url(http_server: Loopback) -> None:
    http_server.resources["r-2"] = {"url": http_server.url("/blob?name=sample.tsv"), "format": "TSV"}
    http_server.resources["r-3"] = {"url": http_server.url("/blob?name=sample.tsv"), "format": ""}
    adapter = CkanAdapter(allowlist=ALLOW)
    table = adapter.read(f"ckan+http://127.0.0.1:{http_server.port}/r-2").read_all()
    assert table.num_rows == 600 and table.column_names == ["id", "name", "amount", "ts", "flag"]
    with pytest.raises(UnsupportedSource, match="set format"):
        adapter.read(f"ckan+http://127.0.0.1:{http_server.port}/r-3")


def test_an_unknown_ckan_resource_is_not_found_by_id(http_server: Loopback) -> None:
    with pytest.raises(SourceNotFound, match="CKAN resource 'missing' not found"):
        CkanAdapter(allowlist=ALLOW).read(f"ckan+http://127.0.0.1:{http_server.port}/missing")


def test_a_ckan_resource_pointing_at_the_metadata_service_is_refused(http_server: Loopback) -> None:
    http_server.resources["evil"] = {"url": "http://169.254.169.254/latest/meta-data/", "format": "CSV"}
    with pytest.raises(SourceRefused, match="metadata"):
        CkanAdapter(allowlist=ALLOW).read(f"ckan+http://127.0.0.1:{http_server.port}/evil")


def test_a_ckan_resource_with_a_file_url_is_refused(http_server: Loopback) -> None:
    http_server.resources["local"] = {"url": "file:///etc/passwd", "format": "CSV"}
    with pytest.raises(SourceRefused, match="'file' scheme"):
        CkanAdapter(allowlist=ALLOW).read(f"ckan+http://127.0.0.1:{http_server.port}/local")


def test_a_ckan_portal_on_a_private_address_is_refused_without_the_allowlist(http_server: Loopback) -> None:
    before = len(http_server.requests)
    with pytest.raises(SourceRefused, match="loopback"):
        CkanAdapter(allowlist=[]).read(f"ckan+http://127.0.0.1:{http_server.port}/r-1")
    assert len(http_server.requests) == before


def test_the_api_token_goes_to_the_portal_only(http_server: Loopback, second_server: Loopback) -> None:
    http_server.resources["own"] = {"url": http_server.url("/files/sample.csv"), "format": "CSV"}
    http_server.resources["elsewhere"] = {"url": second_server.url("/files/sample.csv"), "format": "CSV"}
    adapter = CkanAdapter(allowlist=["127.0.0.1", "127.0.0.2"], api_token="portal-token")
    adapter.read(f"ckan+http://127.0.0.1:{http_server.port}/own").read_all()
    api, download = http_server.requests[-2:]
    assert api[0] == "/api/3/action/resource_show" and api[1]["Authorization"] == "portal-token"
    assert download[0] == "/files/sample.csv" and download[1]["Authorization"] == "portal-token"
    adapter.read(f"ckan+http://127.0.0.1:{http_server.port}/elsewhere").read_all()
    assert "Authorization" not in second_server.requests[-1][1]


def test_the_api_token_setting_reaches_the_portal_and_the_environment_alone_does_not(
        http_server: Loopback, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from connector.config import load_config
    from connector.staging.settings import StagingSettings
    from connector.staging.source import open_stream

    http_server.resources["own"] = {"url": http_server.url("/files/sample.csv"), "format": "CSV"}
    url = f"ckan+http://127.0.0.1:{http_server.port}/own"
    monkeypatch.setenv("CONNECTOR_CKAN_API_TOKEN", "portal-token")
    CkanAdapter(allowlist=ALLOW).read(url).read_all()
    assert "Authorization" not in http_server.requests[-1][1]
    config = load_config({"HOME": str(tmp_path), "SOURCE_ALLOWLIST": ALLOW})
    open_stream(SourceSpec(url), StagingSettings.from_config(config)).read_all()
    assert http_server.requests[-2][1]["Authorization"] == "portal-token"
