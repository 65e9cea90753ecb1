"""Search: facet values become tokens of the full-text index; low-selectivity indexes go.

Facet filters now run inside the full-text index (``dcat.facet_token``), so existing rows are
indexed again here. The indexes on ``datasets.state`` and ``datasets.access_rights`` (three
values each) led SQLite to look rows up twice after the full-text match.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op
from sqlalchemy.orm import Session

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_datasets_state", table_name="datasets")
    op.drop_index("ix_datasets_access_rights", table_name="datasets")
    from connector.catalog.service import reindex_session

    reindex_session(Session(bind=op.get_bind()))


def downgrade() -> None:
    op.create_index("ix_datasets_state", "datasets", ["state"])
    op.create_index("ix_datasets_access_rights", "datasets", ["access_rights"])
