"""``cloacinactl``: the command line.

Only this module names the CLI library (click). Every flag that has an environment
fallback says so in ``--help``. Local commands work on files and folders (``package
build|pack|inspect``, ``daemon start``, ``package list --data-dir``); remote commands talk to
a server over HTTP (docs/api.md) with the server, key and tenant taken from the flags, then
the environment, then the profile (``profiles.py``).

Exit codes: 0 ok, 1 usage or user error, 2 cannot reach the server, 3 not found, 4 auth,
5 conflict (the bound-subscriber guard).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
from click.core import ParameterSource
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from . import __version__, building, demo, log, packages
from .client import DEFAULT_SERVER, Client, RemoteError, UnreachableError, segment
from .errors import CloacinaError
from .probe import DEFAULT_TIMEOUT
from .profiles import Config, Profile, default_home
from .render import (
    criteria_text,
    emit_json,
    fields,
    graphs_table,
    manifest_tables,
    reactors_table,
    runs_table,
    show,
    subscribers_text,
    table,
    text_of,
    when,
)

EXIT_OK = 0
EXIT_USER = 1
EXIT_UNREACHABLE = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_CONFLICT = 5

DAEMON_TENANT = "default"  # the tenant the local daemon reconciles into (daemon.TENANT)

F = TypeVar("F", bound=Callable[..., Any])


def exit_code(exc: CloacinaError) -> int:
    """The exit status of an error (SPEC §7)."""
    if isinstance(exc, UnreachableError):
        return EXIT_UNREACHABLE
    if isinstance(exc, RemoteError):
        if exc.status == 404:
            return EXIT_NOT_FOUND
        if exc.status in (401, 403):
            return EXIT_AUTH
        if exc.status == 409:
            return EXIT_CONFLICT
        if exc.status in (502, 503, 504):  # a proxy or a server that is not ready
            return EXIT_UNREACHABLE
    return EXIT_USER


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`CloacinaError` into ``Error: <message>`` on stderr and its exit status."""
    try:
        yield
    except CloacinaError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exit_code(exc))


def _stderr(line: str) -> None:
    click.echo(line, err=True)


class UsageExit(click.ClickException):
    """A click usage error that exits with status 1 and shows itself as click would."""

    exit_code = EXIT_USER

    def __init__(self, original: click.UsageError) -> None:
        super().__init__(original.message)
        self.original = original

    def show(self, file: Any = None) -> None:
        self.original.show(file)


class CloacinaGroup(click.Group):
    """A group whose usage errors (unknown option, missing argument, bad value) exit with
    status 1 like every other user error, not click's 2 (which means "cannot reach the
    server" here)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise UsageExit(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise UsageExit(exc) from exc


# --------------------------------------------------------------------------- shared options

_GIVEN = "cloacina.given"  # ctx.meta key: option name -> (rank, value)


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
    type=click.Choice(["table", "json"]),
    default=None,
    expose_value=False,
    callback=_remember,
    help="Human-readable tables, or JSON for scripts.  [default: table]",
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
    """``-o table|json`` (also accepted on the group)."""
    return _OUTPUT(f)


def remote_options(f: F) -> F:
    """``--server --key --profile --tenant -o`` (also accepted on the group)."""
    for option in reversed(_REMOTE):
        f = option(f)
    return f


def output_of(ctx: click.Context) -> str:
    return str(_given(ctx, "output") or "table")


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
        return self.settings.output == "json"

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


# --------------------------------------------------------------------------- the group


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
    ctx.meta["cloacina.log_level"] = log_level
    log.configure(log_level or "warning")


def _service_logs(ctx: click.Context) -> str:
    """Long-running commands log at info unless a level was chosen."""
    level = str(ctx.meta.get("cloacina.log_level") or "info")
    log.configure(level)
    return level


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


_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CLOACINA_HOME",
    show_envvar=True,
    default=None,
    help="State directory (SQLite database, library copies).  [default: ~/.cloacina]",
)


# --------------------------------------------------------------------------- daemon, server


@main.group("daemon")
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
@click.pass_context
def daemon_start(ctx: click.Context, packages_dir: Path | None, data_dir: Path | None) -> None:
    """Reconcile a folder of .cloacina archives until SIGINT/SIGTERM.

    Archives dropped into the folder load (a subscriber waits for its publisher), removed
    ones unload (the bound-subscriber guard may refuse); every step is logged to stderr.
    `cloacinactl package list --data-dir DATA_DIR` shows the daemon's state.
    """
    from .daemon import Daemon

    _service_logs(ctx)
    data = data_dir or default_home()
    with user_errors():
        daemon = Daemon(packages_dir or data / "packages", data)
    daemon.install_signal_handlers()
    sys.exit(daemon.run())


@main.group("server")
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
@click.pass_context
def server_start(
    ctx: click.Context, bind: str, data_dir: Path | None, database_url: str | None
) -> None:
    """Serve the API (docs/api.md) until SIGINT/SIGTERM.

    On first start with no keys, a platform admin key is taken from CLOACINA_BOOTSTRAP_KEY
    or generated and written once to DATA_DIR/bootstrap-key (mode 0600).
    """
    from . import server

    level = _service_logs(ctx)
    with user_errors():
        host, port = server.parse_bind(bind)
        server.run(data_dir, host, port, database_url or None, log_level=level)


# --------------------------------------------------------------------------- profiles


@main.group("profile")
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
        _stderr(f"(make it the default with `cloacinactl profile use {name}`)")


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
    if output_of(ctx) == "json":
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


# --------------------------------------------------------------------------- tenants, keys


@main.group("tenant")
def tenant_group() -> None:
    """Manage tenants (needs a platform admin key)."""


@tenant_group.command("create")
@click.argument("name")
@click.option("--description", default="", help="A line about the tenant.")
@remote_options
@click.pass_context
def tenant_create(ctx: click.Context, name: str, description: str) -> None:
    """Create tenant NAME."""
    with remote(ctx, tenant=False) as r:
        body = r.client.post("/v1/tenants", {"name": name, "description": description})
    if r.json:
        emit_json(body)
    else:
        click.echo(f"OK: tenant {body['name']} created")


@tenant_group.command("list")
@remote_options
@click.pass_context
def tenant_list(ctx: click.Context) -> None:
    """List the tenants."""
    with remote(ctx, tenant=False) as r:
        items = r.client.get("/v1/tenants")["items"]
    if r.json:
        emit_json(items)
        return
    rows = [[t["name"], t.get("description"), when(t.get("created_at"))] for t in items]
    show(table("tenants", ["name", "description", "created"], rows))


@tenant_group.command("delete")
@click.argument("name")
@remote_options
@click.pass_context
def tenant_delete(ctx: click.Context, name: str) -> None:
    """Delete tenant NAME: its keys are revoked and its packages unloaded."""
    with remote(ctx, tenant=False) as r:
        body = r.client.delete(f"/v1/tenants/{segment(name)}")
    if r.json:
        emit_json(body)
    else:
        click.echo(f"OK: tenant {name} deleted")


@main.group("key")
def key_group() -> None:
    """Manage a tenant's API keys (needs a tenant admin key)."""


@key_group.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["read", "write", "admin"]),
    default="read",
    show_default=True,
    help="What the key may do in the tenant.",
)
@remote_options
@click.pass_context
def key_create(ctx: click.Context, name: str, role: str) -> None:
    """Create key NAME in the tenant; prints the key (shown only this once) on stdout."""
    with remote(ctx) as r:
        body = r.client.post(r.path("keys"), {"name": name, "role": role})
    if r.json:
        emit_json(body)
        return
    click.echo(body["key"])
    _stderr(
        f"Created key {body['name']} ({body['role']}) in tenant {body['tenant']}, "
        f"id {body['id']}; the key is not shown again."
    )


@key_group.command("list")
@remote_options
@click.pass_context
def key_list(ctx: click.Context) -> None:
    """List the tenant's keys (never the keys themselves)."""
    with remote(ctx) as r:
        items = r.client.get(r.path("keys"))["items"]
    if r.json:
        emit_json(items)
        return
    rows = [
        [k["id"], k["name"], k["role"], k.get("prefix"), when(k.get("created_at")), k["revoked"]]
        for k in items
    ]
    show(table("keys", ["id", "name", "role", "prefix", "created", "revoked"], rows))


@key_group.command("revoke")
@click.argument("key_id", metavar="ID")
@remote_options
@click.pass_context
def key_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke key ID (see `key list`)."""
    with remote(ctx) as r:
        body = r.client.delete(r.path("keys", key_id))
    if r.json:
        emit_json(body)
    else:
        click.echo(f"OK: key {key_id} revoked")


# --------------------------------------------------------------------------- packages


@main.group("package")
def package_group() -> None:
    """Build, pack and inspect .cloacina packages; upload, list and delete them."""


_PROJECT_DIR = click.argument(
    "directory", default=".", type=click.Path(file_okay=False, path_type=Path)
)


@package_group.command("build")
@_PROJECT_DIR
def package_build(directory: Path) -> None:
    """Build the Cargo crate or CMake project in DIRECTORY (default: .).

    Cargo crates build with `cargo build --release --lib` (panics unwind); CMake projects
    configure into DIRECTORY/build (Release) and build there. The build tool's output streams
    to stderr; the built library's path is printed on stdout.
    """
    with user_errors():
        library = building.build_project(directory, echo=_stderr)
    click.echo(str(library))


@package_group.command(
    "pack", short_help="Validate the built library and write <name>-<version>.cloacina."
)
@_PROJECT_DIR
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the archive.  [default: the current directory]",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds the library may take to open and validate in the probe process.",
)
def package_pack(directory: Path, out_dir: Path | None, timeout: float) -> None:
    """Validate DIRECTORY's built library and write <name>-<version>.cloacina.

    The library is opened in a child process first, so a broken one cannot crash this
    command; its ABI, declarations and graph topologies are checked, and its declared name
    and version must match the project's package.toml (or Cargo.toml / CMakeLists.txt).
    Prints the archive's file name on stdout.
    """
    with user_errors():
        _stderr(f"Packing {directory}")
        archive = building.pack_project(directory, out_dir, timeout=timeout, status=_stderr)
    click.echo(archive.name)


@package_group.command("inspect", short_help="Show an archive's manifest and declarations.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@output_option
@click.pass_context
def package_inspect(ctx: click.Context, file: Path) -> None:
    """Show a .cloacina archive's manifest and declarations (after verifying it)."""
    with user_errors():
        manifest = packages.read_archive(file).manifest
    if output_of(ctx) == "json":
        emit_json(manifest.to_dict())
        return
    console = Console(highlight=False)
    for item in manifest_tables(manifest):
        console.print(item)
        console.print()


@package_group.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@remote_options
@click.pass_context
def package_upload(ctx: click.Context, file: Path) -> None:
    """Upload a .cloacina archive to the tenant; prints its id and load status.

    The server loads it at once: `loaded`, `pending` with the reason (e.g. a subscriber
    whose publisher's reactor is not loaded yet; it is retried) or `failed` with the reason.
    """
    with remote(ctx) as r:
        body = _upload(r, file)
    if r.json:
        emit_json(body)
        return
    fields(
        [
            ("uploaded", f"{body['name']} {body['version']} (tenant {body['tenant']})"),
            ("id", body["id"]),
            ("status", body.get("status")),
        ]
    )
    if body.get("reason"):
        fields([("reason", body["reason"])])


def _upload(r: Remote, file: Path) -> Any:
    size = file.stat().st_size
    path = r.path("packages")
    err = Console(stderr=True, highlight=False)
    if not err.is_terminal:
        _stderr(f"Uploading {file.name} ({size} bytes) to {r.client.server} (tenant {r.tenant})")
        return r.client.upload(path, file, lambda _: None)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(f"Uploading {file.name}", total=size)
        sent = 0

        def advance(n: int) -> None:
            nonlocal sent
            sent += n
            done = sent >= size
            description = f"{file.name}: uploaded, the server is loading it" if done else None
            progress.update(task, advance=n, description=description)

        return r.client.upload(path, file, advance)


@package_group.command("list")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Read a local daemon's state from this data directory instead of asking a server.",
)
@remote_options
@click.pass_context
def package_list(ctx: click.Context, data_dir: Path | None) -> None:
    """List packages with their load status, reactors and graphs.

    Without --data-dir, the server's packages of the tenant; with it, the state of the
    local daemon that runs with that data directory (`daemon start --data-dir DIR`).
    """
    if data_dir is not None:
        with user_errors():
            items = _daemon_status(data_dir)
        columns = ["name", "version", "status", "reason", "reactors", "graphs"]
    else:
        with remote(ctx) as r:
            items = r.client.get(r.path("packages"))["items"]
        columns = ["id", "name", "version", "status", "reason", "reactors", "graphs"]
    if output_of(ctx) == "json":
        emit_json(items)
        return
    show(table("packages", columns, [[i.get(c) for c in columns] for i in items]))


def _daemon_status(data_dir: Path) -> list[dict[str, Any]]:
    from .store import Store, sqlite_url

    database = Path(sqlite_url(data_dir).removeprefix("sqlite:///"))
    if not database.is_file():
        raise CloacinaError(
            f"no daemon state in '{data_dir}' ({database.name} is missing); "
            f"start one with `cloacinactl daemon start --data-dir {data_dir}`"
        )
    store = Store.for_data_dir(data_dir)
    try:
        rows = store.read_status(DAEMON_TENANT)
    finally:
        store.close()
    keys = ("name", "version", "status", "reason", "reactors", "graphs")
    return [{k: row[k] for k in keys} for row in rows]


@package_group.command("delete")
@click.argument("ref", metavar="ID|NAME[@VERSION]")
@remote_options
@click.pass_context
def package_delete(ctx: click.Context, ref: str) -> None:
    """Delete a package of the tenant (unloading it first).

    If its reactor still has bound subscribers, the server refuses (exit 5) and nothing is
    deleted: delete the subscribers first.
    """
    with remote(ctx) as r:
        body = r.client.delete(r.path("packages", ref))
    if r.json:
        emit_json(body)
        return
    for message in body.get("messages") or [f"package {body['name']} deleted"]:
        click.echo(f"OK: {message}")


# --------------------------------------------------------------------------- graphs, reactors


@main.group("graph")
def graph_group() -> None:
    """Reactors, computation graphs, accumulators and outputs of the tenant."""


@graph_group.command("list")
@remote_options
@click.pass_context
def graph_list(ctx: click.Context) -> None:
    """List the loaded reactors (with their accumulators) and graphs."""
    with remote(ctx) as r:
        reactors = r.client.get(r.path("reactors"))["items"]
        graphs = r.client.get(r.path("graphs"))["items"]
    if r.json:
        emit_json({"reactors": reactors, "graphs": graphs})
        return
    show(reactors_table(reactors), graphs_table(graphs))


@graph_group.command("status")
@click.argument("name")
@remote_options
@click.pass_context
def graph_status(ctx: click.Context, name: str) -> None:
    """Show reactor or graph NAME.

    A reactor: its package, accumulators, firing criteria, bound subscribers, fires and the
    last boundary of each accumulator. A graph: its reactor, nodes, runs and last outputs.
    """
    with remote(ctx) as r:
        kind, item = _reactor_or_graph(r, name)
    if r.json:
        emit_json({"kind": kind, **item})
    elif kind == "reactor":
        fields(
            [
                ("reactor", item["name"]),
                ("package", item.get("package")),
                ("state", item.get("state")),
                ("accumulators", item.get("accumulators")),
                ("criteria", criteria_text(item)),
                ("input strategy", item.get("input_strategy")),
                ("subscribers", subscribers_text(item.get("subscribers") or [])),
                ("fires", item.get("fires")),
                ("last fire", when(item.get("last_fire_at"))),
            ]
        )
        for acc, value in (item.get("cache") or {}).items():
            click.echo(f"last {acc}: {text_of(value)}")
    else:
        last = item.get("last_run") or {}
        fields(
            [
                ("graph", item["name"]),
                ("package", item.get("package")),
                ("reactor", item.get("reactor") or "(none: trigger-less)"),
                ("nodes", " -> ".join(item.get("nodes") or [])),
                ("runs", f"{item.get('runs_ok', 0)} ok, {item.get('runs_failed', 0)} failed"),
                ("last run", when(last.get("started_at"))),
                ("last outputs", last.get("outputs")),
            ]
        )
        if last.get("error"):
            fields([("last error", last["error"])])


def _reactor_or_graph(r: Remote, name: str) -> tuple[str, dict[str, Any]]:
    try:
        return "reactor", r.client.get(r.path("reactors", name))
    except RemoteError as exc:
        if exc.status != 404:
            raise
        first = exc
    try:
        return "graph", r.client.get(r.path("graphs", name))
    except RemoteError as exc:
        if exc.status != 404:
            raise
        if str(exc) == str(first):  # e.g. the tenant itself is unknown
            raise
        raise RemoteError(
            f"no reactor or graph named '{name}' in tenant '{r.tenant}'", 404, "not_found"
        ) from None


@graph_group.command("accumulators")
@remote_options
@click.pass_context
def graph_accumulators(ctx: click.Context) -> None:
    """List the accumulators with their event and error counts."""
    with remote(ctx) as r:
        items = r.client.get(r.path("accumulators"))["items"]
    if r.json:
        emit_json(items)
        return
    rows = [
        [
            i["name"],
            i.get("reactor"),
            i.get("package"),
            i.get("kind"),
            i.get("events_total"),
            i.get("errors_total"),
            when(i.get("last_event_at")),
            i.get("last_error"),
        ]
        for i in items
    ]
    columns = ["accumulator", "reactor", "package", "kind", "events", "errors", "last", "error"]
    show(table("accumulators", columns, rows))


@graph_group.command("outputs")
@click.argument("graph")
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing runs as they happen (Ctrl-C stops)."
)
@remote_options
@click.pass_context
def graph_outputs(ctx: click.Context, graph: str, follow: bool) -> None:
    """Show GRAPH's last runs (oldest first): each run's terminal outputs or error."""
    if follow:
        with remote(ctx) as r:
            path = f"/v1/ws/graph/{segment(graph)}/outputs"
            try:
                for run in r.client.follow(path, {"tenant": r.tenant}):
                    if r.json:
                        click.echo(orjson.dumps(run).decode())
                    else:
                        outcome = run.get("error") or text_of(run.get("outputs"))
                        started = when(run.get("started_at"))
                        click.echo(f"fire {run.get('fire')}  {started}  {outcome}", nl=True)
                        sys.stdout.flush()
            except KeyboardInterrupt:
                pass
        return
    with remote(ctx) as r:
        runs = r.client.get(r.path("graphs", graph)).get("outputs") or []
    if r.json:
        emit_json(runs)
        return
    show(runs_table(f"{graph} outputs", runs))


@main.group("reactor")
def reactor_group() -> None:
    """Act on a reactor of the tenant."""


def _inputs(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for value in values:
        source, sep, text = value.partition("=")
        if not sep or not source:
            raise click.BadParameter(f"{value!r}: use SOURCE=<json>")
        try:
            inputs[source] = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise click.BadParameter(f"{source}: not valid JSON ({exc})") from None
    return inputs


@reactor_group.command("fire")
@click.argument("name")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="SOURCE=JSON",
    callback=_inputs,
    help="Fire with this value for accumulator SOURCE instead of its last boundary (repeatable).",
)
@remote_options
@click.pass_context
def reactor_fire(ctx: click.Context, name: str, inputs: dict[str, Any]) -> None:
    """Fire reactor NAME now and print each subscriber graph's outputs."""
    with remote(ctx) as r:
        body = r.client.post(r.path("reactors", name, "fire"), {"inputs": inputs or None})
    if r.json:
        emit_json(body)
        return
    runs = body.get("runs") or []
    if not runs:
        click.echo(f"OK: reactor {name} fired; it has no subscribers")
    for run in runs:
        if run.get("error"):
            click.echo(f"{run['graph']}: failed: {run['error']}")
        else:
            click.echo(f"{run['graph']}: {text_of(run.get('outputs'))}")


@main.group("accumulator")
def accumulator_group() -> None:
    """Push events to an accumulator of the tenant."""


@accumulator_group.command("push")
@click.argument("name")
@click.argument("event", metavar="JSON", default="-")
@remote_options
@click.pass_context
def accumulator_push(ctx: click.Context, name: str, event: str) -> None:
    """Push one JSON event to accumulator NAME (JSON `-` or omitted: read it from stdin)."""
    text = sys.stdin.read() if event == "-" else event
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc})", param_hint="JSON") from None
    with remote(ctx) as r:
        body = r.client.request(
            "POST",
            r.path("accumulators", name, "events"),
            content=text.encode(),
            headers={"Content-Type": "application/json"},
        )
    if r.json:
        emit_json(body)
        return
    fires = body.get("fires", 0)
    click.echo(f"OK: event pushed to {name}; the reactor fired {fires} time(s)")
