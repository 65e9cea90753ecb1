"""Transfers move on as their staging jobs do: what each worker tick (and each DSP request,
once answered) runs.

Provider REQUESTED -> STARTED once the agreed version is published (a pull gets its data
address, a push begins copying), or TERMINATED when staging failed; consumer STARTED ->
COMPLETED once the pulled data is staged here; provider transfers whose agreement ended are
terminated, and so are pushes whose lease ran out.
"""

from __future__ import annotations

from connector.dsp import push, transfer_provider, transfer_push
from connector.dsp import transfer as messages
from connector.dsp.negotiation_steps import agreement_ended
from connector.dsp.process import move, pids, set_state
from connector.dsp.states import Role
from connector.dsp.transfer_steps import OPEN, T, TransferRuntime, send, terminate
from connector.staging import runner as staging
from connector.staging.models import JobState
from connector.staging.repository import ACTIVE_STATES
from connector.uow import UnitOfWork


def _run_job(uow: UnitOfWork, runtime: TransferRuntime, job_id: str, worker: str) -> None:
    claimed = staging.claim_job(uow, worker, runtime.staging, now=runtime.clock(), job_id=job_id)
    if claimed is not None:
        staging.run_job(uow, claimed, worker, runtime.staging, clock=runtime.clock)


def advance(uow: UnitOfWork, runtime: TransferRuntime, *, worker: str = "dsp-transfer") -> int:
    """Move transfers whose staging job has progressed: provider REQUESTED -> STARTED (or
    TERMINATED when staging failed), consumer STARTED -> COMPLETED once staged; STARTED
    provider transfers whose agreement ended are terminated. With ``run_jobs_inline`` the due
    jobs of these transfers run here first. Returns how many transfers moved."""
    with uow:
        rows = uow.transfers.waiting_on_staging()
    if runtime.run_jobs_inline:
        for _, _, job_id, job_state in rows:
            if job_state in ACTIVE_STATES:
                _run_job(uow, runtime, job_id, worker)
    moved = 0
    now = runtime.clock()
    pushes: list[int] = []
    with uow:
        candidates = uow.transfers.with_jobs([row[0] for row in rows])
        for transfer, job in candidates:
            if transfer.state not in (T.REQUESTED, T.STARTED):
                continue
            if job.state == JobState.PUBLISHED:
                if transfer.role == Role.PROVIDER and transfer.format == push.PUSH_FORMAT:
                    if transfer_push.begin(uow, transfer, runtime, now):
                        pushes.append(transfer.pk)
                elif transfer.role == Role.PROVIDER:
                    transfer_provider.start(uow, transfer, runtime, now)
                else:
                    set_state(transfer, move(transfer, "TransferCompletionMessage", Role.CONSUMER), now)
                    send(uow, transfer, runtime, "/completion", messages.completion(*pids(transfer)), now)
                moved += 1
            elif job.state in (JobState.FAILED, JobState.CANCELLED, JobState.REMOVED):
                detail = (job.error or {}).get("detail") or f"the staging job is {job.state}"
                terminate(uow, transfer, runtime, "staging-failed", [f"staging failed: {detail}"], now)
                moved += 1
        for transfer, agreement in uow.transfers.open_provider_with_agreements(OPEN):
            ended = agreement_ended(agreement, now)
            if ended:
                terminate(uow, transfer, runtime, "agreement-ended", [ended], now)
                moved += 1
        moved += transfer_push.end_interrupted(uow, runtime, now)
        uow.commit()
    for pk in pushes:
        transfer_push.run(uow, runtime, pk)
    return moved

