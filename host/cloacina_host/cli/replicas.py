"""``replica list`` (the servers sharing one database) and ``db upgrade`` (its schema)."""

from __future__ import annotations

from pathlib import Path

import click

from .config import default_home
from .exits import user_errors
from .options import database_url_option, emit_json, remote, remote_options
from .tables import show, table, when


@click.group("replica")
def replica_group() -> None:
    """The server replicas sharing one database (needs a platform admin key)."""


@replica_group.command("list")
@remote_options
@click.pass_context
def replica_list(ctx: click.Context) -> None:
    """List the replicas: alive while their heartbeat (every 2 s) is fresher than 10 s."""
    with remote(ctx, tenant=False) as r:
        body = r.client.get_all("/v1/replicas")
    if r.json:
        emit_json(body["items"])
        return
    rows = [
        [
            i["id"] + (" (this one)" if i.get("self") else ""),
            i["host"],
            i["pid"],
            "alive" if i["alive"] else "gone",
            when(i["started_at"]),
            when(i["heartbeat_at"]),
        ]
        for i in body["items"]
    ]
    show(table("replicas", ["id", "host", "pid", "state", "started", "last heartbeat"], rows))


@click.group("db")
def db_group() -> None:
    """The database's schema."""


@db_group.command("upgrade")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CLOACINA_HOME",
    show_envvar=True,
    default=None,
    help="State directory holding the SQLite database.  [default: ~/.cloacina]",
)
@database_url_option
def db_upgrade(data_dir: Path | None, database_url: str | None) -> None:
    """Migrate the database's schema to this version's (servers also do it at start)."""
    from ..control.store import Store

    with user_errors():
        store = Store.for_data_dir(data_dir or default_home(), database_url, migrate=False)
        try:
            before, now = store.upgrade()
        finally:
            store.close()
    if before == now:
        click.echo(f"OK: the schema is up to date (revision {now})")
    else:
        click.echo(f"OK: the schema was upgraded from revision {before or 'none'} to {now}")
