"""Many replicas on one database: replica heartbeats, load status per replica, WebSocket
tickets any replica can redeem.

The old one-row-per-package status is dropped, not converted: status is what a replica
reports after its next reconcile pass, a few seconds after it starts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
    )
    op.drop_table("package_status")
    op.create_table(
        "package_status",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("replica", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("reactors", sa.Text, nullable=False),
        sa.Column("graphs", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ws_tickets",
        sa.Column("ticket_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(36), nullable=False, index=True),
        sa.Column("tenant", sa.String(64), nullable=True),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("issued_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("ws_tickets")
    op.drop_table("package_status")
    op.create_table(
        "package_status",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("reactors", sa.Text, nullable=False),
        sa.Column("graphs", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.drop_table("replicas")
