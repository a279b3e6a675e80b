"""``cloacinactl``: the command line.

Only this module names the CLI library (click). Every flag that has an
environment fallback says so in ``--help``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from . import __version__, demo, log
from .errors import CloacinaError

EXIT_USER = 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloacinactl")
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    envvar="CLOACINA_LOG_LEVEL",
    show_envvar=True,
    help="Log level of the host's structured logs.",
)
def main(log_level: str) -> None:
    """Operate cloacina plugin packages."""
    log.configure(log_level)


@main.command("demo")
@click.option(
    "--publisher",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The pricing-publisher library (.so).",
)
@click.option(
    "--subscriber",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The pricing-subscriber library (.so).",
)
def demo_command(publisher: Path, subscriber: Path) -> None:
    """Run the tutorial's scenario in-process and print every step."""
    sys.exit(demo.run(publisher, subscriber, out=click.echo))


@main.command("inspect-lib")
@click.argument("library", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect_lib(library: Path) -> None:
    """Load LIBRARY, check its ABI and print what it declares (JSON)."""
    from .loader import open_plugin

    try:
        plugin = open_plugin(library)
    except CloacinaError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USER)
    try:
        click.echo(orjson.dumps(plugin.decl.to_dict(), option=orjson.OPT_INDENT_2).decode())
    finally:
        plugin.close()
