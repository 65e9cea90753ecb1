"""``GET /api/v1/audit``: the audit log as JSON Lines, for administrators and auditors."""

from __future__ import annotations

import json

from flask import Blueprint, Response, request, stream_with_context

from connector.datetimes import parse_datetime
from connector.errors import Forbidden, ValidationFailed
from connector.http import principal, uow

bp = Blueprint("audit", __name__, url_prefix="/api/v1")


@bp.get("/audit")
def export_audit():
    caller = principal()
    if not caller.is_admin:
        raise Forbidden("the audit log is for administrators")
    since = None
    if "since" in request.args:
        try:
            since = parse_datetime(request.args["since"])
        except ValueError as exc:
            raise ValidationFailed([{"path": "$.since", "message": str(exc)}]) from exc
    object_type = request.args.get("objectType")
    unit = uow()

    def lines():
        with unit:
            for event in unit.audit.export(since=since, object_type=object_type):
                yield json.dumps(event, ensure_ascii=False) + "\n"

    return Response(stream_with_context(lines()), mimetype="application/jsonl")
