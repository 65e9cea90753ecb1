"""Push transfers to S3 (``AmazonS3-PUSH``): the consumer's data address, its admission, the copy,
and the keeping of its credentials.

The consumer names an S3 (or S3-compatible) bucket in its ``TransferRequestMessage``: a DSP
``DataAddress`` of ``endpointType`` ``AmazonS3`` (EDC's name) whose ``endpointProperties`` are
EDC's AmazonS3 keys: ``bucketName`` (required), ``objectPrefix``, ``region``,
``endpointOverride`` (an S3-compatible store; the address's ``endpoint`` is read the same way),
``accessKeyId`` and ``secretAccessKey`` (together) and ``sessionToken``.

Credentials never reach a log nor rest in clear: :class:`SecretStore` keeps them sealed
(``SECRETS_KEY``) in the database, keyed by the transfer's process id, until the push
(provider) or the request (consumer) is done, at most :data:`PUSH_ADDRESS_TTL`; the transfer
rows and outbox messages carry ``(withheld)`` instead. Any process may pick the push up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connector.adapters.errors import SourceError
from connector.adapters.safety import Allowlist, check_url

if TYPE_CHECKING:
    from connector.dsp.trust import TrustStore

PUSH_FORMAT = "AmazonS3-PUSH"
S3_ENDPOINT_TYPE = "AmazonS3"
WITHHELD = "(withheld)"
SECRET_PROPERTIES = frozenset({"accessKeyId", "secretAccessKey", "sessionToken"})
_KNOWN = frozenset({"bucketName", "objectPrefix", "region", "endpointOverride"}) | SECRET_PROPERTIES
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Address:
    """Where a push goes. The credentials are left out of ``repr`` (and so out of logs)."""

    endpoint: str
    bucket: str
    prefix: str = ""
    region: str = DEFAULT_REGION
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    def key(self, name: str) -> str:
        """The bucket path of file ``name`` under the prefix."""
        prefix = self.prefix.strip("/")
        return posixpath.join(self.bucket, prefix, name) if prefix else posixpath.join(self.bucket, name)

    def describe(self) -> str:
        """Where the data goes, without credentials: ``<endpoint> s3://<bucket>/<prefix>``."""
        return f"{self.endpoint} s3://{self.key('')}"

    def secrets(self) -> tuple[str, ...]:
        return tuple(value for value in (self.access_key, self.secret_key, self.session_token) if value)

    def scrub(self, text: str) -> str:
        """``text`` with every credential of this address replaced by ``(withheld)``."""
        for value in self.secrets():
            text = text.replace(value, WITHHELD)
        return text

    def filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(key=self.access_key, secret=self.secret_key, token=self.session_token,
                                 anon=not self.access_key, endpoint_url=self.endpoint,
                                 client_kwargs={"region_name": self.region}, skip_instance_cache=True)


def read_s3_address(address: Any) -> S3Address:
    """The S3 address of a push request; ValueError saying what is wrong."""
    if not isinstance(address, Mapping):
        raise ValueError(f"a {PUSH_FORMAT} request must carry a dataAddress")
    if address.get("endpointType") != S3_ENDPOINT_TYPE:
        raise ValueError(f"endpointType {address.get('endpointType')!r} is not {S3_ENDPOINT_TYPE!r}")
    properties: dict[str, str] = {}
    for item in address.get("endpointProperties") or []:
        name = item.get("name") if isinstance(item, Mapping) else None
        if name not in _KNOWN:
            raise ValueError(f"unknown endpointProperty {name!r}; known: {', '.join(sorted(_KNOWN))}")
        if not isinstance(item.get("value"), str):
            raise ValueError(f"endpointProperty {name!r} needs a string value")
        properties[name] = item["value"]
    bucket = properties.get("bucketName", "")
    if not bucket or "/" in bucket:
        raise ValueError("bucketName is required and holds no '/'")
    region = properties.get("region") or DEFAULT_REGION
    endpoint = properties.get("endpointOverride") or address.get("endpoint") \
        or f"https://s3.{region}.amazonaws.com"
    if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https") \
            or not urlsplit(endpoint).hostname:
        raise ValueError(f"the S3 endpoint {endpoint!r} is not an http(s) URL")
    if ("accessKeyId" in properties) != ("secretAccessKey" in properties):
        raise ValueError("accessKeyId and secretAccessKey go together")
    prefix = properties.get("objectPrefix", "")
    if ".." in prefix.split("/"):
        raise ValueError("objectPrefix may not hold '..'")
    return S3Address(endpoint.rstrip("/"), bucket, prefix, region, properties.get("accessKeyId"),
                     properties.get("secretAccessKey"), properties.get("sessionToken"))


def document(address: S3Address, *, withhold: bool = True) -> dict[str, Any]:
    """The ``DataAddress`` of ``address``; its credentials ``(withheld)`` unless ``withhold`` is off."""
    values = [("bucketName", address.bucket), ("region", address.region),
              ("endpointOverride", address.endpoint)]
    if address.prefix:
        values.append(("objectPrefix", address.prefix))
    for name, secret in (("accessKeyId", address.access_key), ("secretAccessKey", address.secret_key),
                         ("sessionToken", address.session_token)):
        if secret:
            values.append((name, WITHHELD if withhold else secret))
    return {"@type": "DataAddress", "endpointType": S3_ENDPOINT_TYPE, "endpoint": address.endpoint,
            "endpointProperties": [{"@type": "EndpointProperty", "name": name, "value": value}
                                   for name, value in values]}


def with_secrets(address: Mapping[str, Any], s3: S3Address) -> dict[str, Any]:
    """A withheld ``address`` with the credentials of ``s3`` put back (just before sending)."""
    values = {"accessKeyId": s3.access_key, "secretAccessKey": s3.secret_key,
              "sessionToken": s3.session_token}
    return {**address, "endpointProperties": [
        {**item, "value": values.get(item["name"]) or item["value"]} if item.get("name") in values
        else dict(item) for item in address.get("endpointProperties") or []]}


def admit_endpoint(address: S3Address, participant_address: str, allowlist: Iterable[str]) -> None:
    """The SSRF rule of pushes: the S3 endpoint's host is the host of the requesting
    participant's configured address, or it passes the staging source rules (public, or on the
    operator allow-list ``SOURCE_ALLOWLIST``). ValueError naming the rule otherwise."""
    host = (urlsplit(address.endpoint).hostname or "").lower()
    if host and host == (urlsplit(participant_address).hostname or "").lower():
        return
    try:
        check_url(address.endpoint, Allowlist.of(list(allowlist)))
    except SourceError as exc:
        raise ValueError(f"the S3 endpoint is not admitted: {exc.detail}; it must lie on the participant's "
                         f"host or be public or on the operator allow-list") from exc


def copy_files(source_fs: Any, source_dir: str, names: Iterable[str], address: S3Address, *,
               chunk_size: int = 8 << 20, before_each: Callable[[str], None] | None = None) -> None:
    """Copy ``names`` from ``source_dir`` to the bucket, in order (the manifest last, so readers
    trusting it see only complete parts); ``before_each(name)`` runs before each file (the
    caller renews its lease there). Errors come back with the credentials scrubbed."""
    try:
        target = address.filesystem()
        for name in names:
            if before_each is not None:
                before_each(name)
            with source_fs.open(posixpath.join(source_dir, name), "rb") as src, \
                    target.open(address.key(name), "wb") as dst:
                while chunk := src.read(chunk_size):
                    dst.write(chunk)
    except Exception as exc:  # noqa: BLE001  (any failure of the remote store ends the push)
        raise PushFailed(address.scrub(f"{type(exc).__name__}: {exc}")) from None


class PushFailed(Exception):
    """The copy to the consumer's bucket failed (message free of credentials)."""


#: The kind of :class:`connector.dsp.trust.TrustStore` secret holding a push address.
PUSH_ADDRESS = "push-address"
#: How long a push address is kept at most: the push (or the request, on the consumer side)
#: normally ends much sooner and drops it; a transfer still waiting after this ends with
#: ``push-credentials-lost``.
PUSH_ADDRESS_TTL = dt.timedelta(days=7)


class SecretStore:
    """Push addresses with their credentials, sealed in the database (so the worker that pushes
    need not be the process that received the request), keyed by our process id."""

    def __init__(self, store: TrustStore, *, ttl: dt.timedelta = PUSH_ADDRESS_TTL,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.store = store
        self.ttl = ttl
        self._clock = clock

    def put(self, pid: str, address: S3Address) -> None:
        self.store.put_secret(PUSH_ADDRESS, pid, json.dumps(dataclasses.asdict(address)),
                              self._clock() + self.ttl)

    def get(self, pid: str) -> S3Address | None:
        """The address kept for ``pid``, unless expired or dropped; SecretsKeyMismatch when it
        was sealed under another ``SECRETS_KEY``."""
        kept = self.store.get_secret(PUSH_ADDRESS, pid, self._clock())
        return None if kept is None else S3Address(**json.loads(kept))

    def drop(self, pid: str, *, session: Any = None) -> None:
        """Forget the address of ``pid`` (in ``session``'s transaction when given)."""
        self.store.drop_secret(PUSH_ADDRESS, pid, session=session)

    def __repr__(self) -> str:
        return "SecretStore(sealed in the database)"
