"""Tenant worker processes: quarantined packages and per-tenant call deadlines.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "tenant_settings",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("call_deadline_seconds", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("tenant_settings")
    op.drop_table("quarantine")
