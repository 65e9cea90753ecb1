"""Transfer-process messages (Dataspace Protocol 2025-1): pure builders and the data address.

Nothing here reads the database or the network. A pull transfer's ``TransferStartMessage``
carries a ``DataAddress`` of endpoint type ``https://w3id.org/idsa/v4.1/HTTP`` whose
``endpointProperties`` hold the bearer token (``authorization``) and ``authType`` ``bearer``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.dsp import CONTEXT

HTTP_ENDPOINT_TYPE = "https://w3id.org/idsa/v4.1/HTTP"
PULL_FORMAT = "HttpData-PULL"
PUSH_FORMAT = "AmazonS3-PUSH"
#: Formats a provider of ours accepts and its catalog announces.
FORMATS = frozenset({PULL_FORMAT, PUSH_FORMAT})


def _message(message_type: str, **fields: Any) -> dict[str, Any]:
    return {"@context": [CONTEXT], "@type": message_type,
            **{key: value for key, value in fields.items() if value is not None}}


def ack(provider_pid: str, consumer_pid: str, state: str) -> dict[str, Any]:
    """The ``TransferProcess`` answer: where the transfer stands."""
    return _message("TransferProcess", providerPid=provider_pid, consumerPid=consumer_pid, state=state)


def error(provider_pid: str, consumer_pid: str, code: str, reasons: Iterable[str]) -> dict[str, Any]:
    return _message("TransferError", providerPid=provider_pid, consumerPid=consumer_pid, code=code,
                    reason=list(reasons))


def request(consumer_pid: str, agreement_id: str, callback_address: str,
            fmt: str = PULL_FORMAT, address: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``TransferRequestMessage``; ``address`` is the consumer's data address of a push."""
    return _message("TransferRequestMessage", consumerPid=consumer_pid, agreementId=agreement_id,
                    format=fmt, callbackAddress=callback_address,
                    dataAddress=dict(address) if address is not None else None)


def data_address(endpoint: str, token: str) -> dict[str, Any]:
    """An HTTP data address whose bearer token is ``token``."""
    return {"@type": "DataAddress", "endpointType": HTTP_ENDPOINT_TYPE, "endpoint": endpoint,
            "endpointProperties": [
                {"@type": "EndpointProperty", "name": "authorization", "value": token},
                {"@type": "EndpointProperty", "name": "authType", "value": "bearer"}]}


def start(provider_pid: str, consumer_pid: str, address: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return _message("TransferStartMessage", providerPid=provider_pid, consumerPid=consumer_pid,
                    dataAddress=dict(address) if address is not None else None)


def completion(provider_pid: str, consumer_pid: str) -> dict[str, Any]:
    return _message("TransferCompletionMessage", providerPid=provider_pid, consumerPid=consumer_pid)


def suspension(provider_pid: str, consumer_pid: str, code: str, reasons: Iterable[str]) -> dict[str, Any]:
    return _message("TransferSuspensionMessage", providerPid=provider_pid, consumerPid=consumer_pid,
                    code=code, reason=list(reasons))


def termination(provider_pid: str, consumer_pid: str, code: str, reasons: Iterable[str]) -> dict[str, Any]:
    return _message("TransferTerminationMessage", providerPid=provider_pid, consumerPid=consumer_pid,
                    code=code, reason=list(reasons))


@dataclass(frozen=True)
class HttpAddress:
    """What a consumer needs from an HTTP data address: where, and the bearer token."""

    endpoint: str
    token: str


def read_data_address(address: Any) -> HttpAddress:
    """The endpoint and bearer token of a pull data address; ValueError saying what is missing."""
    if not isinstance(address, Mapping):
        raise ValueError("the TransferStartMessage of a pull transfer must carry a dataAddress")
    if address.get("endpointType") != HTTP_ENDPOINT_TYPE:
        raise ValueError(f"endpointType {address.get('endpointType')!r} is not {HTTP_ENDPOINT_TYPE}")
    properties = {item.get("name"): item.get("value") for item in address.get("endpointProperties") or []
                  if isinstance(item, Mapping)}
    endpoint, token = address.get("endpoint"), properties.get("authorization")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise ValueError("the data address has no http(s) endpoint")
    if not isinstance(token, str) or not token:
        raise ValueError("the data address has no authorization property")
    if str(properties.get("authType", "bearer")).lower() != "bearer":
        raise ValueError(f"authType {properties.get('authType')!r} is not supported (bearer only)")
    return HttpAddress(endpoint, token)
