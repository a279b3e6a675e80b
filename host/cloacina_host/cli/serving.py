"""``cloacinactl server start``, which is also ``cloacina-server`` (:func:`server_main`) and
``python -m cloacina_host.server``: one click command, one set of flags, environment
variables and config file (:mod:`.serverconf`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import __version__, log
from ..isolation.settings import worker_settings
from . import serverconf
from .exits import CloacinaCommand, user_errors
from .options import data_dir_option, database_url_option, service_logs, worker_options


def _load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """``--config``: read the file (given, or the default one if it exists) before the other
    options, as their defaults: a flag and then the environment still beat it."""
    with user_errors():
        path = serverconf.config_path(value)
        if path is not None:
            ctx.default_map = {
                **(ctx.default_map or {}),
                **serverconf.read(path, ctx.command.params),
            }
    return path


@click.group("server")
def server_group() -> None:
    """Run the HTTP and WebSocket server."""


@server_group.command(
    "start",
    cls=CloacinaCommand,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CLOACINA_CONFIG",
    show_envvar=True,
    is_eager=True,
    expose_value=False,
    callback=_load_config,
    metavar="FILE",
    help="A TOML file of these options' values, keyed by their names (database_url = …); "
    "flags and environment variables beat it.  [default: $CLOACINA_HOME/server.toml "
    "if it exists]",
)
@click.option(
    "--bind",
    default="127.0.0.1:8080",
    envvar="CLOACINA_BIND",
    show_envvar=True,
    show_default=True,
    metavar="HOST:PORT",
    help="Where to listen.",
)
@data_dir_option
@database_url_option
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
    "--log-level",
    default=None,
    envvar="CLOACINA_LOG_LEVEL",
    show_envvar=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Log level (stderr).  [default: cloacinactl's --log-level, else info]",
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
@worker_options
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
    log_level: str | None,
    log_format: str,
    events: str,
    **worker_flags: Any,
) -> None:
    """Serve the API (docs/api.md) until SIGINT/SIGTERM.

    On first start with no keys, a platform admin key is taken from CLOACINA_BOOTSTRAP_KEY
    or generated and written once to DATA_DIR/bootstrap-key (mode 0600). Every tenant's
    plugins run in a supervised worker process (docs/isolation.md) unless --isolation none.
    Each option's value comes from its flag, else its environment variable, else the
    config file (--config), else its default.
    """
    from .. import server

    level = service_logs(ctx, log.FORMATS[log_format], log_level and log_level.lower())
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


def server_main() -> None:
    """``cloacina-server``: ``cloacinactl server start`` run on its own."""
    server_start.main(prog_name="cloacina-server")
