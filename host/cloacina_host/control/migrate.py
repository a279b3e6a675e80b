"""Schema migrations (Alembic) for SQLite and PostgreSQL.

:func:`upgrade` brings a database to the head revision under a lock (PostgreSQL: an
advisory lock held for the transaction), so replicas that start at once migrate it exactly
once; a database made by the first release (tables, no ``alembic_version``) is stamped with
the baseline first. Every store runs it when it opens; ``cloacinactl db upgrade`` runs it on
its own. A database newer than this code is refused, naming both revisions.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from ..errors import CloacinaError

SCRIPTS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the first release's schema, made before migrations existed
#: pg_advisory_xact_lock key of schema changes and the bootstrap key ("cloacina")
START_LOCK = 0x636C6F6163696E61


class SchemaError(CloacinaError):
    """The database's schema cannot be brought to this code's."""

    code = "schema_mismatch"


def _config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config(None)).get_current_head()  # type: ignore[arg-type]
    assert revision is not None
    return revision


def current(conn: sa.Connection) -> str | None:
    """The database's revision (None for an empty or unversioned database)."""
    return MigrationContext.configure(conn).get_current_revision()


def lock_start(conn: sa.Connection) -> None:
    """Serialize start-up work (migrations, the bootstrap key) across replicas."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(START_LOCK)))


def upgrade(engine: sa.Engine) -> tuple[str | None, str]:
    """Migrate to the head revision; returns (revision before, revision now)."""
    target = head()
    with engine.begin() as conn:
        lock_start(conn)
        before = current(conn)
        if before is None and sa.inspect(conn).has_table("tenants"):
            command.stamp(_config(conn), BASELINE)  # a database of the first release
            before = BASELINE
        if before == target:
            return before, target
        try:
            command.upgrade(_config(conn), "head")
        except CommandError as exc:
            raise SchemaError(
                f"the database's schema is at revision {before!r}, which this cloacina-host "
                f"does not know (its newest is {target!r}): upgrade cloacina-host, or point "
                f"it at another database ({exc})"
            ) from None
        return before, target
