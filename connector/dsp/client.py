"""Outbound DSP calls: post a message to a participant, or fetch one of its datasets.

Every message is validated against the official schema before it leaves, and every answer
after it arrives. The URL passes the SSRF guard of :mod:`connector.adapters.safety` with the
participant's configured address admitted (operators configure participants on private
networks); anything else must be public. Redirects are not followed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from connector.adapters.errors import SourceError
from connector.adapters.safety import Allowlist, Resolver, check_url, system_resolver
from connector.dsp.messages import InvalidMessage, message_schemas
from connector.dsp.participants import OutboundCredentials, Participant, ParticipantUnreachable

MAX_ANSWER_BYTES = 1024 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class Answer:
    """A participant's answer: the status and the parsed JSON body (None when not JSON)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def reasons(self) -> list[str]:
        """The ``reason`` list of a protocol error answer, else a description of the answer."""
        if isinstance(self.body, dict) and isinstance(self.body.get("reason"), list):
            return [str(item) for item in self.body["reason"]]
        return [f"the participant answered {self.status}"]


class DspClient:
    """Talks to configured participants with our outbound credentials."""

    def __init__(self, credentials: OutboundCredentials, *, timeout: float = 10.0,
                 resolver: Resolver = system_resolver) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self.resolver = resolver

    def _check(self, participant: Participant, url: str) -> None:
        try:
            check_url(url, Allowlist([urlsplit(participant.address).hostname or ""]), resolver=self.resolver)
        except SourceError as exc:
            raise ParticipantUnreachable(f"refused to call {url}: {exc}") from exc

    def _call(self, participant: Participant, method: str, url: str, body: bytes | None) -> Answer:
        self._check(participant, url)
        headers = {"Accept": "application/json",
                   "Authorization": self.credentials.authorization(participant)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:  # checked above
                status, raw = response.status, response.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read(MAX_ANSWER_BYTES)
            exc.close()
        except (OSError, ValueError) as exc:
            raise ParticipantUnreachable(f"{method} {url} failed: {exc}") from exc
        if status == 401:
            self.credentials.forget(participant)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return Answer(status, parsed)

    def post(self, participant: Participant, url: str, message: Mapping[str, Any],
             *, expect: str | None = None) -> Answer:
        """Post a validated message; a 2xx answer with a body must be a valid ``expect``.

        Raises InvalidMessage when our message or their ACK breaks its schema, and
        ParticipantUnreachable when no answer came.
        """
        message_schemas().validate(message)
        answer = self._call(participant, "POST", url, json.dumps(message).encode("utf-8"))
        if answer.ok and expect is not None and answer.body is not None:
            message_schemas().validate(answer.body, expected=expect)
        if answer.ok and expect is not None and answer.body is None and answer.status == 201:
            raise InvalidMessage(f"{url} answered 201 without a {expect}")
        return answer

    def dataset(self, participant: Participant, dataset_id: str) -> dict[str, Any]:
        """The participant's DSP ``Dataset`` (validated)."""
        url = f"{participant.address}/catalog/datasets/{quote(dataset_id, safe=':')}"
        answer = self._call(participant, "GET", url, None)
        if not answer.ok:
            raise ParticipantUnreachable(
                f"{participant.id!r} answered {answer.status} for dataset {dataset_id!r}: "
                + "; ".join(answer.reasons()))
        message_schemas().validate(answer.body, expected="Dataset")
        return answer.body
