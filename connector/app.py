"""The application factory."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, request
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from werkzeug.exceptions import HTTPException

from connector import __version__, db
from connector.config import environment, load_config
from connector.errors import ConnectorError
from connector.http import json_response
from connector.schemas import SchemaStore
from connector.staging.settings import StagingSettings

log = logging.getLogger("connector")

PROBLEM_JSON = "application/problem+json"


@dataclass
class Extension:
    """What the services need, built once per application."""

    config: dict[str, Any]
    engine: Engine
    session_factory: sessionmaker
    schemas: SchemaStore
    staging: StagingSettings


def build_extension(config: dict[str, Any]) -> Extension:
    engine = db.make_engine(config["DATABASE_URL"])
    if config["AUTO_MIGRATE"]:
        db.upgrade(engine)
    from connector.dsp.transfer_consumer import source_options as dsp_source_options

    staging = StagingSettings.from_config(config, source_lookups={"dsp": dsp_source_options})
    return Extension(config, engine, db.make_session_factory(engine),
                     SchemaStore(config["SCHEMAS_DIR"]), staging)


def create_app(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the Flask application; ``config`` overrides every other source (tests); ``environ``
    (the process environment when None) holds the settings and the secrets they name."""
    environ = environment() if environ is None else environ
    settings = load_config(config, environ)
    app = Flask("connector")
    app.config.update(settings)
    app.json.sort_keys = False
    logging.basicConfig(level=settings["LOG_LEVEL"])
    app.extensions["connector"] = build_extension(settings)

    from connector.audit_api import bp as audit_bp
    from connector.catalog.api import bp as datasets_bp
    from connector.catalog.export_api import bp as dcat_export_bp
    from connector.catalog.harvest.api import bp as harvest_bp
    from connector.ckan_api.api import bp as ckan_bp
    from connector.dsp.api import init_app as init_dsp
    from connector.dsp.negotiation_api import init_app as init_dsp_negotiation
    from connector.dsp.transfer_api import init_app as init_dsp_transfer
    from connector.openapi import bp as openapi_bp
    from connector.policies.api import bp as policies_bp
    from connector.staging.api import bp as stagings_bp

    app.register_blueprint(datasets_bp)
    app.register_blueprint(policies_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(stagings_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(ckan_bp)
    app.register_blueprint(harvest_bp)
    app.register_blueprint(dcat_export_bp)
    init_dsp(app, environ)  # DSP participants (secrets checked here) and the protocol blueprints
    init_dsp_negotiation(app)  # contract negotiation: protocol endpoints and /api/v1/negotiations
    init_dsp_transfer(app)  # transfer process, the data endpoint and /api/v1/transfers
    app.add_url_rule("/healthz", "health", _health)
    register_error_handlers(app)
    return app


def _health():
    ext = _extension()
    try:
        current = db.current_revision(ext.engine)
        with ext.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        state = "ok" if current == db.head_revision(ext.engine) else "migrations-pending"
    except Exception:  # noqa: BLE001  (any database failure means "unavailable")
        log.exception("health check: database unavailable")
        state = "unavailable"
    body = {"status": "ok" if state == "ok" else "degraded", "version": __version__, "database": state}
    return json_response(body, 200 if state == "ok" else 503)


def _extension() -> Extension:
    from flask import current_app

    return current_app.extensions["connector"]


def _problem(body: dict[str, Any]):
    body.setdefault("instance", request.path)
    return json_response(body, body["status"], mimetype=PROBLEM_JSON)


def register_error_handlers(app: Flask) -> None:
    """Every error leaves as ``application/problem+json`` (RFC 9457)."""

    @app.errorhandler(ConnectorError)
    def _connector_error(exc: ConnectorError):
        return _problem(exc.to_problem())

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = exc.code or 500
        slug = (exc.name or "error").lower().replace(" ", "-")
        return _problem({"type": f"https://connector.example/problems/{slug}", "title": exc.name,
                         "status": code, "detail": exc.description or exc.name})

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        correlation = uuid.uuid4().hex
        log.exception("unexpected error, correlation id %s", correlation)
        return _problem({"type": "https://connector.example/problems/internal-error",
                         "title": "Internal error", "status": 500,
                         "detail": "The service failed; quote the correlation id to the operator.",
                         "correlationId": correlation})
