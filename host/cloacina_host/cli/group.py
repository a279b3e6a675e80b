"""The ``cloacinactl`` group: its own options, and the commands of the other modules.

The command modules define their commands without knowing this group, so they import
nothing from here and it imports all of them.
"""

from __future__ import annotations

import click

from .. import __version__, log
from .completion import completion_command
from .exits import CloacinaGroup
from .graphs import graph_group
from .keys import key_group
from .options import LOG_LEVEL, remote_options
from .packages import package_group
from .profiles import profile_group
from .reactors import accumulator_group, reactor_group
from .replicas import db_group, replica_group
from .sdk import sdk_group
from .services import daemon_group, demo_command, inspect_lib
from .serving import server_group
from .signers import signer_group
from .tenants import tenant_group


@click.group(cls=CloacinaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloacinactl")
@click.option(
    "--log-level",
    default=None,
    envvar="CLOACINA_LOG_LEVEL",
    show_envvar=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Log level of the host's structured logs (stderr).  "
    "[default: info for `daemon start` and `server start`, else warning]",
)
@remote_options
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """Operate cloacina plugin packages, a local daemon, or a server.

    Remote commands take --server, --key, --tenant and -o here or after the subcommand;
    unset ones come from the environment, then the profile (--profile, else the current
    one of `profile use`) in $CLOACINA_HOME/config.toml (default ~/.cloacina/config.toml).

    Exit codes: 0 ok, 1 usage or user error, 2 cannot reach the server, 3 not found,
    4 not authorized, 5 conflict (e.g. the bound-subscriber guard).
    """
    ctx.meta[LOG_LEVEL] = log_level
    log.configure(log_level or "warning")


# --help lists the commands sorted by name, so this order is only for the reader
for command in (
    demo_command,
    inspect_lib,
    daemon_group,
    server_group,
    profile_group,
    tenant_group,
    key_group,
    package_group,
    signer_group,
    graph_group,
    reactor_group,
    accumulator_group,
    replica_group,
    db_group,
    completion_command,
    sdk_group,
):
    main.add_command(command)
