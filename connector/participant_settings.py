"""The ``DSP_PARTICIPANTS`` setting read into values: who we trust, at which address, with
which kind of credential (the secrets stay in the environment, named by these values).

Pure and in the core, so that :mod:`connector.config` validates the setting with the same
parser the Dataspace Protocol layer (:mod:`connector.dsp.participants`) uses, without
importing that layer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")


@dataclass(frozen=True)
class BearerCredential:
    token_env: str
    type: str = "bearer"


@dataclass(frozen=True)
class OAuth2Credential:
    token_url: str
    client_id: str
    client_secret_env: str
    scope: str | None = None
    type: str = "oauth2"


@dataclass(frozen=True)
class Participant:
    """One configured participant (no secrets: those stay in the environment)."""

    id: str
    address: str
    project: str
    credential: BearerCredential | OAuth2Credential


def _fields(raw: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> dict:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object, got {raw!r}")
    unknown = sorted(set(raw) - set(required) - set(optional))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for key in required:
        if key not in raw:
            raise ValueError(f"{where}: missing {key!r}")
    for key, value in raw.items():
        if key != "credential" and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return raw


def _url(value: str, where: str) -> str:
    if not _HTTP_URL.match(value):
        raise ValueError(f"{where}: expected an http(s) URL without query or fragment, got {value!r}")
    return value.rstrip("/")


def _env_name(value: str, where: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{where}: expected an environment variable name, got {value!r}")
    return value


def _credential(raw: Any, where: str) -> BearerCredential | OAuth2Credential:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "bearer":
        found = _fields(raw, where, ("type", "token_env"))
        return BearerCredential(_env_name(found["token_env"], f"{where}.token_env"))
    if kind == "oauth2":
        found = _fields(raw, where, ("type", "token_url", "client_id", "client_secret_env"), ("scope",))
        return OAuth2Credential(_url(found["token_url"], f"{where}.token_url"), found["client_id"],
                                _env_name(found["client_secret_env"], f"{where}.client_secret_env"),
                                found.get("scope"))
    raise ValueError(f"{where}.type: expected \"bearer\" or \"oauth2\", got {kind!r}")


def parse_participants(raw: Any) -> tuple[Participant, ...]:
    """Read ``DSP_PARTICIPANTS``; ValueError names the first bad entry and key."""
    if not isinstance(raw, list):
        raise ValueError(f"DSP_PARTICIPANTS: expected a list of participants, got {raw!r}")
    found: list[Participant] = []
    for index, item in enumerate(raw):
        where = f"DSP_PARTICIPANTS[{index}]"
        entry = _fields(item, where, ("id", "address", "project", "credential"))
        participant = Participant(entry["id"], _url(entry["address"], f"{where}.address"),
                                  entry["project"], _credential(entry["credential"], f"{where}.credential"))
        if any(other.id == participant.id for other in found):
            raise ValueError(f"{where}.id: participant {participant.id!r} is configured twice")
        if isinstance(participant.credential, OAuth2Credential) and any(
                isinstance(other.credential, OAuth2Credential)
                and other.credential.client_id == participant.credential.client_id for other in found):
            raise ValueError(f"{where}.credential.client_id: used by another participant")
        found.append(participant)
    return tuple(found)
