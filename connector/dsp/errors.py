"""Errors of the DSP endpoints, and their rendering as protocol error messages.

The HTTPS binding of the Dataspace Protocol wants ``application/json`` error messages of the
sub-protocol (``CatalogError``, ...) with ``code`` and ``reason[]``, not RFC 9457 problems; the
``code`` is our problem code and ``reason`` starts with the problem's detail.
"""

from __future__ import annotations

from typing import Any

from connector.dsp.messages import InvalidMessage
from connector.errors import BadRequest, ConnectorError


class MessageRejected(BadRequest):
    """A message that breaks its official schema or has an unknown or unexpected ``@type``."""

    code, title = "invalid-message", "Invalid protocol message"

    def __init__(self, invalid: InvalidMessage) -> None:
        super().__init__(invalid.reason, errors=invalid.errors or None, messageType=invalid.message_type)
        self.errors = invalid.errors


class FilterUnsupported(BadRequest):
    code, title = "filter-unsupported", "Catalog filters are not supported"


def reasons(error: ConnectorError) -> list[str]:
    """The detail, then each listed error as ``path: message``."""
    listed: list[Any] = error.extensions.get("errors") or []
    return [error.detail, *(f"{item['path']}: {item['message']}" for item in listed
                            if isinstance(item, dict) and "path" in item)]


class NegotiationRefused(BadRequest):
    """A message the negotiation's state or our rules do not allow (ContractNegotiationError)."""

    code, title = "negotiation-refused", "Contract negotiation message refused"


class TransferRefused(BadRequest):
    """A message the transfer's state or our rules do not allow (TransferError)."""

    code, title = "transfer-refused", "Transfer message refused"
