"""Commands that run something in this process: ``demo``, ``inspect-lib`` and ``daemon start``
(``server start`` is :mod:`.serving`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from ..errors import CloacinaError
from ..isolation.settings import worker_settings
from . import demo
from .config import default_home
from .exits import EXIT_USER, user_errors
from .options import data_dir_option, service_logs, worker_options


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
@data_dir_option
@worker_options
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

    level = service_logs(ctx)
    data = data_dir or default_home()
    with user_errors():
        isolation, workers = worker_settings(worker_flags, level)
        daemon = Daemon(
            packages_dir or data / "packages", data, isolation=isolation, workers=workers
        )
    daemon.install_signal_handlers()
    sys.exit(daemon.run())
