"""HTTP routes of staging under ``/api/v1/stagings``."""

from __future__ import annotations

from flask import Blueprint, request, url_for

from connector.db import utcnow
from connector.errors import ValidationFailed
from connector.http import extension, json_body, json_response, principal, uow, validate
from connector.staging import jobs, serialize
from connector.staging.models import JobState

bp = Blueprint("stagings", __name__, url_prefix="/api/v1/stagings")


@bp.post("")
def request_staging():
    caller = principal()
    body = json_body()
    validate("staging-request", body)
    job, created = jobs.request_staging(uow(), caller, body["agreement"],
                                        extension().staging, now=utcnow())
    return json_response(serialize.job(job), 202 if created else 200,
                         {"Location": url_for("stagings.get_job", job_id=job.id)})


@bp.get("")
def list_jobs():
    state = request.args.get("state")
    if state is not None and state not in {str(s) for s in JobState}:
        raise ValidationFailed([{"path": "$.state", "message": "state must be one of "
                                 + ", ".join(str(s) for s in JobState)}])
    return json_response({"items": [serialize.job(j) for j in
                                    jobs.list_jobs(uow(), principal(), state)]})


@bp.get("/<job_id>")
def get_job(job_id: str):
    return json_response(serialize.job(jobs.get_job(uow(), principal(), job_id)))


@bp.post("/<job_id>/cancel")
def cancel_job(job_id: str):
    return json_response(serialize.job(jobs.cancel_job(uow(), principal(), job_id, now=utcnow())))
