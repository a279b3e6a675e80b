"""Signed packages: the public keys a tenant trusts, whether it accepts only signed packages,
and which key signed each stored package.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signers",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("tenant_settings") as batch:
        batch.add_column(sa.Column("require_signed", sa.Boolean, nullable=True))
    with op.batch_alter_table("packages") as batch:
        batch.add_column(sa.Column("signer", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("packages") as batch:
        batch.drop_column("signer")
    with op.batch_alter_table("tenant_settings") as batch:
        batch.drop_column("require_signed")
    op.drop_table("signers")
