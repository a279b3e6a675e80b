"""The options remote commands share, and the server, key and tenant they resolve to.

``--server --key --profile --tenant -o`` exist on the group and on each remote subcommand;
a value comes from the flag, then the environment, then the profile in
``$CLOACINA_HOME/config.toml`` (``cloacina_host/profiles.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from .. import log
from ..errors import CloacinaError
from ..isolation.settings import WORKER_FLAGS
from .client import DEFAULT_SERVER, Client, segment
from .config import Config, Profile, default_home
from .exits import user_errors
from .tables import STRUCTURED, emit_as

F = TypeVar("F", bound=Callable[..., Any])

_GIVEN = "cloacina.given"  # ctx.meta key: option name -> (rank, value)
LOG_LEVEL = "cloacina.log_level"  # ctx.meta key: the group's --log-level (None if not given)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Record where a shared option's value came from. The same options exist on the group
    and on each subcommand; a flag beats the environment, and a subcommand's flag (parsed
    later) beats the group's."""
    if value is None or param.name is None:
        return value
    source = ctx.get_parameter_source(param.name)
    rank = (
        2
        if source is ParameterSource.COMMANDLINE
        else 1
        if source is ParameterSource.ENVIRONMENT
        else 0
    )
    if rank:
        given: dict[str, tuple[int, Any]] = ctx.meta.setdefault(_GIVEN, {})
        if rank >= given.get(param.name, (0, None))[0]:
            given[param.name] = (rank, value)
    return value


def _given(ctx: click.Context, name: str) -> Any:
    found = ctx.meta.get(_GIVEN, {}).get(name)
    return found[1] if found else None


_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml", "id"]),
    default=None,
    expose_value=False,
    callback=_remember,
    help="Human-readable tables; JSON or the same data as YAML for scripts; id: only the "
    "identifiers, one per line (for xargs).  [default: table]",
)
_REMOTE = [
    click.option(
        "--server",
        metavar="URL",
        envvar="CLOACINA_SERVER",
        show_envvar=True,
        expose_value=False,
        callback=_remember,
        help=f"The server's URL.  [default: the profile's, else {DEFAULT_SERVER}]",
    ),
    click.option(
        "--key",
        metavar="KEY",
        envvar="CLOACINA_API_KEY",
        show_envvar=True,
        expose_value=False,
        callback=_remember,
        help="API key (clk_…) sent as a bearer token.  [default: the profile's]",
    ),
    click.option(
        "--profile",
        metavar="NAME",
        envvar="CLOACINA_PROFILE",
        show_envvar=True,
        expose_value=False,
        callback=_remember,
        help="Profile of config.toml to take server, key and tenant from.  "
        "[default: the current one, see `profile use`]",
    ),
    click.option(
        "--tenant",
        metavar="NAME",
        envvar="CLOACINA_TENANT",
        show_envvar=True,
        expose_value=False,
        callback=_remember,
        help="Tenant to act in.  [default: the profile's]",
    ),
    _OUTPUT,
]


def output_option(f: F) -> F:
    """``-o table|json|yaml|id`` (also accepted on the group)."""
    return _OUTPUT(f)


def remote_options(f: F) -> F:
    """``--server --key --profile --tenant -o`` (also accepted on the group)."""
    for option in reversed(_REMOTE):
        f = option(f)
    return f


def output_of(ctx: click.Context) -> str:
    return str(_given(ctx, "output") or "table")


def structured(ctx: click.Context) -> bool:
    """Whether ``-o`` asks for data (json, yaml, id) rather than a table."""
    return output_of(ctx) in STRUCTURED


def emit_json(data: Any) -> None:
    """Print a command's data as its ``-o`` asks: JSON, YAML or the identifiers."""
    emit_as(data, output_of(click.get_current_context()))


def home() -> Path:
    """The CLI's home: ``$CLOACINA_HOME`` or ``~/.cloacina`` (config.toml lives there)."""
    return default_home()


@dataclass(frozen=True)
class Settings:
    """Where and as whom a remote command acts, after flags, environment and profile."""

    server: str
    key: str | None
    tenant: str | None
    output: str
    profile: Profile | None


def settings_of(ctx: click.Context) -> Settings:
    profile = Config.load(home()).active(_given(ctx, "profile"))

    def pick(name: str) -> str | None:
        value = _given(ctx, name) or (getattr(profile, name) if profile else None)
        return str(value) if value else None

    return Settings(
        server=pick("server") or DEFAULT_SERVER,
        key=pick("key"),
        tenant=pick("tenant"),
        output=output_of(ctx),
        profile=profile,
    )


@dataclass(frozen=True)
class Remote:
    """A client and the settings it was made from."""

    client: Client
    settings: Settings

    @property
    def tenant(self) -> str:
        assert self.settings.tenant is not None
        return self.settings.tenant

    @property
    def json(self) -> bool:
        """Whether the command prints data (``-o json|yaml|id``) rather than a table."""
        return self.settings.output in STRUCTURED

    def path(self, *parts: str) -> str:
        """``/v1/tenants/<tenant>/<parts…>``, every part escaped."""
        return "/".join(["/v1/tenants", segment(self.tenant), *(segment(p) for p in parts)])


@contextmanager
def remote(ctx: click.Context, *, tenant: bool = True) -> Iterator[Remote]:
    """A client for the command; errors print ``Error: …`` and exit with their status."""
    with user_errors():
        s = settings_of(ctx)
        fix = (
            "pass --tenant NAME, set CLOACINA_TENANT, or set a profile's tenant "
            "(`cloacinactl profile set NAME --tenant NAME`)"
        )
        if tenant and not s.tenant and not s.key:
            raise CloacinaError(f"no tenant given: {fix}")
        with Client(s.server, s.key) as client:
            if tenant and not s.tenant:
                # a tenant key acts in its own tenant unless told otherwise
                s = replace(s, tenant=client.get("/v1/auth/whoami").get("tenant"))
                if not s.tenant:
                    raise CloacinaError(f"no tenant given and the key is a platform key: {fix}")
            yield Remote(client, s)


# ------------------------------------------------------------ the services' shared options

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CLOACINA_HOME",
    show_envvar=True,
    default=None,
    help="State directory (SQLite database, library copies).  [default: ~/.cloacina]",
)

database_url_option = click.option(
    "--database-url",
    default=None,
    envvar="CLOACINA_DATABASE_URL",
    show_envvar=True,
    metavar="URL",
    help="postgresql://… for PostgreSQL.  [default: SQLite in the data directory]",
)


def worker_options(command: F) -> F:
    """The worker flags (one table, ``isolation.settings.WORKER_FLAGS``) as click options."""
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


def service_logs(ctx: click.Context, json: bool | None = None, level: str | None = None) -> str:
    """Long-running commands log at info unless a level was chosen (the command's own
    ``--log-level``, else the group's)."""
    chosen = str(level or ctx.meta.get(LOG_LEVEL) or "info")
    log.configure(chosen, json=json)
    return chosen
