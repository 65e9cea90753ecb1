"""Search: the metadata-quality rating and the licence become facets; existing rows are indexed again.

``dcat.facet_values`` now yields ``quality`` (the MQA rating of the current version) and
``license``; datasets stored before this revision carry neither until they are reindexed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op
from sqlalchemy.orm import Session

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from connector.catalog.service import reindex_session

    reindex_session(Session(bind=op.get_bind()))


def downgrade() -> None:
    """Nothing to undo: older code neither filters on nor counts the two extra facets."""
