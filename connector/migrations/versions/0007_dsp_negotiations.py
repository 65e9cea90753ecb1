"""Dataspace Protocol contract negotiations and the outbox of protocol messages to send.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from connector.db import JSONDocument, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dsp_negotiations",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("pid", sa.String(64), nullable=False),
        sa.Column("counter_pid", sa.String(512), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("participant_id", sa.String(512), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("dataset", sa.String(512), nullable=False),
        sa.Column("offer", JSONDocument, nullable=False),
        sa.Column("callback_address", sa.String(2048), nullable=False),
        sa.Column("local_offer_id", sa.String(36), nullable=True),
        sa.Column("access_request_id", sa.String(36), nullable=True),
        sa.Column("agreement_id", sa.String(36), nullable=True),
        sa.Column("agreement", JSONDocument, nullable=True),
        sa.Column("termination_code", sa.String(64), nullable=True),
        sa.Column("termination_reason", JSONDocument, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name="fk_dsp_negotiations_project_id_projects"),
        sa.PrimaryKeyConstraint("pk", name="pk_dsp_negotiations"),
        sa.UniqueConstraint("id", name="uq_dsp_negotiations_id"),
        sa.UniqueConstraint("pid", name="uq_dsp_negotiations_pid"),
        sa.UniqueConstraint("participant_id", "role", "counter_pid",
                            name="uq_dsp_negotiations_participant_id"),
    )
    for column in ("participant_id", "project_id", "state", "access_request_id"):
        op.create_index(f"ix_dsp_negotiations_{column}", "dsp_negotiations", [column])
    op.create_table(
        "dsp_outbox",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("negotiation_pk", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.String(512), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("message", JSONDocument, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["negotiation_pk"], ["dsp_negotiations.pk"], ondelete="CASCADE",
                                name="fk_dsp_outbox_negotiation_pk_dsp_negotiations"),
        sa.PrimaryKeyConstraint("pk", name="pk_dsp_outbox"),
    )
    for column in ("negotiation_pk", "state", "next_attempt_at"):
        op.create_index(f"ix_dsp_outbox_{column}", "dsp_outbox", [column])


def downgrade() -> None:
    op.drop_table("dsp_outbox")
    op.drop_table("dsp_negotiations")
