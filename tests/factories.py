"""Factories: one call for each set-up the tests repeat, through the real service layer.

``Factories(app)`` (the ``make`` fixture) registers datasets, attaches offers, files and approves
access requests, queues and runs staging jobs and adds harvest sources as the API, the CLI and the
worker do: the same service functions, each in its own unit of work, acting in the name of the
users of the ``actors`` fixture. Tests whose behaviour under test is HTTP keep calling HTTP;
``register_over_http`` is the one HTTP factory, for the tests that register datasets by the API.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from connector.catalog import service as catalog
from connector.catalog.harvest import sources as harvest_sources
from connector.catalog.service import DatasetView
from connector.db import utcnow
from connector.identity import service as identity
from connector.identity.principal import OPERATOR, Principal
from connector.policies import service as policies
from connector.policies.models import Agreement, Offer, RequestState
from connector.staging import jobs, runner
from connector.staging.models import JobState, StagingJob
from connector.uow import UnitOfWork
from tests.conftest import Actors, ProblemCheckingClient, dataset_body

PERMIT = "HDAB-DE-2026-0042"
HEALTH_OFFER: dict[str, Any] = {"template": "health-secondary-use", "parameters": {
    "permit_ids": [PERMIT], "projects": ["cardio"], "processing_location": "ai-factory",
    "identifying_columns": ["patient_id"], "retention_days": 90}}
"""The health template for project ``cardio``: agreed at once when the request carries
:data:`PERMIT`, pending a steward otherwise; pseudonymises ``patient_id``."""


class Factories:
    """Set-ups in one call each, against the database and settings of ``app``."""

    def __init__(self, app: Flask) -> None:
        ext = app.extensions["connector"]
        self.uow = UnitOfWork(ext.session_factory)
        self.schemas = ext.schemas
        self.staging = ext.staging
        self.site = policies.Site(location=app.config["SITE_LOCATION"], region=app.config["SITE_REGION"])

    def principal(self, name: str) -> Principal:
        return identity.principal_named(self.uow, name)

    # --- catalog and offers ---------------------------------------------------------------

    def dataset(self, *, steward: str = "steward", source: str | None = None,
                **fields: Any) -> DatasetView:
        """A registered dataset (``dataset_body`` with ``fields``); ``source`` makes its only
        distribution a CSV at that URL."""
        if source is not None:
            fields["distribution"] = [{"accessURL": source, "format": "CSV"}]
        return catalog.register_dataset(self.uow, self.principal(steward), dataset_body(**fields),
                                        source_roots=self.staging.source_roots)

    def offer(self, dataset_id: str, body: dict[str, Any] | None = None, *,
              steward: str = "steward") -> Offer:
        """An offer attached to the dataset (the health template unless ``body`` is given)."""
        offer, _ = policies.attach_offer(self.uow, self.principal(steward), dataset_id,
                                         body or HEALTH_OFFER, self.schemas)
        return offer

    def dataset_with_offer(self, offer: dict[str, Any] | None = None, *, steward: str = "steward",
                           **fields: Any) -> tuple[DatasetView, Offer]:
        """A RESTRICTED dataset (unless ``fields`` say otherwise) with one offer attached."""
        fields.setdefault("accessRights", "RESTRICTED")
        dataset = self.dataset(steward=steward, **fields)
        return dataset, self.offer(dataset.id, offer, steward=steward)

    # --- agreements -----------------------------------------------------------------------

    def agreement(self, *, source: str | None = None, offer: dict[str, Any] | None = None,
                  member: str = "member", approver: str = "steward",
                  request: dict[str, Any] | None = None) -> Agreement:
        """An active agreement for project ``cardio`` on a new dataset with an offer, as the
        policies service makes it: the member's request, then the steward's approval if the
        policy asks for one. ``request`` replaces fields of the request body."""
        dataset, attached = self.dataset_with_offer(offer, source=source)
        body = {"dataset": dataset.id, "offer": attached.id, "project": "cardio",
                "purpose": "scientificResearch", "duration": "P30D",
                "attributes": {"dataPermit": PERMIT}, **(request or {})}
        filed, agreement = policies.request_access(self.uow, self.principal(member), body,
                                                   site=self.site, now=utcnow())
        if filed.state == RequestState.PENDING_APPROVAL:
            _, agreement = policies.approve_request(self.uow, self.principal(approver), filed.id,
                                                    None, site=self.site, now=utcnow())
        assert agreement is not None, filed.decision["reasons"]
        return agreement

    # --- staging --------------------------------------------------------------------------

    def quota(self, project: str, quota_bytes: int) -> None:
        """Set a project's staging quota (no service sets one: operators do, in the database)."""
        from connector.identity.models import Project

        with self.uow:
            self.uow.session.scalar(select(Project).where(Project.slug == project)).quota_bytes = quota_bytes
            self.uow.commit()

    def staging_job(self, agreement_id: str | None = None, *, member: str = "member",
                    **agreement: Any) -> StagingJob:
        """A queued staging job of the agreement (a new one, made with ``agreement``, if none)."""
        agreement_id = agreement_id or self.agreement(**agreement).id
        job, _ = jobs.request_staging(self.uow, self.principal(member), agreement_id,
                                      self.staging, now=utcnow())
        return job

    def published_staging(self, agreement_id: str | None = None, *, member: str = "member",
                          **agreement: Any) -> StagingJob:
        """A staging job run to its end by the worker's own steps (claim, run): a real version
        published on the tier. Asserts that it was published."""
        job = self.staging_job(agreement_id, member=member, **agreement)
        worker = "factory-" + uuid.uuid4().hex[:8]
        assert runner.claim_job(self.uow, worker, self.staging, now=utcnow(), job_id=job.id) == job.id
        done = runner.run_job(self.uow, job.id, worker, self.staging, clock=utcnow)
        assert done.state == JobState.PUBLISHED, done.error
        return done

    # --- harvesting -----------------------------------------------------------------------

    def harvest_source(self, url: str, *, name: str = "env-portal", kind: str = "ckan",
                       organisation: str = "env", allowlist: tuple[str, ...] = ("127.0.0.1",),
                       **fields: Any):
        """A harvest source added by the operator (the organisation must exist)."""
        body = {"name": name, "kind": kind, "url": url, "organisation": organisation, **fields}
        return harvest_sources.add_source(self.uow, OPERATOR, body, allowlist=allowlist)


def register_over_http(client: ProblemCheckingClient, actors: Actors, *, who: str = "steward",
                       body: dict[str, Any] | None = None, **fields: Any) -> Any:
    """POST a dataset (``body``, or ``dataset_body`` with ``fields``) as ``who``; asserts the 201
    and returns the response (its JSON is the dataset, its Location header the dataset's URL)."""
    response = client.post("/api/v1/datasets", json=body or dataset_body(**fields),
                           headers=actors.headers(who))
    assert response.status_code == 201, response.get_json()
    return response
