"""Arguments the management views of negotiations and transfers (``/api/v1``) and the TCK's
trigger endpoints read alike."""

from __future__ import annotations

from flask import current_app, request

from connector.errors import BadRequest, NotFound, ValidationFailed
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


def trigger_body(*fields: str) -> dict[str, str]:
    """The JSON object the Dataspace TCK posts to a trigger endpoint: each of ``fields`` a
    non-empty string (other members are ignored, as the TCK may add some). Answers 404 unless
    ``DSP_TRIGGERS`` is on."""
    if not current_app.config.get("DSP_TRIGGERS"):
        raise NotFound("the TCK trigger endpoints are off (DSP_TRIGGERS)")
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed([{"path": "$", "message": "expected an object"}])
    errors = [{"path": f"$.{name}", "message": "required: a non-empty string"} for name in fields
              if not isinstance(body.get(name), str) or not body[name]]
    if errors:
        raise ValidationFailed(errors)
    return {name: body[name] for name in fields}
