"""The data-space participants this connector talks to, and how each side proves who it is.

Participants are configured (``DSP_PARTICIPANTS``), never registered at run time. Each names
its DSP base URL (``address``), the local project that represents it (policies are evaluated
against that project's and its organisation's claims; agreements are recorded under it) and a
credential, used both ways:

* ``bearer``: one shared token, read from the environment variable ``token_env``. The caller
  sends ``Authorization: Bearer <token>`` (or the bare token, as Eclipse Dataspace Components
  does); we compare in constant time and send the same token to them.
* ``oauth2``: OAuth 2.0 client credentials (RFC 6749 §4.4), one client id and secret shared by
  the pair. Inbound, the participant obtains a short-lived opaque token from our token endpoint
  (:class:`TokenIssuer`, stored hashed); outbound, we obtain one from their ``token_url``
  (:class:`OutboundCredentials`, kept sealed until shortly before it expires). Both live in
  the database through :class:`connector.dsp.trust.TrustStore`, so several server processes
  and a separate worker share them.

Nothing here imports Flask or queries the database itself (``config`` parses participants with
it); :mod:`connector.dsp.principals` turns a participant into a local principal.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connector.adapters.safety import Resolver, refusal, system_resolver
from connector.errors import BadRequest, ConnectorError, Unauthorized
from connector.participant_settings import (  # noqa: F401  (the DSP layer's names for them)
    BearerCredential,
    OAuth2Credential,
    Participant,
    parse_participants,
)

if TYPE_CHECKING:
    from connector.dsp.trust import TrustStore

MIN_SECRET_LENGTH = 16
#: An outbound token is renewed this many seconds before the expiry its issuer announced.
RENEW_MARGIN_SECONDS = 30.0


class ParticipantUnreachable(ConnectorError):
    """A participant's token endpoint failed or answered something unusable."""

    status, code, title = 502, "participant-unreachable", "Participant unreachable"


class CallbackRefused(BadRequest):
    """A callback address on a non-public network that no configured participant owns."""

    code, title = "callback-refused", "Callback address refused"


class TokenRequestRefused(ConnectorError):
    """A token request our endpoint refuses; ``error`` is the RFC 6749 §5.2 error code."""

    status, code, title = 400, "token-request-refused", "Token request refused"

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        if error == "invalid_client":
            self.status = 401


def _secret(environ: Mapping[str, str], name: str, where: str) -> str:
    value = environ.get(name, "")
    if len(value) < MIN_SECRET_LENGTH:
        problem = "is not set" if not value else f"is shorter than {MIN_SECRET_LENGTH} characters"
        raise ValueError(f"{where}: the environment variable {name} {problem}")
    return value


# --- the registry -----------------------------------------------------------------------

class ParticipantRegistry:
    """The configured participants with their secrets, read once from the environment."""

    def __init__(self, self_id: str | None, participants: Sequence[Participant],
                 environ: Mapping[str, str]) -> None:
        self.self_id = self_id
        self.participants = tuple(participants)
        self._secrets: dict[str, str] = {}
        for index, participant in enumerate(self.participants):
            credential = participant.credential
            if isinstance(credential, BearerCredential):
                where = f"DSP_PARTICIPANTS[{index}].credential.token_env"
                self._secrets[participant.id] = _secret(environ, credential.token_env, where)
            else:
                where = f"DSP_PARTICIPANTS[{index}].credential.client_secret_env"
                self._secrets[participant.id] = _secret(environ, credential.client_secret_env, where)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], environ: Mapping[str, str]) -> ParticipantRegistry:
        """Built from the validated configuration; ValueError names a missing secret."""
        return cls(config.get("DSP_PARTICIPANT_ID"), parse_participants(config.get("DSP_PARTICIPANTS", [])),
                   environ)

    def get(self, participant_id: str) -> Participant | None:
        return next((p for p in self.participants if p.id == participant_id), None)

    def secret(self, participant: Participant) -> str:
        """The shared bearer token or OAuth2 client secret of ``participant``."""
        return self._secrets[participant.id]

    def by_bearer_token(self, token: str) -> Participant | None:
        """The bearer participant holding ``token``; every candidate is compared in constant time."""
        match = None
        for participant in self.participants:
            if isinstance(participant.credential, BearerCredential) and hmac.compare_digest(
                    self._secrets[participant.id].encode(), token.encode()):
                match = participant
        return match

    def by_client(self, client_id: str, client_secret: str) -> Participant | None:
        """The OAuth2 participant with these client credentials (secret compared in constant time)."""
        for participant in self.participants:
            credential = participant.credential
            if isinstance(credential, OAuth2Credential) and credential.client_id == client_id:
                if hmac.compare_digest(self._secrets[participant.id].encode(), client_secret.encode()):
                    return participant
                return None
        return None


# --- inbound: authenticating a caller ---------------------------------------------------

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _instant(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class TokenIssuer:
    """Short-lived opaque access tokens for OAuth2 participants, kept only as SHA-256 hashes in
    the database, so every server process honours a token any of them issued."""

    def __init__(self, store: TrustStore, ttl_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def issue(self, participant: Participant) -> tuple[str, int]:
        """A new token for ``participant`` and its lifetime in seconds."""
        token = "dspt_" + secrets.token_urlsafe(32)
        self.store.add_token(_hash(token), participant.id, _instant(self._clock() + self.ttl_seconds))
        return token, int(self.ttl_seconds)

    def holder(self, token: str) -> str | None:
        """The participant id a live token was issued to, else None."""
        return self.store.token_holder(_hash(token), _instant(self._clock()))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` header: ``Bearer <token>`` or a bare token."""
    if not authorization or not authorization.strip():
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    if rest:
        return rest.strip() if scheme.lower() == "bearer" else None
    return scheme


def authenticate(registry: ParticipantRegistry, issuer: TokenIssuer,
                 authorization: str | None) -> Participant:
    """The participant an inbound DSP request comes from; :class:`Unauthorized` otherwise."""
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized("send Authorization: Bearer <token> with your participant's agreed credential")
    participant = registry.by_bearer_token(token)
    if participant is None:
        holder = issuer.holder(token)
        participant = registry.get(holder) if holder else None
    if participant is None:
        raise Unauthorized("unknown, expired or revoked participant token")
    return participant


def client_credentials_grant(registry: ParticipantRegistry, issuer: TokenIssuer,
                             form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
    """Answer an OAuth2 client-credentials token request (RFC 6749 §4.4, §5.1).

    Credentials come from HTTP Basic (``client_secret_basic``) or the form
    (``client_secret_post``). Raises :class:`TokenRequestRefused`.
    """
    grant = form.get("grant_type")
    if grant != "client_credentials":
        raise TokenRequestRefused("unsupported_grant_type" if grant else "invalid_request",
                                  f"grant_type must be client_credentials, got {grant!r}")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise TokenRequestRefused("invalid_client", "malformed Basic credentials") from exc
        user, _, password = decoded.partition(":")
        client_id, client_secret = urllib.parse.unquote(user), urllib.parse.unquote(password)
    if not client_id or not client_secret:
        raise TokenRequestRefused("invalid_request",
                                  "send client_id and client_secret (HTTP Basic or form fields)")
    participant = registry.by_client(client_id, client_secret)
    if participant is None:
        raise TokenRequestRefused("invalid_client", "unknown client or wrong secret")
    token, lifetime = issuer.issue(participant)
    return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}


# --- outbound: authenticating ourselves -------------------------------------------------

Fetch = Callable[[str, bytes, Mapping[str, str], float], tuple[int, bytes]]


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        # token_url is operator configuration, checked to be http(s) at start-up
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(64 * 1024)


#: The kind of :class:`connector.dsp.trust.TrustStore` secret holding a token a participant gave us.
OUTBOUND_TOKEN = "outbound-token"  # noqa: S105  (a kind name, not a token)


class OutboundCredentials:
    """The ``Authorization`` header to send to a participant. OAuth2 tokens are kept sealed in
    the database until shortly before they expire, shared by every process."""

    def __init__(self, registry: ParticipantRegistry, store: TrustStore, *, fetch: Fetch = _post,
                 timeout: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.store = store
        self._fetch = fetch
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()  # one token request at a time in this process

    def authorization(self, participant: Participant) -> str:
        """``Bearer <token>`` for ``participant``; ParticipantUnreachable when no token can be had."""
        credential = participant.credential
        if isinstance(credential, BearerCredential):
            return "Bearer " + self.registry.secret(participant)
        with self._lock:
            cached = self.store.get_secret(OUTBOUND_TOKEN, participant.id, _instant(self._clock()))
            if cached is not None:
                return "Bearer " + cached
            token, renew_at = self._request_token(participant, credential)
            self.store.put_secret(OUTBOUND_TOKEN, participant.id, token, _instant(renew_at))
            return "Bearer " + token

    def forget(self, participant: Participant) -> None:
        """Drop a kept token (after the participant refused it)."""
        self.store.drop_secret(OUTBOUND_TOKEN, participant.id)

    def _request_token(self, participant: Participant, credential: OAuth2Credential) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": credential.client_id,
                "client_secret": self.registry.secret(participant)}
        if credential.scope:
            form["scope"] = credential.scope
        body = urllib.parse.urlencode(form).encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        where = f"token endpoint of {participant.id!r} ({credential.token_url})"
        try:
            status, raw = self._fetch(credential.token_url, body, headers, self._timeout)
        except OSError as exc:
            raise ParticipantUnreachable(f"{where} failed: {exc}") from exc
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if status != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise ParticipantUnreachable(f"{where} answered {status}" + (f" ({error})" if error else ""))
        token, lifetime = answer.get("access_token"), answer.get("expires_in", 300)
        if not isinstance(token, str) or not token or str(answer.get("token_type", "")).lower() != "bearer":
            raise ParticipantUnreachable(f"{where} gave no bearer access_token")
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            raise ParticipantUnreachable(f"{where} gave an unusable expires_in {lifetime!r}")
        return token, self._clock() + max(float(lifetime) - RENEW_MARGIN_SECONDS, 1.0)


# --- callback addresses -----------------------------------------------------------------

def _origin(url: str) -> tuple[str, str, int, str]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower().rstrip("."), port, parts.path.rstrip("/")


def _belongs_to(url: str, participant: Participant) -> bool:
    """``url`` is on the participant's configured address (same origin, at or below its path)."""
    scheme, host, port, path = _origin(url)
    own_scheme, own_host, own_port, own_path = _origin(participant.address)
    return (scheme, host, port) == (own_scheme, own_host, own_port) and (
        path == own_path or path.startswith(own_path + "/"))


def check_callback_address(registry: ParticipantRegistry, url: Any, *, caller: Participant | None = None,
                           resolver: Resolver = system_resolver) -> str:
    """Accept a ``callbackAddress`` (returned unchanged) or raise :class:`CallbackRefused`.

    An http(s) URL whose host resolves only to public addresses is accepted. One that reaches
    a private, loopback, link-local or otherwise non-public address is accepted only when it
    lies on a configured participant's address (the caller's, when ``caller`` is given), so a
    peer cannot make us call into our own network.
    """
    if not isinstance(url, str):
        raise CallbackRefused("the callback address must be a URL string")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        raise CallbackRefused(f"the callback address is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("the callback address must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("the callback address must not carry credentials")
    owners = [caller] if caller is not None else list(registry.participants)
    if any(_belongs_to(url, owner) for owner in owners):
        return url
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = resolver(parts.hostname, port)
    except OSError as exc:
        raise CallbackRefused(f"the callback host {parts.hostname!r} does not resolve: {exc}") from exc
    if not addresses:
        raise CallbackRefused(f"the callback host {parts.hostname!r} has no addresses")
    for text in addresses:
        reason = refusal(ipaddress.ip_address(text.split("%", 1)[0]))
        if reason:
            raise CallbackRefused(f"the callback address {url!r} resolves to {text}, {reason}, and is not "
                                  "the address of a configured participant")
    return url
