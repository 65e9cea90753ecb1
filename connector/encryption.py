"""Secrets at rest: authenticated encryption under a key from the configuration.

:class:`SecretBox` seals text with AES-256-GCM (``cryptography``). The 256-bit key is derived
with HKDF-SHA256 from ``SECRETS_KEY`` (any string of at least :data:`MIN_KEY_LENGTH`
characters), so operators may paste what ``openssl rand -base64 32`` prints. Each value is
sealed with a *label* (what it is and whose) as associated data: a sealed value copied into
another row does not open there.

Without ``SECRETS_KEY`` a random key is created on first use in ``$HOME/secrets.key`` (mode
0600) and read from there afterwards, as the pseudonymisation secret is: processes that share
the database must then share ``HOME`` too, else set the same ``SECRETS_KEY`` in each.

A value sealed under another key does not open: :class:`SecretsKeyMismatch` names the setting.
Nothing here imports Flask or the database.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connector.errors import ConnectorError

SETTING = "CONNECTOR_SECRETS_KEY"
KEY_FILE = "secrets.key"
MIN_KEY_LENGTH = 32
_VERSION = "v1"
_NONCE_BYTES = 12
_HKDF_INFO = b"connector secrets at rest v1"


class SecretsKeyMismatch(ConnectorError):
    """A stored secret does not open under the configured key (or was altered)."""

    status, code, title = 500, "secrets-key-mismatch", "Stored secret unreadable"


def _derive(material: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        material.encode("utf-8"))


def _key_file(home: Path) -> str:
    """The key kept in ``home``, created (mode 0600, atomically) when there is none."""
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        draft = home / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(draft, path)  # fails when another process made one first: keep theirs
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


class SecretBox:
    """Seals and opens text under one key; the key is read (or the key file made) on first use."""

    def __init__(self, key: str | None = None, *, home: str | os.PathLike[str] | None = None) -> None:
        if key is None and home is None:
            raise ValueError("a SecretBox needs a key or a home folder for its key file")
        self._key = key
        self._home = Path(home) if home is not None else None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SecretBox:
        return cls(config.get("SECRETS_KEY"), home=config["HOME"])

    @cached_property
    def _aead(self) -> AESGCM:
        material = self._key if self._key is not None else _key_file(self._home)  # type: ignore[arg-type]
        return AESGCM(_derive(material))

    @property
    def source(self) -> str:
        """Where the key comes from, for messages (never the key)."""
        return SETTING if self._key is not None else f"{self._home / KEY_FILE} (no {SETTING} set)"

    def seal(self, plaintext: str, label: str) -> str:
        """``plaintext`` encrypted and authenticated, bound to ``label``: ``v1:<base64url>``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), label.encode("utf-8"))
        return f"{_VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, label: str) -> str:
        """The plaintext of a value :meth:`seal` made with ``label``; SecretsKeyMismatch otherwise."""
        version, _, body = token.partition(":")
        try:
            if version != _VERSION:
                raise ValueError(version)
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], label.encode("utf-8"))
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise SecretsKeyMismatch(
                f"a stored secret ({label.split(':', 1)[0]}) does not open with the key from {self.source}: "
                f"every process sharing this database needs the same {SETTING}") from exc
        return plain.decode("utf-8")

    def __repr__(self) -> str:
        return f"SecretBox(key from {self.source})"
