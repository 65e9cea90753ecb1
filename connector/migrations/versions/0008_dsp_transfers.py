"""Dataspace Protocol transfer processes; outbox messages may belong to a transfer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from connector.db import JSONDocument, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dsp_transfers",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("pid", sa.String(64), nullable=False),
        sa.Column("counter_pid", sa.String(512), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("participant_id", sa.String(512), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agreement", sa.String(512), nullable=False),
        sa.Column("agreement_id", sa.String(36), nullable=True),
        sa.Column("negotiation_id", sa.String(36), nullable=True),
        sa.Column("staging_job_id", sa.String(36), nullable=True),
        sa.Column("format", sa.String(128), nullable=False),
        sa.Column("callback_address", sa.String(2048), nullable=False),
        sa.Column("endpoint", sa.String(2048), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("token_expires", UTCDateTime(), nullable=True),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("termination_code", sa.String(64), nullable=True),
        sa.Column("termination_reason", JSONDocument, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name="fk_dsp_transfers_project_id_projects"),
        sa.PrimaryKeyConstraint("pk", name="pk_dsp_transfers"),
        sa.UniqueConstraint("id", name="uq_dsp_transfers_id"),
        sa.UniqueConstraint("pid", name="uq_dsp_transfers_pid"),
        sa.UniqueConstraint("token_hash", name="uq_dsp_transfers_token_hash"),
        sa.UniqueConstraint("participant_id", "role", "counter_pid",
                            name="uq_dsp_transfers_participant_id"),
    )
    for column in ("participant_id", "project_id", "state", "agreement_id"):
        op.create_index(f"ix_dsp_transfers_{column}", "dsp_transfers", [column])
    with op.batch_alter_table("dsp_outbox") as batch:
        batch.alter_column("negotiation_pk", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("transfer_pk", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_dsp_outbox_transfer_pk_dsp_transfers", "dsp_transfers",
                                 ["transfer_pk"], ["pk"], ondelete="CASCADE")
        batch.create_index("ix_dsp_outbox_transfer_pk", ["transfer_pk"])


def downgrade() -> None:
    op.execute("DELETE FROM dsp_outbox WHERE negotiation_pk IS NULL")
    with op.batch_alter_table("dsp_outbox") as batch:
        batch.drop_index("ix_dsp_outbox_transfer_pk")
        batch.drop_constraint("fk_dsp_outbox_transfer_pk_dsp_transfers", type_="foreignkey")
        batch.drop_column("transfer_pk")
        batch.alter_column("negotiation_pk", existing_type=sa.Integer(), nullable=False)
    op.drop_table("dsp_transfers")
