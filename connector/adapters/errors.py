"""Errors of source adapters: every one is a :class:`connector.errors.SourceError`.

``transient`` tells a job runner whether a retry may help: timeouts, 5xx answers and
dropped connections are transient; a missing object, bad data, a refused address or a
limit that was hit are terminal and fail the same way on every try.
"""

from __future__ import annotations

from typing import Any

from connector.errors import SourceError, ValidationFailed


class TransientSourceError(SourceError):
    """The source failed in a way that a later retry may not see (timeout, 5xx, reset)."""

    code, title = "source-unavailable", "Data source temporarily unavailable"
    transient = True

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extensions)
        self.retry_after = retry_after


class SourceTimeout(TransientSourceError):
    """A connect/read timeout or the overall deadline ran out."""

    code, title = "source-timeout", "Data source timed out"


class TerminalSourceError(SourceError):
    """The source failed in a way that every retry would repeat."""

    code, title = "source-failed", "Data source failed"
    transient = False


class SourceNotFound(TerminalSourceError):
    code, title = "source-not-found", "Data source not found"


class SourceRefused(TerminalSourceError):
    """The safety rules refuse the source: address, scheme, path or archive member."""

    status, code, title = 403, "source-refused", "Data source refused by the safety rules"


class SourceTooLarge(TerminalSourceError):
    """The maximum byte count or the decompression ratio limit was exceeded."""

    code, title = "source-too-large", "Data source exceeds a limit"


class SourceFormatError(TerminalSourceError):
    """The bytes are not the declared or inferred format, encoding or schema."""

    code, title = "source-format", "Data source cannot be read"


class SchemaMismatch(SourceFormatError):
    """A column does not fit the fixed or unified schema; names the column and the types."""

    code, title = "source-schema-mismatch", "Data source schema does not fit"


class UnsupportedSource(TerminalSourceError):
    """No adapter, format or compression for this source."""

    status, code, title = 422, "unsupported-source", "Data source not supported"


class AdapterUnavailable(TerminalSourceError, ImportError):
    """The adapter's optional dependency is not installed; the message says what to install."""

    status, code, title = 500, "adapter-unavailable", "Source adapter not installed"


class InvalidSourceSpec(ValidationFailed):
    """A :class:`~connector.adapters.base.SourceSpec` field has a bad value (422, lists every one)."""

    code = "invalid-source-spec"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors)
