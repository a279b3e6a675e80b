"""Commands that run something in this process: ``demo``, ``inspect-lib``, ``daemon start``
and ``server start``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson

from .. import log
from ..errors import CloacinaError
from ..isolation.settings import WORKER_FLAGS, worker_settings
from . import demo
from .config import default_home
from .exits import EXIT_USER, user_errors
from .options import LOG_LEVEL


def _service_logs(ctx: click.Context, json: bool | None = None) -> str:
    """Long-running commands log at info unless a level was chosen."""
    level = str(ctx.meta.get(LOG_LEVEL) or "info")
    log.configure(level, json=json)
    return level


@click.command("demo")
@click.option(
    "--publisher",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The pricing-publisher library (.so).  [default: the one the package bundles]",
)
@click.option(
    "--subscriber",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The pricing-subscriber library (.so).  [default: the one the package bundles]",
)
def demo_command(publisher: Path | None, subscriber: Path | None) -> None:
    """Run the tutorial's scenario in-process and print every step.

    Without --publisher/--subscriber it runs the C example libraries the wheel bundles."""
    with user_errors():
        publisher = publisher or demo.bundled("publisher")
        subscriber = subscriber or demo.bundled("subscriber")
    sys.exit(demo.run(publisher, subscriber, out=click.echo))


@click.command("inspect-lib")
@click.argument("library", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect_lib(library: Path) -> None:
    """Load LIBRARY, check its ABI and print what it declares (JSON)."""
    from ..core.loader import open_plugin

    try:
        plugin = open_plugin(library)
    except CloacinaError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USER)
    try:
        click.echo(orjson.dumps(plugin.decl.to_dict(), option=orjson.OPT_INDENT_2).decode())
    finally:
        plugin.close()


_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CLOACINA_HOME",
    show_envvar=True,
    default=None,
    help="State directory (SQLite database, library copies).  [default: ~/.cloacina]",
)


def _worker_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The server's worker flags (one table, ``server.serve.WORKER_FLAGS``) as click options."""

    for flag in reversed(WORKER_FLAGS):
        command = click.option(
            flag.name,
            flag.key,
            envvar=flag.env,
            show_envvar=True,
            multiple=flag.multiple,
            metavar=flag.metavar,
            default=None,
            help=flag.help[0].upper() + flag.help[1:] + ".",
        )(command)
    return command


@click.group("daemon")
def daemon_group() -> None:
    """Run the local daemon (a folder of packages, no HTTP)."""


@daemon_group.command("start")
@click.option(
    "--packages",
    "packages_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of .cloacina archives to reconcile.  [default: DATA_DIR/packages]",
)
@_DATA_DIR
@_worker_options
@click.pass_context
def daemon_start(
    ctx: click.Context,
    /,
    packages_dir: Path | None,
    data_dir: Path | None,
    **worker_flags: Any,
) -> None:
    """Reconcile a folder of .cloacina archives until SIGINT/SIGTERM.

    Archives dropped into the folder load (a subscriber waits for its publisher), removed
    ones unload (the bound-subscriber guard may refuse); every step is logged to stderr.
    `cloacinactl package list --data-dir DATA_DIR` shows the daemon's state.
    """
    from ..control.daemon import Daemon

    level = _service_logs(ctx)
    data = data_dir or default_home()
    with user_errors():
        isolation, workers = worker_settings(worker_flags, level)
        daemon = Daemon(
            packages_dir or data / "packages", data, isolation=isolation, workers=workers
        )
    daemon.install_signal_handlers()
    sys.exit(daemon.run())


@click.group("server")
def server_group() -> None:
    """Run the HTTP and WebSocket server."""


@server_group.command("start")
@click.option(
    "--bind",
    default="127.0.0.1:8080",
    envvar="CLOACINA_BIND",
    show_envvar=True,
    show_default=True,
    metavar="HOST:PORT",
    help="Where to listen.",
)
@_DATA_DIR
@click.option(
    "--database-url",
    default=None,
    envvar="CLOACINA_DATABASE_URL",
    show_envvar=True,
    metavar="URL",
    help="postgresql://… for PostgreSQL.  [default: SQLite in the data directory]",
)
@click.option(
    "--metrics-bind",
    default=None,
    envvar="CLOACINA_METRICS_BIND",
    show_envvar=True,
    metavar="HOST:PORT",
    help="Serve /metrics on this separate address instead of the API's.",
)
@click.option(
    "--metrics-token",
    default=None,
    envvar="CLOACINA_METRICS_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="A bearer token that may read the metrics besides a platform admin key "
    "(prefer the environment variable: flags show in the process list).",
)
@click.option(
    "--metrics-auth",
    type=click.Choice(["auto", "always"]),
    default="auto",
    envvar="CLOACINA_METRICS_AUTH",
    show_envvar=True,
    show_default=True,
    help="auto: the metrics need a token unless their address is loopback; always: everywhere.",
)
@click.option(
    "--replica-id",
    default=None,
    envvar="CLOACINA_REPLICA_ID",
    show_envvar=True,
    metavar="ID",
    help="This replica's id among servers sharing one database (stable across restarts).  "
    "[default: generated]",
)
@click.option(
    "--log-format",
    type=click.Choice(sorted(log.FORMATS)),
    default="auto",
    envvar="CLOACINA_LOG_FORMAT",
    show_envvar=True,
    show_default=True,
    help="json: one JSON object per line; console: readable lines (coloured on a terminal "
    "unless NO_COLOR is set); auto: json unless standard error is a terminal.",
)
@click.option(
    "--events",
    default="embedded",
    envvar="CLOACINA_EVENTS",
    show_envvar=True,
    show_default=True,
    metavar="embedded|nats://HOST:PORT",
    help="The event plane: embedded (events go straight to the accepting server's workers) "
    "or a NATS JetStream URL (reactors owned by one replica each, their state on the broker).",
)
@_worker_options
@click.pass_context
def server_start(
    ctx: click.Context,
    /,
    bind: str,
    data_dir: Path | None,
    database_url: str | None,
    metrics_bind: str | None,
    metrics_token: str | None,
    metrics_auth: str,
    replica_id: str | None,
    log_format: str,
    events: str,
    **worker_flags: Any,
) -> None:
    """Serve the API (docs/api.md) until SIGINT/SIGTERM.

    On first start with no keys, a platform admin key is taken from CLOACINA_BOOTSTRAP_KEY
    or generated and written once to DATA_DIR/bootstrap-key (mode 0600). Every tenant's
    plugins run in a supervised worker process (docs/isolation.md) unless --isolation none.
    """
    from .. import server

    level = _service_logs(ctx, log.FORMATS[log_format])
    with user_errors():
        host, port = server.parse_bind(bind)
        isolation, workers = worker_settings(worker_flags, level)
        server.run(
            data_dir,
            host,
            port,
            database_url or None,
            log_level=level,
            metrics_bind=metrics_bind or None,
            metrics_token=metrics_token or None,
            metrics_auth=metrics_auth,
            isolation=isolation,
            workers=workers,
            replica=replica_id or None,
            events=events,
        )
