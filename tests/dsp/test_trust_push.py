"""Push credentials are trust state in the database: the API process that receives a push
request keeps them sealed, and a worker built apart from it (``connector worker``) runs the
push; in neither database do they rest in clear."""
# ruff: noqa: F811  (the pair fixtures are imported from the other two-connector tests)

from __future__ import annotations

import functools

from sqlalchemy import select

from connector.app import create_app
from connector.config import DEFAULTS
from connector.dsp.models import SealedSecret
from connector.dsp.transfer_api import deliver
from connector.worker import Worker
from tests.dsp.test_negotiation_two_connectors import consumer_database, pair  # noqa: F401  (fixtures)
from tests.dsp.test_transfer_push import (  # noqa: F401  (fixtures and helpers)
    ACCESS_KEY,
    SECRET_KEY,
    _address,
    _ask_push,
    _bucket_fs,
    _provider_transfer,
    _transfer,
    app,
    bucket,
    s3_endpoint,
    source_file,
)
from tests.dsp.test_transfer_two_connectors import _finalized


def _rows(application) -> list[SealedSecret]:
    with application.extensions["connector"].session_factory() as session:
        return list(session.scalars(select(SealedSecret)))


def _worker_of(application):
    """A separately built worker: its own application on the same database and HOME, as
    ``connector worker`` builds one from the same configuration."""
    worker_app = create_app({key: value for key, value in application.config.items() if key in DEFAULTS})
    ext = worker_app.extensions["connector"]
    return worker_app, Worker(ext.session_factory, ext.staging,
                              dsp_delivery=functools.partial(deliver, worker_app))


def test_push_credentials_saved_by_the_api_process_are_used_by_a_worker_built_separately(
        pair, register, client, actors, source_file, s3_endpoint, bucket):
    negotiation = _finalized(pair, register, source_file)
    asked = _ask_push(pair, negotiation, _address(s3_endpoint, bucket))
    deliver(pair.consumer)  # the request reaches the provider's API process, which keeps the address
    worker_app, worker = _worker_of(pair.provider)
    try:
        for _ in range(20):  # the provider's API process delivers nothing from here on
            worker.tick()
            if deliver(pair.consumer) == 0 and _transfer(pair, asked["id"])["state"] in ("COMPLETED",
                                                                                        "TERMINATED"):
                break
    finally:
        worker_app.extensions["connector"].engine.dispose()
    ours = _transfer(pair, asked["id"])
    assert ours["state"] == "COMPLETED", ours
    assert _provider_transfer(client, actors, ours["consumerPid"])["state"] == "COMPLETED"
    assert _bucket_fs(s3_endpoint).exists(f"{bucket}/incoming/cardio/_manifest.json")
    assert _rows(pair.provider) == []  # dropped once the push was done


def test_push_credentials_rest_sealed_in_both_databases(pair, register, source_file, s3_endpoint, bucket):
    negotiation = _finalized(pair, register, source_file)
    _ask_push(pair, negotiation, _address(s3_endpoint, bucket))
    kept = _rows(pair.consumer)
    deliver(pair.consumer)
    kept += _rows(pair.provider)
    assert [row.kind for row in kept] == ["push-address", "push-address"]
    for row in kept:
        assert SECRET_KEY not in row.sealed and ACCESS_KEY not in row.sealed
