"""Arguments the management views of negotiations and transfers (``/api/v1``) read alike."""

from __future__ import annotations

from flask import request

from connector.errors import BadRequest, ValidationFailed
from connector.http import json_body


def role_arg() -> str | None:
    """The ``role`` filter of a listing: ``provider``, ``consumer`` or none."""
    role = request.args.get("role")
    if role not in (None, "provider", "consumer"):
        raise ValidationFailed([{"path": "$.role", "message": "role must be provider or consumer"}])
    return role


def reason_arg() -> str | None:
    """The optional ``reason`` of a JSON object body (or no body at all)."""
    body = json_body() if request.content_length else {}
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object, or no body")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or not reason.strip()):
        raise ValidationFailed([{"path": "$.reason", "message": "a non-empty string"}])
    return reason
