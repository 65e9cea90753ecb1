"""Two instances of the connector for the DSP tests: each with its own database, served on
loopback by werkzeug in threads, configured as each other's participant, their outbound
messages recorded and checked against the official schemas. Delivery is driven by the test
(:meth:`Pair.pump`)."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from connector.app import create_app
from connector.dsp.client import DspClient
from connector.dsp.messages import message_schemas
from connector.dsp.transfer_api import deliver
from connector.identity import service as identity
from connector.uow import UnitOfWork
from tests.conftest import migrated_database
from tests.dsp.conftest import OWN_ID, dsp_config

CONSUMER_ID = "urn:connector:consumer"
PAIR_TOKEN = "pair-shared-token-0123456789abcdef"
BASE = "/dsp/2025-1"
CONTEXT = ["https://w3id.org/dspace/2025/1/context.jsonld"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def consumer_database(tmp_path: Path) -> Iterator[str]:
    """A second, freshly migrated database: a SQLite file, or a PostgreSQL schema."""
    with migrated_database(tmp_path, "consumer") as url:
        yield url


class RecordingClient(DspClient):
    """Our real outbound client, keeping every message sent and every answer got, both checked
    against the official schemas."""

    def __init__(self, inner: DspClient, log: list[tuple[dict[str, Any], Any]]) -> None:
        super().__init__(inner.credentials, timeout=inner.timeout, resolver=inner.resolver)
        self.log = log

    def post(self, participant, url, message, *, expect=None):
        message_schemas().validate(message)
        answer = super().post(participant, url, message, expect=expect)
        if answer.body:
            message_schemas().validate(answer.body)
        self.log.append((dict(message), answer.body))
        return answer


@dataclasses.dataclass
class Pair:
    provider: Any
    consumer: Any
    exchanged: list[tuple[dict[str, Any], Any]]
    team: dict[str, str]

    def pump(self) -> None:
        """Advance transfers and deliver both outboxes until nothing moves."""
        for _ in range(20):
            if deliver(self.consumer) + deliver(self.provider) == 0:
                return
        raise AssertionError("the connectors kept sending")

    def types(self) -> list[str]:
        return [message["@type"] + (":" + message["eventType"] if "eventType" in message else "")
                for message, _ in self.exchanged]

    def team_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.team['alice']}"}

    def consumer_process(self, kind: str, process_id: str) -> dict[str, Any]:
        """Our team's view of its negotiation or transfer (``kind``: ``negotiations`` or
        ``transfers``) on the consumer connector."""
        response = self.consumer.test_client().get(f"/api/v1/{kind}/{process_id}",
                                                   headers=self.team_headers())
        assert response.status_code == 200
        return response.get_json()


def provider_process(client, actors, kind: str, consumer_pid: str) -> dict[str, Any]:
    """The provider steward's view of the negotiation or transfer with ``consumer_pid``."""
    items = client.get(f"/api/v1/{kind}?role=provider", headers=actors.headers("steward")).get_json()
    (found,) = [item for item in items["items"] if item["consumerPid"] == consumer_pid]
    return found


def serve(application) -> tuple[Any, threading.Thread]:
    """Serve ``application`` on the loopback port of its ``PUBLIC_BASE_URL`` in a thread."""
    server = make_server("127.0.0.1", int(application.config["PUBLIC_BASE_URL"].rsplit(":", 1)[1]),
                         application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@contextlib.contextmanager
def two_connectors(provider_database: str, consumer_database: str, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch, *, provider: dict[str, Any] | None = None,
                   consumer: dict[str, Any] | None = None) -> Iterator[Any]:
    """Provider (our ``OWN_ID``, the root fixtures' database) and consumer (``CONSUMER_ID``),
    with extra config for each; yields the provider, ``extensions["pair"]`` holding the consumer
    and the exchanged messages. Both serve until the block ends."""
    monkeypatch.setenv("DSP_TEST_PAIR_TOKEN", PAIR_TOKEN)
    provider_port, consumer_port = free_port(), free_port()
    credential = {"type": "bearer", "token_env": "DSP_TEST_PAIR_TOKEN"}
    provider_app = create_app(dsp_config(
        provider_database, tmp_path / "p", PUBLIC_BASE_URL=f"http://127.0.0.1:{provider_port}",
        DSP_PARTICIPANTS=[{"id": CONSUMER_ID, "address": f"http://127.0.0.1:{consumer_port}{BASE}",
                           "project": "cardio", "credential": credential}], **(provider or {})))
    consumer_app = create_app(dsp_config(
        consumer_database, tmp_path / "c", PUBLIC_BASE_URL=f"http://127.0.0.1:{consumer_port}",
        DSP_PARTICIPANT_ID=CONSUMER_ID,
        DSP_PARTICIPANTS=[{"id": OWN_ID, "address": f"http://127.0.0.1:{provider_port}{BASE}",
                           "project": "ai-team", "credential": credential}], **(consumer or {})))
    exchanged: list[tuple[dict[str, Any], Any]] = []
    for application in (provider_app, consumer_app):
        context = application.extensions["dsp_negotiation"]
        context.deliver_inline = False
        application.extensions["dsp_transfer"].deliver_inline = False
        context.runtime = dataclasses.replace(context.runtime,
                                              client=RecordingClient(context.runtime.client, exchanged))
    provider_app.extensions["pair"] = (consumer_app, exchanged)
    servers = [serve(provider_app), serve(consumer_app)]
    try:
        yield provider_app
    finally:
        for server, thread in servers:
            server.shutdown()
            thread.join()
            server.server_close()
        for application in (provider_app, consumer_app):
            application.extensions["connector"].engine.dispose()


@pytest.fixture
def pair(app, actors) -> Pair:
    """The two connectors of the module's ``app`` fixture, with team ``ai-team`` (alice) on the consumer."""
    consumer, exchanged = app.extensions["pair"]
    unit = UnitOfWork(consumer.extensions["connector"].session_factory)
    identity.create_organisation(unit, "lab", "Imaging Lab")
    identity.create_project(unit, "ai-team", "lab")
    _, alice = identity.create_user(unit, "alice", "member", projects=("ai-team",))
    return Pair(app, consumer, exchanged, {"alice": alice})
