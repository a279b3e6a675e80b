"""``profile set|list|use``: named server/key/tenant settings in ``config.toml``."""

from __future__ import annotations

import click

from .config import Config
from .exits import to_stderr, user_errors
from .options import emit_json, home, output_option, structured
from .tables import show, table


@click.group("profile")
def profile_group() -> None:
    """Named server/key/tenant settings in $CLOACINA_HOME/config.toml."""


@profile_group.command("set")
@click.argument("name")
@click.option("--server", metavar="URL", help="The server's URL.")
@click.option("--key", metavar="KEY", help="API key (clk_…).")
@click.option("--tenant", metavar="NAME", help="Tenant to act in.")
def profile_set(name: str, server: str | None, key: str | None, tenant: str | None) -> None:
    """Create or update profile NAME (options not given keep their value)."""
    with user_errors():
        config = Config.load(home())
        config.set(name, server=server, key=key, tenant=tenant)
        config.save()
    click.echo(f"OK: profile {name} saved in {config.path}")
    if config.current != name:
        to_stderr(f"(make it the default with `cloacinactl profile use {name}`)")


@profile_group.command("list")
@output_option
@click.pass_context
def profile_list(ctx: click.Context) -> None:
    """List the profiles (keys are shown shortened); * marks the current one."""
    with user_errors():
        config = Config.load(home())
    rows = [
        {
            "name": p.name,
            "current": p.name == config.current,
            "server": p.server,
            "tenant": p.tenant,
            "key": _short_key(p.key),
        }
        for p in sorted(config.profiles.values(), key=lambda p: p.name)
    ]
    if structured(ctx):
        emit_json(rows)
        return
    show(
        table(
            "profiles",
            ["", "name", "server", "tenant", "key"],
            [
                ["*" if r["current"] else "", r["name"], r["server"], r["tenant"], r["key"]]
                for r in rows
            ],
        )
    )


def _short_key(key: str | None) -> str | None:
    return f"{key[:12]}…" if key and len(key) > 12 else key


@profile_group.command("use")
@click.argument("name")
def profile_use(name: str) -> None:
    """Make NAME the profile remote commands use by default."""
    with user_errors():
        config = Config.load(home())
        config.use(name)
        config.save()
    click.echo(f"OK: using profile {name}")
