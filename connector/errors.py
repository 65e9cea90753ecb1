"""Errors that know their HTTP status, rendered as RFC 9457 problem details.

Services raise these; the Flask layer turns every one of them into an
``application/problem+json`` body of one shape (``schemas/problem.schema.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PROBLEM_TYPE_BASE = "https://connector.example/problems/"


class ConnectorError(Exception):
    """Base of every error the service reports to a caller."""

    status = 500
    code = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = {k: v for k, v in extensions.items() if v is not None}

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extensions)
        return body


class BadRequest(ConnectorError):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(ConnectorError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(ConnectorError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(ConnectorError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(ConnectorError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ConnectorError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(ConnectorError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(ConnectorError):
    """A body or argument broke its schema; ``errors`` lists every problem with its JSON path."""

    status, code, title = 422, "validation-failed", "Validation failed"

    def __init__(self, errors: Sequence[dict[str, str]], detail: str | None = None) -> None:
        errors = list(errors)
        summary = detail or f"{len(errors)} validation error(s): " + "; ".join(
            f"{e['path']}: {e['message']}" for e in errors[:3]
        )
        super().__init__(summary, errors=errors)
        self.errors = errors


class PolicyDenied(ConnectorError):
    status, code, title = 403, "policy-denied", "Usage policy denies the request"


class SourceError(ConnectorError):
    status, code, title = 502, "source-error", "Data source failed"
    transient = False  # subclasses say whether a retry may succeed


class StorageError(ConnectorError):
    status, code, title = 503, "storage-error", "Storage tier unavailable"
