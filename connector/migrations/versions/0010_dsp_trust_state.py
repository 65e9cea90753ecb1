"""The DSP trust state every process shares: hashes of the tokens we issued, sealed secrets.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from connector.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dsp_issued_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(512), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_dsp_issued_tokens"),
    )
    op.create_index("ix_dsp_issued_tokens_expires_at", "dsp_issued_tokens", ["expires_at"])
    op.create_table(
        "dsp_sealed_secrets",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_dsp_sealed_secrets"),
        sa.UniqueConstraint("kind", "name", name="uq_dsp_sealed_secrets_kind"),
    )
    op.create_index("ix_dsp_sealed_secrets_expires_at", "dsp_sealed_secrets", ["expires_at"])


def downgrade() -> None:
    op.drop_table("dsp_sealed_secrets")
    op.drop_table("dsp_issued_tokens")
