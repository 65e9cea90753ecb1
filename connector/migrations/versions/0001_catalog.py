"""Identity, audit log and the dataset catalog with full-text search.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from connector.db import JSONDocument, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
        sa.UniqueConstraint("slug", name="uq_organisations_slug"),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("organisation_id", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("slug", name="uq_projects_slug"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name="fk_projects_organisation_id_organisations"),
    )
    op.create_index("ix_projects_organisation_id", "projects", ["organisation_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("organisation_id", sa.Integer, nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
        sa.UniqueConstraint("token_hash", name="uq_users_token_hash"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name="fk_users_organisation_id_organisations"),
    )
    op.create_table(
        "project_members",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "project_id", name="pk_project_members"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_project_members_user_id_users"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_project_members_project_id_projects"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("before_version", sa.Integer, nullable=True),
        sa.Column("after_version", sa.Integer, nullable=True),
        sa.Column("detail", JSONDocument, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name="fk_audit_events_actor_id_users"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_object_id", "audit_events", ["object_id"])
    op.create_table(
        "datasets",
        sa.Column("pk", sa.Integer, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("identifier", sa.String(512), nullable=False),
        sa.Column("organisation_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("access_rights", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_datasets"),
        sa.UniqueConstraint("id", name="uq_datasets_id"),
        sa.UniqueConstraint("identifier", name="uq_datasets_identifier"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name="fk_datasets_organisation_id_organisations"),
    )
    op.create_index("ix_datasets_organisation_id", "datasets", ["organisation_id"])
    op.create_index("ix_datasets_state", "datasets", ["state"])
    op.create_index("ix_datasets_access_rights", "datasets", ["access_rights"])
    op.create_index("ix_datasets_updated_at_id", "datasets", ["updated_at", "id"])
    op.create_table(
        "dataset_versions",
        sa.Column("pk", sa.Integer, nullable=False),
        sa.Column("dataset_pk", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", JSONDocument, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_dataset_versions"),
        sa.UniqueConstraint("dataset_pk", "version", name="uq_dataset_versions_dataset_pk"),
        sa.ForeignKeyConstraint(["dataset_pk"], ["datasets.pk"], ondelete="CASCADE",
                                name="fk_dataset_versions_dataset_pk_datasets"),
    )
    op.create_table(
        "dataset_facets",
        sa.Column("dataset_pk", sa.Integer, nullable=False),
        sa.Column("facet", sa.String(32), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("dataset_pk", "facet", "value", name="pk_dataset_facets"),
        sa.ForeignKeyConstraint(["dataset_pk"], ["datasets.pk"], ondelete="CASCADE",
                                name="fk_dataset_facets_dataset_pk_datasets"),
    )
    op.create_index("ix_dataset_facets_lookup", "dataset_facets", ["facet", "value", "dataset_pk"])

    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE dataset_search USING fts5("
            "body, tokenize = 'unicode61 remove_diacritics 2')"
        )
    else:
        op.create_table(
            "dataset_search",
            sa.Column("dataset_pk", sa.Integer, nullable=False),
            sa.Column("body", postgresql.TSVECTOR(), nullable=False),
            sa.PrimaryKeyConstraint("dataset_pk", name="pk_dataset_search"),
            sa.ForeignKeyConstraint(["dataset_pk"], ["datasets.pk"], ondelete="CASCADE",
                                    name="fk_dataset_search_dataset_pk_datasets"),
        )
        op.create_index("ix_dataset_search_body", "dataset_search", ["body"],
                        postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE dataset_search")
    else:
        op.drop_table("dataset_search")
    for table in ("dataset_facets", "dataset_versions", "datasets", "audit_events",
                  "project_members", "users", "projects", "organisations"):
        op.drop_table(table)
