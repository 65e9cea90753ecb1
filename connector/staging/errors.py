"""Errors raised while staging or reading staged data; each knows its HTTP status."""

from __future__ import annotations

from connector.errors import Conflict, ConnectorError, NotFound, StorageError


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


class ManifestMissing(NotFound):
    """No ``_manifest.json``: the version is not published (or is being removed)."""

    code, title = "manifest-missing", "No manifest: version not published"


class ManifestInvalid(ConnectorError):
    """``_manifest.json`` exists but is not a manifest this code can trust."""

    status, code, title = 422, "manifest-invalid", "Manifest is not valid"


class ManifestExpired(ConnectorError):
    """The agreement behind the staged version has expired; the data must not be used."""

    status, code, title = 410, "manifest-expired", "Staged data has expired"


class IntegrityError(ConnectorError):
    """A file listed in the manifest is missing, has another size or another sha256."""

    status, code, title = 409, "integrity-error", "Staged data does not match its manifest"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""),
                         problems=problems)
        self.problems = problems
