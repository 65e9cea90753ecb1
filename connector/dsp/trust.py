"""The DSP trust state in the database, so every ``serve`` process and ``worker`` shares it.

* tokens our token endpoint issued: only their SHA-256 is stored (we only verify them);
* secrets we must present again (tokens other connectors gave us, push credentials): sealed
  with :class:`connector.encryption.SecretBox` under ``SECRETS_KEY``, label ``<kind>:<name>``.

Each call is its own short transaction: callers hold no unit of work when they authenticate
a request or build an ``Authorization`` header (a drop may join the caller's transaction).
Rows whose ``expires_at`` has passed are never honoured; :meth:`TrustStore.purge_expired`
(the worker's round) deletes them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from connector.dsp.models import IssuedToken, SealedSecret
from connector.encryption import SecretBox


class TrustStore:
    """Issued token hashes and sealed secrets, in the application's database."""

    def __init__(self, session_factory: sessionmaker, box: SecretBox) -> None:
        self._sessions = session_factory
        self.box = box

    # --- tokens we issued (hashes) -------------------------------------------------------

    def add_token(self, token_hash: str, participant_id: str, expires_at: dt.datetime) -> None:
        with self._sessions() as session, session.begin():
            session.add(IssuedToken(token_hash=token_hash, participant_id=participant_id,
                                    expires_at=expires_at))

    def token_holder(self, token_hash: str, now: dt.datetime) -> str | None:
        """The participant a live token was issued to, else None."""
        with self._sessions() as session:
            return session.scalar(select(IssuedToken.participant_id).where(
                IssuedToken.token_hash == token_hash, IssuedToken.expires_at > now))

    # --- secrets we use again (sealed) ---------------------------------------------------

    def put_secret(self, kind: str, name: str, plaintext: str, expires_at: dt.datetime) -> None:
        """Keep ``plaintext`` sealed under ``(kind, name)``, replacing what was there."""
        sealed = self.box.seal(plaintext, f"{kind}:{name}")
        for _ in range(3):  # a concurrent put of the same name wins the insert: replace again
            try:
                with self._sessions() as session, session.begin():
                    session.execute(delete(SealedSecret).where(SealedSecret.kind == kind,
                                                               SealedSecret.name == name))
                    session.add(SealedSecret(kind=kind, name=name, sealed=sealed, expires_at=expires_at))
                return
            except IntegrityError:
                continue
        raise RuntimeError(f"could not store the {kind} secret of {name!r}")

    def get_secret(self, kind: str, name: str, now: dt.datetime) -> str | None:
        """The plaintext kept under ``(kind, name)`` unless expired; SecretsKeyMismatch when it
        was sealed under another key."""
        with self._sessions() as session:
            sealed = session.scalar(select(SealedSecret.sealed).where(
                SealedSecret.kind == kind, SealedSecret.name == name, SealedSecret.expires_at > now))
        return None if sealed is None else self.box.open(sealed, f"{kind}:{name}")

    def drop_secret(self, kind: str, name: str, *, session: Session | None = None) -> None:
        """Forget ``(kind, name)``; within ``session``'s transaction when given (a caller that
        has written in it must pass it: on SQLite a second connection would wait for its lock)."""
        statement = delete(SealedSecret).where(SealedSecret.kind == kind, SealedSecret.name == name)
        if session is not None:
            session.execute(statement)
            return
        with self._sessions() as own, own.begin():
            own.execute(statement)

    # --- maintenance ---------------------------------------------------------------------

    def purge_expired(self, now: dt.datetime) -> int:
        """Delete expired token hashes and secrets. Returns the rows deleted."""
        with self._sessions() as session, session.begin():
            removed = session.execute(delete(IssuedToken).where(IssuedToken.expires_at <= now)).rowcount
            removed += session.execute(delete(SealedSecret).where(SealedSecret.expires_at <= now)).rowcount
        return removed or 0
