"""The provider's data endpoint of pull transfers: what a data token opens, file by file.

A token (from the data address :func:`connector.dsp.transfer_provider.start` sent) is honoured
while its transfer is STARTED, before its expiry, while the agreement is active and while the
agreed version is still published; it opens that version's manifest and the parts it lists.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connector.dsp.negotiation_steps import agreement_ended
from connector.dsp.transfer_steps import T, token_hash
from connector.errors import NotFound, Unauthorized
from connector.policies.models import Agreement
from connector.staging.models import JobState
from connector.staging.storage import StorageTier
from connector.uow import UnitOfWork


class DataAccessDenied(Unauthorized):
    code, title = "data-token-refused", "Data token refused"


@dataclass(frozen=True)
class PublishedData:
    """The published version a data token opens: where it lies on our tier and its manifest."""

    project: str
    dataset: str
    version: str
    manifest: dict[str, Any]

    def names(self) -> list[str]:
        return ["_manifest.json", *(item["path"] for item in self.manifest["files"])]


def open_data(uow: UnitOfWork, provider_pid: str, token: str | None, *, now: dt.datetime) -> PublishedData:
    """What the bearer of ``token`` may read of transfer ``provider_pid``; DataAccessDenied (401)
    for a missing, wrong, expired or ended token, or an agreement no longer active."""
    if not token:
        raise DataAccessDenied("send the token of the transfer's data address as Authorization: Bearer")
    with uow:
        transfer = uow.transfers.by_data_token(token_hash(token))
        if transfer is None or transfer.pid != provider_pid:
            raise DataAccessDenied("unknown or ended data token")
        if transfer.state != T.STARTED:
            raise DataAccessDenied(f"the transfer is {transfer.state}; its token is not honoured")
        if transfer.token_expires is None or transfer.token_expires <= now:
            raise DataAccessDenied("the data token expired")
        agreement = uow.session.scalar(select(Agreement).where(Agreement.id == transfer.agreement_id))
        ended = agreement_ended(agreement, now)
        if ended:
            raise DataAccessDenied(ended)
        job = uow.transfers.job_of(transfer)
        if job is None or job.state != JobState.PUBLISHED or job.manifest is None:
            raise DataAccessDenied("the agreed data is no longer staged")
        return PublishedData(job.project.slug, job.dataset.id, str(job.dataset_version), job.manifest)



def data_file(tier: StorageTier, data: PublishedData, name: str, *,
              chunk_size: int = 1 << 20) -> tuple[int, Iterator[bytes]]:
    """The size and the bytes of one file of the published version (the manifest or a part it
    lists); NotFound for any other name."""
    if name not in data.names():
        raise NotFound(f"no file {name!r} in this transfer")
    path = posixpath.join(tier.version_path(data.project, data.dataset, data.version), name)
    size = int(tier.fs.size(path))

    def chunks() -> Iterator[bytes]:
        with tier.fs.open(path, "rb") as handle:
            while True:
                chunk = handle.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    return size, chunks()

