"""Use cases of the catalog: register, revise, withdraw, read and search datasets.

Every function takes its unit of work and the calling :class:`Principal`; none imports Flask.
Documents arrive schema-valid (the caller validated them against ``dataset``). A distribution
that names a local file (a ``file://`` URL or an absolute path) must lie under the local source
roots of the dataset's owning organisation (``source_roots``, built by the composition root from
``SOURCE_ROOTS``); a caller that passes none (harvests, DSP mirrors) cannot register local files.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from connector.adapters.errors import SourceRefused
from connector.adapters.roots import SourceRoots
from connector.catalog import dcat
from connector.catalog.access import can_see
from connector.catalog.models import Dataset, DatasetState, DatasetVersion
from connector.catalog.search import SearchQuery, SearchResult
from connector.db import utcnow
from connector.errors import Conflict, Forbidden, NotFound, ValidationFailed
from connector.identity.models import Organisation
from connector.identity.principal import Principal
from connector.uow import UnitOfWork


@dataclass(frozen=True)
class DatasetView:
    """One version of a dataset, with the record's state, as callers see it."""

    id: str
    identifier: str
    version: int
    latest_version: int
    state: str
    organisation: str
    created: Any
    updated: Any
    document: dict[str, Any]


def view_of(dataset: Dataset, version: DatasetVersion) -> DatasetView:
    """The view of ``version`` of ``dataset`` (its organisation loaded or loadable)."""
    return DatasetView(
        id=dataset.id,
        identifier=dataset.identifier,
        version=version.version,
        latest_version=dataset.version,
        state=dataset.state,
        organisation=dataset.organisation.slug,
        created=dataset.created_at,
        updated=version.created_at,
        document=version.document,
    )


def owning_organisation(uow: UnitOfWork, principal: Principal, slug: str | None, *,
                        to: str = "register its datasets") -> Organisation:
    """The organisation a new object will belong to: ``slug``, or without it the one
    organisation ``principal`` stewards. Forbidden unless ``principal`` stewards it (the
    message says what only a steward may do: ``to``); NotFound for an unknown slug."""
    if slug is None:
        if len(principal.stewarded_org_ids) != 1:
            raise Forbidden("name the owning organisation in 'organisation'")
        org = uow.organisations.get(next(iter(principal.stewarded_org_ids)))
    else:
        org = uow.organisations.by_slug(slug)
        if org is None:
            raise NotFound(f"no organisation {slug!r}")
    if org is None or not principal.stewards(org.id):
        raise Forbidden(f"only a steward of the owning organisation may {to}")
    return org


def _visible(uow: UnitOfWork, principal: Principal, dataset_id: str) -> Dataset:
    dataset = uow.datasets.get(dataset_id)
    if dataset is None or not can_see(principal, dataset):
        raise NotFound(f"no dataset {dataset_id!r}")
    return dataset


def _require_steward(principal: Principal, dataset: Dataset) -> None:
    if not principal.stewards(dataset.organisation_id):
        raise Forbidden("only a steward of the owning organisation may change this dataset")


def _is_local(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return scheme == "file" or (scheme == "" and url.startswith("/"))


def check_local_sources(document: dict[str, Any], organisation: str,
                        roots: SourceRoots | None) -> None:
    """ValidationFailed listing each distribution URL naming a local file outside the roots of
    ``organisation`` (the dataset's owner); staging checks again before reading."""
    errors = []
    for index, distribution in enumerate(document.get("distribution") or []):
        for key in ("accessURL", "downloadURL"):
            url = distribution.get(key)
            if isinstance(url, str) and _is_local(url):
                try:
                    (roots or SourceRoots()).check(url, organisation)
                except SourceRefused as exc:
                    errors.append({"path": f"$.distribution[{index}].{key}", "message": exc.detail})
    if errors:
        raise ValidationFailed(errors)


def _store_version(
    uow: UnitOfWork, principal: Principal, dataset: Dataset, document: dict[str, Any]
) -> DatasetVersion:
    version = DatasetVersion(
        dataset_pk=dataset.pk,
        version=dataset.version,
        document=document,
        content_hash=dcat.content_hash(document),
        created_by=principal.name,
        created_at=dataset.updated_at,
    )
    uow.datasets.add_version(version)
    uow.datasets.replace_index(
        dataset.pk, dcat.facet_values(document, dataset.organisation.slug), dcat.search_text(document)
    )
    return version


def _new_dataset_fields(document: dict[str, Any], org: Organisation, now: Any) -> dict[str, Any]:
    """The columns of a new dataset record (version 1) holding ``document``."""
    return {
        "id": str(uuid.uuid4()),
        "identifier": document["identifier"],
        "organisation_id": org.id,
        "state": DatasetState.ACTIVE,
        "version": 1,
        "access_rights": document["accessRights"],
        "title": dcat.preferred_text(document["title"]).casefold()[:500],
        "created_at": now,
        "updated_at": now,
    }


def register_dataset(uow: UnitOfWork, principal: Principal, body: dict[str, Any], *,
                     source_roots: SourceRoots | None = None) -> DatasetView:
    """Register a new dataset as version 1.

    Raises Forbidden (not a steward of the owner), NotFound (unknown organisation),
    ValidationFailed (a local file outside the owner's roots) and Conflict (the identifier
    is taken).
    """
    with uow:
        org = owning_organisation(uow, principal, body.get("organisation"))
        document = dcat.normalise(body)
        check_local_sources(document, org.slug, source_roots)
        document.setdefault("identifier", str(uuid.uuid4()))
        if uow.datasets.get_by_identifier(document["identifier"]) is not None:
            raise Conflict(f"a dataset with identifier {document['identifier']!r} exists already")
        dataset = Dataset(**_new_dataset_fields(document, org, utcnow()), organisation=org)
        uow.datasets.add(dataset)
        version = _store_version(uow, principal, dataset, document)
        uow.audit.record(principal, "dataset.register", "dataset", dataset.id,
                     after_version=1)
        uow.commit()
        return view_of(dataset, version)


def register_datasets(
    uow: UnitOfWork, principal: Principal, organisation: Organisation, bodies: Sequence[dict[str, Any]],
    *, source_roots: SourceRoots | None = None,
) -> list[DatasetView]:
    """Register many new datasets of ``organisation`` as version 1 with one insert per table:
    the same datasets, versions, facet rows, full-text entries and audit events as
    :func:`register_dataset` called per body, in the order given (for harvest chunks).

    All or nothing: Forbidden (not a steward of ``organisation``), ValidationFailed (a local
    file outside its roots), Conflict (a body names
    another organisation, or an identifier is taken or given twice) before anything is written;
    a database error (a concurrent writer took an identifier) propagates and the caller's
    transaction or savepoint is to be rolled back.
    """
    if not principal.stewards(organisation.id):
        raise Forbidden("only a steward of the owning organisation may register its datasets")
    with uow:
        documents = []
        for body in bodies:
            if body.get("organisation") not in (None, organisation.slug):
                raise Conflict(f"a body names organisation {body['organisation']!r}, "
                               f"not {organisation.slug!r}")
            document = dcat.normalise(body)
            check_local_sources(document, organisation.slug, source_roots)
            document.setdefault("identifier", str(uuid.uuid4()))
            documents.append(document)
        identifiers = [d["identifier"] for d in documents]
        if len(set(identifiers)) != len(identifiers):
            raise Conflict("an identifier is given twice in one batch")
        taken = uow.datasets.ids_by_identifier(identifiers)
        if taken:
            identifier = next(iter(sorted(taken)))
            raise Conflict(f"a dataset with identifier {identifier!r} exists already")
        now = utcnow()
        rows = [_new_dataset_fields(document, organisation, now) for document in documents]
        pk_of = uow.datasets.insert_many(rows)
        pks = [pk_of[row["id"]] for row in rows]
        uow.datasets.insert_versions([
            {"dataset_pk": pk, "version": 1, "document": document,
             "content_hash": dcat.content_hash(document), "created_by": principal.name, "created_at": now}
            for pk, document in zip(pks, documents, strict=True)])
        uow.datasets.index_new(
            (pk, dcat.facet_values(document, organisation.slug), dcat.search_text(document))
            for pk, document in zip(pks, documents, strict=True))
        uow.audit.record_many(principal, "dataset.register", "dataset",
                          [row["id"] for row in rows], after_version=1)
        uow.commit()
        return [DatasetView(id=row["id"], identifier=row["identifier"], version=1, latest_version=1,
                            state=row["state"], organisation=organisation.slug, created=now, updated=now,
                            document=document)
                for row, document in zip(rows, documents, strict=True)]


def update_dataset(
    uow: UnitOfWork, principal: Principal, dataset_id: str, body: dict[str, Any], *,
    source_roots: SourceRoots | None = None,
) -> tuple[DatasetView, bool]:
    """Store ``body`` as the next version; returns the view and whether a version was made.

    An identical document makes no new version. The identifier and the owner cannot change;
    a withdrawn dataset cannot be revised.
    """
    with uow:
        dataset = _visible(uow, principal, dataset_id)
        _require_steward(principal, dataset)
        if dataset.state == DatasetState.WITHDRAWN:
            raise Conflict("the dataset is withdrawn; register a new one instead")
        if body.get("organisation") not in (None, dataset.organisation.slug):
            raise Conflict("the owning organisation of a dataset cannot change")
        document = dcat.normalise(body)
        check_local_sources(document, dataset.organisation.slug, source_roots)
        document.setdefault("identifier", dataset.identifier)
        if document["identifier"] != dataset.identifier:
            raise Conflict(f"the identifier is {dataset.identifier!r} and cannot change")
        current = uow.datasets.version(dataset, dataset.version)
        assert current is not None
        if current.content_hash == dcat.content_hash(document):
            return view_of(dataset, current), False
        before = dataset.version
        dataset.version = before + 1
        dataset.updated_at = utcnow()
        dataset.access_rights = document["accessRights"]
        dataset.title = dcat.preferred_text(document["title"]).casefold()[:500]
        version = _store_version(uow, principal, dataset, document)
        uow.audit.record(principal, "dataset.update", "dataset", dataset.id,
                     before_version=before, after_version=dataset.version)
        uow.commit()
        return view_of(dataset, version), True


def withdraw_dataset(uow: UnitOfWork, principal: Principal, dataset_id: str) -> DatasetView:
    """Withdraw a dataset: it leaves search; its versions stay readable. Idempotent."""
    with uow:
        dataset = _visible(uow, principal, dataset_id)
        _require_steward(principal, dataset)
        if dataset.state != DatasetState.WITHDRAWN:
            dataset.state = DatasetState.WITHDRAWN
            dataset.updated_at = utcnow()
            uow.datasets.remove_from_index(dataset.pk)
            uow.audit.record(principal, "dataset.withdraw", "dataset", dataset.id,
                         before_version=dataset.version, after_version=dataset.version)
        current = uow.datasets.version(dataset, dataset.version)
        assert current is not None
        uow.commit()
        return view_of(dataset, current)


def get_dataset(
    uow: UnitOfWork, principal: Principal, dataset_id: str, version: int | None = None
) -> DatasetView:
    """The current version of a dataset, or version ``version``."""
    with uow:
        dataset = _visible(uow, principal, dataset_id)
        row = uow.datasets.version(dataset, dataset.version if version is None else version)
        if row is None:
            raise NotFound(f"dataset {dataset_id!r} has no version {version}")
        return view_of(dataset, row)


def list_versions(uow: UnitOfWork, principal: Principal, dataset_id: str) -> list[DatasetVersion]:
    """Every version of a dataset, oldest first."""
    with uow:
        return uow.datasets.versions(_visible(uow, principal, dataset_id))


def search_datasets(
    uow: UnitOfWork, principal: Principal, query: SearchQuery
) -> tuple[SearchResult, list[DatasetView]]:
    """Search the active datasets ``principal`` may see; facet counts cover every match."""
    with uow:
        result = uow.datasets.search(principal, query)
        versions = uow.datasets.current_versions(result.datasets)
        return result, [view_of(d, versions[d.pk]) for d in result.datasets]


def reindex(uow: UnitOfWork) -> int:
    """Rebuild the facet rows and the full-text entries of every active dataset from its
    current version (after an upgrade that changes what is indexed). Returns the count."""
    with uow:
        done = uow.datasets.reindex()
        uow.commit()
        return done


def reindex_session(session: Session, batch: int = 1000) -> int:
    """:func:`reindex` inside a caller's transaction (migrations use it too: it reads and
    writes named columns only, so it runs on the schema of any revision since 0003)."""
    from connector.catalog.repository import DatasetRepository

    return DatasetRepository(session).reindex(batch=batch)
