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
    ("http://100.64.0.1/x.csv", "shared"),
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


def test_an_allow_listed_name_resolving_to_the_metadata_address_is_refused_and_nothing_is_sent(
        http_server: Loopback) -> None:
    before = len(http_server.requests)
    adapter = HttpAdapter(allowlist=["minio.internal"],
                          resolver=lambda host, port: ["127.0.0.1", "169.254.169.254"])
    with pytest.raises(SourceRefused, match="169.254.169.254, a cloud metadata address"):
        adapter.read(f"http://minio.internal:{http_server.port}/files/sample.csv")
    assert len(http_server.requests) == before


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.10.10", "::ffff:169.254.169.254",
                                     "fe80::1", "fd00:ec2::254", "100.100.100.200", "0.0.0.0",  # noqa: S104
                                     "224.0.0.1", "255.255.255.255"])
def test_an_allow_listed_name_never_reaches_link_local_metadata_or_non_unicast_addresses(
        address: str) -> None:
    with pytest.raises(SourceRefused, match="an allow-listed name never reaches"):
        check_url("http://minio.internal/", Allowlist(["minio.internal"]),
                  resolver=lambda host, port: [address])


@pytest.mark.parametrize("address", ["10.0.0.7", "172.20.1.1", "192.168.1.1", "100.64.0.9",
                                     "127.0.0.1", "fd12:3456::1", "fec0::1"])
def test_an_allow_listed_name_may_reach_private_addresses(address: str) -> None:
    target = check_url("http://minio.internal/", Allowlist(["minio.internal"]),
                       resolver=lambda host, port: [address])
    assert target.addresses == (address,)


@pytest.mark.parametrize("cidr, address, admitted", [
    ("0.0.0.0/0", "169.254.169.254", False),       # a wide range does not name link-local
    ("::/0", "fe80::1", False),
    ("100.64.0.0/10", "100.100.100.200", False),   # nor a metadata address inside it
    ("169.254.0.0/16", "169.254.10.10", True),     # a CIDR inside link-local names it
    ("169.254.169.254/32", "169.254.169.254", True),
    ("100.100.100.200/32", "100.100.100.200", True),
    ("0.0.0.0/0", "10.1.2.3", True),
])
def test_only_a_cidr_inside_the_block_admits_link_local_or_metadata_addresses(
        cidr: str, address: str, admitted: bool) -> None:
    assert Allowlist([cidr]).admits_address(ipaddress.ip_address(address)) is admitted


def test_deprecated_ipv6_site_local_addresses_are_refused() -> None:
    with pytest.raises(SourceRefused, match="fec0::/10"):
        check_url("http://[fec0::1]/x.csv", Allowlist())
    with pytest.raises(SourceRefused, match="fec0::/10"):
        check_url("http://files.example/", Allowlist(), resolver=lambda h, p: ["fec0:1::2"])


# The IANA IPv4 and IPv6 Special-Purpose Address Registries (2025-05), copied here apart from
# the code's table: (block, verdict). "refused": no address inside may be a source; "admitted":
# globally reachable per the registry and not otherwise dangerous; "embeds": an IPv4 address
# inside decides. Plus what other registries add: IPv4/IPv6 multicast, IPv6 site-local.
IANA_SPECIAL_PURPOSE = [
    ("0.0.0.0/8", "refused"), ("0.0.0.0/32", "refused"), ("10.0.0.0/8", "refused"),
    ("100.64.0.0/10", "refused"), ("127.0.0.0/8", "refused"), ("169.254.0.0/16", "refused"),
    ("172.16.0.0/12", "refused"), ("192.0.0.0/24", "refused"), ("192.0.0.0/29", "refused"),
    ("192.0.0.8/32", "refused"), ("192.0.0.9/32", "admitted"), ("192.0.0.10/32", "admitted"),
    ("192.0.0.170/31", "refused"), ("192.0.2.0/24", "refused"), ("192.31.196.0/24", "admitted"),
    ("192.52.193.0/24", "admitted"), ("192.88.99.0/24", "refused"), ("192.168.0.0/16", "refused"),
    ("192.175.48.0/24", "admitted"), ("198.18.0.0/15", "refused"), ("198.51.100.0/24", "refused"),
    ("203.0.113.0/24", "refused"), ("224.0.0.0/4", "refused"), ("240.0.0.0/4", "refused"),
    ("255.255.255.255/32", "refused"),
    ("::1/128", "refused"), ("::/128", "refused"), ("::ffff:0:0/96", "embeds"),
    ("64:ff9b::/96", "embeds"), ("64:ff9b:1::/48", "refused"), ("100::/64", "refused"),
    ("100:0:0:1::/64", "refused"), ("2001::/23", "refused"), ("2001::/32", "refused"),
    ("2001:1::1/128", "admitted"), ("2001:1::2/128", "admitted"), ("2001:1::3/128", "admitted"),
    ("2001:2::/48", "refused"), ("2001:3::/32", "admitted"), ("2001:4:112::/48", "admitted"),
    ("2001:10::/28", "refused"), ("2001:20::/28", "refused"), ("2001:30::/28", "refused"),
    ("2001:db8::/32", "refused"), ("2002::/16", "embeds"), ("2620:4f:8000::/48", "admitted"),
    ("3fff::/20", "refused"), ("5f00::/16", "refused"), ("fc00::/7", "refused"),
    ("fe80::/10", "refused"), ("fec0::/10", "refused"), ("ff00::/8", "refused"),
]


def _inside_only(cidr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address of ``cidr`` in none of the more specific blocks of the registry."""
    network = ipaddress.ip_network(cidr)
    children = [ipaddress.ip_network(c) for c, _ in IANA_SPECIAL_PURPOSE
                if ipaddress.ip_network(c).version == network.version
                and ipaddress.ip_network(c) != network and ipaddress.ip_network(c).subnet_of(network)]
    for candidate in (network.broadcast_address, network.network_address):
        if not any(candidate in child for child in children):
            return candidate
    raise AssertionError(cidr)


@pytest.mark.parametrize("cidr, verdict", IANA_SPECIAL_PURPOSE)
def test_every_special_purpose_block_gets_the_registry_verdict(cidr: str, verdict: str) -> None:
    address = _inside_only(cidr)
    if verdict == "embeds":  # the embedded IPv4 address decides: 10.0.0.1 refused, 8.8.8.8 not
        network = ipaddress.ip_network(cidr)
        wrap = (lambda v4: ipaddress.IPv6Address(int(network.network_address) | (int(v4) << 80))) \
            if cidr == "2002::/16" else \
            (lambda v4: ipaddress.IPv6Address(int(network.network_address) | int(v4)))
        assert refusal(wrap(ipaddress.IPv4Address("10.0.0.1"))) is not None
        assert str(refusal(wrap(ipaddress.IPv4Address("169.254.169.254")))).startswith(
            f"a cloud metadata address, embedded in {cidr}")
        assert refusal(wrap(ipaddress.IPv4Address("8.8.8.8"))) is None
        return
    host = f"[{address}]" if address.version == 6 else str(address)
    if verdict == "refused":
        with pytest.raises(SourceRefused):
            check_url(f"http://{host}/x.csv", Allowlist())
    else:
        assert check_url(f"http://{host}/x.csv", Allowlist()).addresses == (str(address),)


def test_the_guard_table_holds_every_block_of_the_registries() -> None:
    from connector.adapters.safety import SPECIAL_BLOCKS

    assert {c for c, _ in IANA_SPECIAL_PURPOSE} <= {str(b.network) for b in SPECIAL_BLOCKS}


def test_ipv6_outside_global_unicast_and_the_registry_is_refused() -> None:
    with pytest.raises(SourceRefused, match="2000::/3"):
        check_url("http://[4000::1]/x.csv", Allowlist())


@pytest.mark.parametrize("entry", ['["127.0.0.1"]', "10.0.0.0/33", "http://files.lab", "a b",
                                   "-bad.example", "1.2.3"])
def test_an_allowlist_entry_that_is_no_host_address_or_cidr_is_an_error(entry: str) -> None:
    with pytest.raises(ValueError, match="neither a host name nor an address nor a CIDR"):
        Allowlist([entry])


def test_the_allowlist_comes_from_the_settings_never_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from connector.config import load_config

    monkeypatch.setenv("CONNECTOR_SOURCE_ALLOWLIST", " 127.0.0.1 , ::1/128,files.lab ")
    assert not HttpAdapter().allowlist.admits_address(ipaddress.ip_address("127.0.0.1"))
    allow = Allowlist(load_config({"HOME": str(tmp_path)})["SOURCE_ALLOWLIST"])
    assert allow.admits_address(ipaddress.ip_address("::1")) and allow.admits_host("FILES.lab.")


def test_the_allowlist_setting_may_be_a_json_list(tmp_path: Path) -> None:
    from connector.config import load_config

    config = load_config(environ={"CONNECTOR_HOME": str(tmp_path),
                                  "CONNECTOR_SOURCE_ALLOWLIST": '["127.0.0.1", "files.lab"]'})
    allow = Allowlist.of(config["SOURCE_ALLOWLIST"])
    assert allow.admits_address(ipaddress.ip_address("127.0.0.1")) and allow.admits_host("files.lab")


def test_metadata_addresses_are_refused_even_inside_ipv4_mapped_ipv6() -> None:
    assert str(refusal(ipaddress.ip_address("::ffff:169.254.169.254"))).startswith("a cloud metadata address")


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
