"""Errors raised while staging or reading staged data; each knows its HTTP status."""

from __future__ import annotations

from connector.errors import Conflict, ConnectorError, StorageError

# What a reader of a published version raises lives with the manifest's reading side.
from connector.manifest_read import IntegrityError, ManifestExpired, ManifestInvalid, ManifestMissing


class StagingError(ConnectorError):
    """Staging cannot go on with this input; retrying will not help."""

    status, code, title = 422, "staging-failed", "Staging failed"


class DutyError(StagingError):
    """A duty cannot be applied to the data, e.g. it names a column the data does not have."""

    status, code, title = 422, "duty-not-applicable", "Duty cannot be applied"


class SchemaMismatch(StagingError):
    """A record batch does not fit the schema fixed by the first batch."""

    status, code, title = 422, "schema-mismatch", "Record batch does not match the schema"


class QuotaExceeded(StagingError):
    """Writing more would exceed the project's storage quota."""

    status, code, title = 507, "quota-exceeded", "Storage quota exceeded"


class VersionExists(Conflict):
    """The version is already published; published versions are never replaced."""

    code, title = "version-exists", "Version already published"


class PublishError(StorageError):
    """The storage tier refused the publish step (e.g. a rename across file systems)."""

    code, title = "publish-failed", "Publish failed"


__all__ = ["DutyError", "IntegrityError", "ManifestExpired", "ManifestInvalid", "ManifestMissing",
           "PublishError", "QuotaExceeded", "SchemaMismatch", "StagingError", "VersionExists"]
