"""The provider's push (``AmazonS3-PUSH``, :mod:`connector.dsp.push` for the S3 side).

The request carries the consumer's S3 address, admitted by the push SSRF rule
(:func:`admit_target`); once the version is staged :func:`begin` sends
``TransferStartMessage`` (no data address) and :func:`run` copies the parts and the manifest
to the bucket, then sends ``TransferCompletionMessage`` (or terminates with ``push-failed``).
The address's credentials live only in :attr:`Runtime.secrets`, never in a row; a push whose
copying process died is ended by :func:`end_interrupted` once its lease runs out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from connector.dsp import push
from connector.dsp import transfer as messages
from connector.dsp.errors import TransferRefused
from connector.dsp.models import Transfer
from connector.dsp.participants import Participant
from connector.dsp.process import move, pids, set_state
from connector.dsp.states import Role
from connector.dsp.transfer_steps import T, TransferRuntime, send, terminate
from connector.staging.storage import StorageTier
from connector.uow import UnitOfWork


def admit_target(runtime: TransferRuntime, participant: Participant,
                 message: Mapping[str, Any]) -> push.S3Address:
    """The consumer's S3 address of a push request, admitted by the push SSRF rule."""
    try:
        target = push.read_s3_address(message.get("dataAddress"))
        push.admit_endpoint(target, participant.address, runtime.staging.source_allowlist)
    except ValueError as exc:
        raise TransferRefused(str(exc)) from exc
    return target


def end_interrupted(uow: UnitOfWork, runtime: TransferRuntime, now: dt.datetime) -> int:
    """Terminate STARTED pushes whose lease ran out: the process copying them died (their
    address lived only in its memory), so nobody will complete them."""
    expired = now - dt.timedelta(seconds=runtime.push_lease_seconds)
    stale = uow.transfers.stale_pushes(push.PUSH_FORMAT, expired)
    for transfer in stale:
        terminate(uow, transfer, runtime, "push-interrupted",
                   [f"the push stopped making progress (no file copied for {runtime.push_lease_seconds:g} s; "
                    "the provider probably restarted); what reached the bucket may be incomplete: "
                    "request the transfer again"], now)
    return len(stale)


def _renew_lease(uow: UnitOfWork, runtime: TransferRuntime, transfer_pk: int) -> None:
    with uow:
        uow.transfers.renew_lease(transfer_pk, runtime.clock())
        uow.commit()


def begin(uow: UnitOfWork, transfer: Transfer, runtime: TransferRuntime, now: dt.datetime) -> bool:
    """STARTED, and ``TransferStartMessage`` (no data address) queued; False when the push
    address is no longer kept (the transfer is terminated)."""
    if runtime.base.secrets.get(transfer.pid) is None:
        terminate(uow, transfer, runtime, "push-credentials-lost",
                   ["the push address and its credentials are no longer kept (expired or dropped); "
                    "request the transfer again"], now)
        return False
    set_state(transfer, move(transfer, "TransferStartMessage", Role.PROVIDER), now)
    send(uow, transfer, runtime, "/start", messages.start(*pids(transfer)), now)
    return True


def run(uow: UnitOfWork, runtime: TransferRuntime, transfer_pk: int) -> None:
    """Copy the staged parts and the manifest to the consumer's bucket (no transaction held
    meanwhile), then complete the transfer, or terminate it with ``push-failed``."""
    with uow:
        transfer = uow.transfers.by_pk(transfer_pk)
        job = uow.transfers.job_of(transfer)
        pid = transfer.pid
        tier = StorageTier.from_url(runtime.staging.storage_url, **runtime.staging.storage_options)
        folder = tier.version_path(job.project.slug, job.dataset.id, str(job.dataset_version))
        names = [item["path"] for item in job.manifest["files"]] + ["_manifest.json"]
    target = runtime.base.secrets.get(pid)
    failure = None
    try:
        if target is None:
            raise push.PushFailed("the push address was lost")
        push.copy_files(tier.fs, folder, names, target,
                        before_each=lambda _name: _renew_lease(uow, runtime, transfer_pk))
    except push.PushFailed as exc:
        failure = str(exc)
    now = runtime.clock()
    with uow:
        transfer = uow.transfers.by_pk(transfer_pk)
        runtime.base.secrets.drop(pid)
        if transfer.state == T.STARTED:
            if failure is not None:
                where = target.describe() if target else "the consumer's bucket"
                terminate(uow, transfer, runtime, "push-failed", [f"the push to {where} failed: {failure}"],
                           now)
            else:
                set_state(transfer, move(transfer, "TransferCompletionMessage", Role.PROVIDER), now)
                send(uow, transfer, runtime, "/completion", messages.completion(*pids(transfer)), now)
        uow.commit()

