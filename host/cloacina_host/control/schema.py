"""The store's tables, as the application reads and writes them: the head of the migrations
in ``migrations/versions`` (which create them; ``create_all`` is never used on a store).
One metadata for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

metadata = sa.MetaData()

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=True),  # NULL: platform key
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

packages = sa.Table(
    "packages",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("archive", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("signer", sa.String(16), nullable=True),  # the key_id that signed it
    sa.UniqueConstraint("tenant", "name", "version", name="uq_package_version"),
)

#: Each replica's own load status of each package (it reconciles on its own).
package_status = sa.Table(
    "package_status",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("replica", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("reactors", sa.Text, nullable=False, default="[]"),
    sa.Column("graphs", sa.Text, nullable=False, default="[]"),
    sa.Column("updated_at", sa.Float, nullable=False),
)

replicas = sa.Table(
    "replicas",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)

ws_tickets = sa.Table(
    "ws_tickets",
    metadata,
    sa.Column("ticket_hash", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(36), nullable=False, index=True),
    sa.Column("tenant", sa.String(64), nullable=True),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("issued_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # crashed | hung
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

tenant_settings = sa.Table(
    "tenant_settings",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("call_deadline_seconds", sa.Float, nullable=True),
    sa.Column("require_signed", sa.Boolean, nullable=True),  # NULL: false
)

signers = sa.Table(
    "signers",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),  # PEM
    sa.Column("created_at", sa.Float, nullable=False),
)


def upsert(conn: sa.Connection, table: sa.Table, keys: tuple[str, ...], **values: Any) -> None:
    """Insert a row, or update the row with the same ``keys``: one statement, no window
    between a delete and an insert for another replica to fall into."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(**values)
    changes = {k: v for k, v in values.items() if k not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))
