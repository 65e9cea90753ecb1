"""SSRF guard and HTTP behaviour against real loopback servers: refused addresses and
schemes, redirects checked at every hop, pinned connections, TLS, timeouts and status codes."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from connector.adapters.base import SourceSpec
from connector.adapters.errors import (
    SourceNotFound,
    SourceRefused,
    SourceTimeout,
    SourceTooLarge,
    TerminalSourceError,
    TransientSourceError,
)
from connector.adapters.http import HttpAdapter
from connector.adapters.safety import Allowlist, check_url, refusal
from tests.adapters.conftest import Loopback, _Handler

ALLOW = ["127.0.0.1"]


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1/x.csv", "loopback"),
    ("http://localhost/x.csv", "loopback"),
    ("http://2130706433/x.csv", "loopback"),       # 127.0.0.1 as one decimal number
    ("http://0x7f.1/x.csv", "loopback"),
    ("http://[::1]/x.csv", "loopback"),
    ("http://[::ffff:127.0.0.1]/x.csv", "loopback"),
    ("http://10.1.2.3/x.csv", "private"),
    ("http://192.168.0.10/x.csv", "private"),
    ("http://100.64.0.1/x.csv", "not a public address"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
    ("http://169.254.10.10/x.csv", "link-local"),
    ("http://0.0.0.0/x.csv", "unspecified"),
    ("http://224.0.0.1/x.csv", "multicast"),
    ("http://[64:ff9b::a00:1]/x.csv", "private"),  # NAT64 form of 10.0.0.1
    ("http://[2002:a00:1::]/x.csv", "private"),  # 6to4 form of 10.0.0.1
])
def test_non_public_addresses_are_refused_without_an_allowlist(url: str, reason: str) -> None:
    with pytest.raises(SourceRefused, match=reason):
        check_url(url, Allowlist())


def test_public_addresses_pass_the_guard_with_the_addresses_to_connect_to() -> None:
    target = check_url("https://data.example:8443/a.csv", Allowlist(),
                       resolver=lambda host, port: ["93.184.215.14"])
    assert (target.host, target.port, target.addresses) == ("data.example", 8443, ("93.184.215.14",))


def test_one_non_public_address_among_several_refuses_the_host() -> None:
    with pytest.raises(SourceRefused, match="10.0.0.7"):
        check_url("http://mixed.example/", Allowlist(), resolver=lambda h, p: ["93.184.215.14", "10.0.0.7"])


def test_the_allowlist_admits_named_hosts_and_networks_only() -> None:
    allow = Allowlist(["127.0.0.1", "10.20.0.0/16", "minio.internal"])
    assert check_url("http://127.0.0.1:9000/", allow).addresses == ("127.0.0.1",)
    check_url("http://10.20.3.4/", allow)
    check_url("http://minio.internal/", allow, resolver=lambda h, p: ["10.99.0.1"])
    with pytest.raises(SourceRefused, match="10.21.0.1"):
        check_url("http://10.21.0.1/", allow)
    with pytest.raises(SourceRefused, match="metadata"):
        check_url("http://169.254.169.254/", allow)


def test_the_allowlist_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SOURCE_ALLOWLIST", " 127.0.0.1 , ::1/128,files.lab ")
    allow = Allowlist.from_env()
    assert allow.admits_address(ipaddress.ip_address("::1")) and allow.admits_host("FILES.lab.")
    assert HttpAdapter().allowlist.admits_address(ipaddress.ip_address("127.0.0.1"))


def test_metadata_addresses_are_refused_even_inside_ipv4_mapped_ipv6() -> None:
    assert refusal(ipaddress.ip_address("::ffff:169.254.169.254")) == "a cloud metadata address"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.csv",
                                 "gopher://127.0.0.1/", "/etc/passwd"])
def test_the_http_adapter_refuses_other_schemes(url: str) -> None:
    with pytest.raises(SourceRefused, match="only http and https"):
        HttpAdapter(allowlist=ALLOW).read(url)


def test_loopback_is_refused_without_the_allowlist_and_nothing_is_requested(http_server: Loopback) -> None:
    before = len(http_server.requests)
    with pytest.raises(SourceRefused, match="127.0.0.1, a loopback address"):
        HttpAdapter(allowlist=[]).read(http_server.url("/files/sample.csv"))
    assert len(http_server.requests) == before


def test_credentials_in_the_url_are_refused(http_server: Loopback) -> None:
    url = http_server.url("/files/sample.csv").replace("http://", "http://user:secret@")
    with pytest.raises(SourceRefused, match="credentials"):
        HttpAdapter(allowlist=ALLOW).read(url)


def test_a_redirect_to_a_loopback_address_not_allowed_is_refused_before_connecting(
        http_server: Loopback, second_server: Loopback) -> None:
    target = second_server.url("/files/sample.csv")
    with pytest.raises(SourceRefused, match="127.0.0.2, a loopback address"):
        HttpAdapter(allowlist=ALLOW).read(http_server.url(f"/redirect?to={target}"))
    assert second_server.requests == []


@pytest.mark.parametrize("target, reason", [
    ("http://169.254.169.254/latest/meta-data/iam/", "metadata"),
    ("file:///etc/passwd", "'file' scheme is not allowed"),
    ("http://10.0.0.1/", "private"),
])
def test_a_redirect_to_a_refused_target_is_refused(http_server: Loopback, target: str, reason: str) -> None:
    with pytest.raises(SourceRefused, match=reason):
        HttpAdapter(allowlist=ALLOW).read(http_server.url(f"/redirect?to={target}&code=307"))


def test_allowed_redirects_are_followed_and_the_final_url_recorded(
        http_server: Loopback, second_server: Loopback, fixtures_dir: Path) -> None:
    final = second_server.url("/files/sample.csv")
    first = http_server.url(f"/redirect?to={final}&code=301")
    stream = HttpAdapter(allowlist=["127.0.0.1", "127.0.0.2"]).read(first)
    assert stream.read_all().num_rows == 600
    assert stream.provenance.url == first and stream.provenance.final_url == final
    assert stream.provenance.sha256 == hashlib.sha256((fixtures_dir / "sample.csv").read_bytes()).hexdigest()


def test_more_than_five_redirects_are_refused(http_server: Loopback) -> None:
    with pytest.raises(SourceRefused, match="more than 5 redirects"):
        HttpAdapter(allowlist=ALLOW).read(http_server.url("/loop/0"))
    assert [p for p, _ in http_server.requests if p.startswith("/loop/")][-1] == "/loop/5"


def test_the_authorization_header_does_not_follow_a_redirect_to_another_host(
        http_server: Loopback, second_server: Loopback) -> None:
    from connector.adapters.streams import Budget
    adapter = HttpAdapter(allowlist=["127.0.0.1", "127.0.0.2"])
    target = second_server.url("/files/sample.csv")
    body, final, _ = adapter.get(http_server.url(f"/redirect?to={target}"), SourceSpec("x"),
                                 Budget(max_bytes=None, deadline=5), {"Authorization": "token-1"})
    body.close()
    assert final == target
    assert http_server.requests[-1][1].get("Authorization") == "token-1"
    assert "Authorization" not in second_server.requests[-1][1]


def test_the_connection_goes_to_the_checked_address_not_to_a_second_dns_answer(http_server: Loopback) -> None:
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])  # a rebinding resolver: private on the second lookup
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    adapter = HttpAdapter(allowlist=ALLOW, resolver=rebinding)
    url = f"http://rebind.test:{http_server.port}/files/sample.csv"
    assert adapter.read(url).read_all().num_rows == 600
    assert calls == ["rebind.test"]
    assert http_server.requests[-1][1]["Host"] == f"rebind.test:{http_server.port}"


@pytest.mark.parametrize("status, kind", [(500, TransientSourceError), (503, TransientSourceError),
                                          (429, TransientSourceError), (404, SourceNotFound),
                                          (403, TerminalSourceError), (501, TerminalSourceError)])
def test_http_errors_are_transient_or_terminal_by_status(http_server: Loopback, status: int,
                                                          kind: type) -> None:
    with pytest.raises(kind, match=f"HTTP {status}") as caught:
        HttpAdapter(allowlist=ALLOW).read(http_server.url(f"/status/{status}"))
    assert caught.value.transient is (status in (500, 503, 429))
    assert caught.value.extensions["http_status"] == status


def test_retry_after_is_kept_on_a_transient_error(http_server: Loopback) -> None:
    with pytest.raises(TransientSourceError) as caught:
        HttpAdapter(allowlist=ALLOW).read(http_server.url("/status/503?retry_after=7"))
    assert caught.value.retry_after == 7.0


def test_a_trickling_source_is_stopped_by_the_deadline(http_server: Loopback) -> None:
    started = time.monotonic()
    with pytest.raises(SourceTimeout, match="deadline of 1 s"):
        HttpAdapter(allowlist=ALLOW).read(SourceSpec(http_server.url("/trickle"), format="csv",
                                                     deadline=1, read_timeout=5)).read_all()
    assert time.monotonic() - started < 2.5


def test_a_silent_source_hits_the_read_timeout_as_a_transient_error(http_server: Loopback) -> None:
    started = time.monotonic()
    with pytest.raises(SourceTimeout) as caught:
        HttpAdapter(allowlist=ALLOW).read(SourceSpec(http_server.url("/silent"), format="csv",
                                                     read_timeout=0.5)).read_all()
    assert caught.value.transient and time.monotonic() - started < 2


def test_a_source_that_sends_less_than_it_declares_is_a_transient_error(http_server: Loopback) -> None:
    with pytest.raises(TransientSourceError, match="IncompleteRead"):
        HttpAdapter(allowlist=ALLOW).read(http_server.url("/short/sample.csv")).read_all()


def test_a_chunked_body_cut_short_is_a_transient_error(http_server: Loopback) -> None:
    with pytest.raises(TransientSourceError):
        HttpAdapter(allowlist=ALLOW).read(http_server.url("/chunked-cut")).read_all()


def test_a_declared_length_above_max_bytes_is_refused_before_reading(http_server: Loopback) -> None:
    with pytest.raises(SourceTooLarge, match="above the maximum of 100 bytes"):
        HttpAdapter(allowlist=ALLOW).read(SourceSpec(http_server.url("/files/sample.csv"), max_bytes=100))


def test_a_chunked_body_above_max_bytes_is_cut_while_streaming(http_server: Loopback) -> None:
    spec = SourceSpec(http_server.url("/chunked/sample.csv"), max_bytes=10_000, block_size=4096)
    with pytest.raises(SourceTooLarge, match="maximum of 10000 bytes"):
        HttpAdapter(allowlist=ALLOW).read(spec).read_all()


def test_a_chunked_body_reads_whole(http_server: Loopback, fixtures_dir: Path) -> None:
    stream = HttpAdapter(allowlist=ALLOW).read(http_server.url("/chunked/sample.csv"))
    assert stream.read_all().num_rows == 600
    assert stream.provenance.bytes == (fixtures_dir / "sample.csv").stat().st_size


def test_content_disposition_names_a_file_behind_an_extension_less_url(http_server: Loopback) -> None:
    stream = HttpAdapter(allowlist=ALLOW).read(http_server.url("/named/sample.jsonl"))
    assert stream.read_all().num_rows == 600


# -- TLS to a pinned address ----------------------------------------------------------

@pytest.fixture(scope="module")
def tls_server(fixtures_dir: Path):
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = Loopback.__new__(Loopback)  # type: ignore[attr-defined]
    server.state.root, server.state.requests, server.state.resources = fixtures_dir, [], {}  # type: ignore[attr-defined]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = ssl.create_default_context()
    authority.configure_trust(client)
    yield server.server_address[1], client
    server.shutdown()
    server.server_close()
    thread.join()


def test_https_verifies_the_certificate_against_the_url_host_while_connecting_to_the_checked_address(
        tls_server) -> None:
    port, client = tls_server
    adapter = HttpAdapter(allowlist=["localhost"], ssl_context=client, resolver=lambda h, p: ["127.0.0.1"])
    stream = adapter.read(f"https://localhost:{port}/files/sample.csv")
    assert stream.read_all().num_rows == 600


def test_https_with_a_certificate_for_another_name_is_refused(tls_server) -> None:
    port, client = tls_server
    with pytest.raises(TerminalSourceError, match="certificate"):
        HttpAdapter(allowlist=ALLOW, ssl_context=client).read(f"https://127.0.0.1:{port}/files/sample.csv")


def test_https_never_redirects_to_plain_http(tls_server, http_server: Loopback) -> None:
    port, client = tls_server
    target = http_server.url("/files/sample.csv")
    adapter = HttpAdapter(allowlist=["localhost", "127.0.0.1"], ssl_context=client,
                          resolver=lambda h, p: ["127.0.0.1"])
    with pytest.raises(SourceRefused, match="https to plain http"):
        adapter.read(f"https://localhost:{port}/redirect?to={target}")
