"""Alembic's entry point for the store's migrations (docs/deploy.md#schema-migrations).

Run by :func:`cloacina_host.control.migrate.upgrade`, which hands over an open connection
(already holding the start-up lock); never used with an ``alembic.ini``."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
