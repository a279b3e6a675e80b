"""``package build|pack|inspect`` on local files; ``package upload|list|delete`` on a server.

``package list --data-dir`` reads a local daemon's state instead of asking a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from ..errors import CloacinaError
from ..packaging.archive import read_archive
from ..packaging.build import build_project
from ..packaging.pack import pack_library, pack_project
from ..packaging.probe import DEFAULT_TIMEOUT
from ..packaging.signing import SIG_SUFFIX
from .exits import to_stderr, user_errors
from .options import Remote, emit_json, output_option, remote, remote_options, structured
from .signers import package_sign, write_signature
from .tables import fields, manifest_tables, show, table

DAEMON_TENANT = "default"  # the tenant the local daemon reconciles into (daemon.TENANT)
DAEMON_REPLICA = "local"  # and its replica id (daemon.REPLICA)


@click.group("package")
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
    configure into DIRECTORY/build (Release, with -DCloacina_DIR set to this install's SDK so
    find_package(Cloacina) finds it) and build there. The build tool's output streams
    to stderr; the built library's path is printed on stdout.
    """
    with user_errors():
        library = build_project(directory, echo=to_stderr)
    click.echo(str(library))


@package_group.command(
    "pack", short_help="Validate the built library and write <name>-<version>.cloacina."
)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--library",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Pack this library (built any way) instead of a project's: its name and version "
    "are the ones it declares; no project directory is read.",
)
@click.option(
    "--language",
    type=click.Choice(["c", "rust"]),
    default=None,
    help="With --library: the manifest's language.  [default: rust if rustc built it, else c]",
)
@click.option(
    "--description",
    default="",
    help="With --library: the manifest's description.",
)
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
@click.option(
    "--sign",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Sign the archive with this private key (`signer keygen`): writes <archive>.sig.",
)
def package_pack(
    directory: Path | None,
    library: Path | None,
    language: str | None,
    description: str,
    out_dir: Path | None,
    timeout: float,
    key_file: Path | None,
) -> None:
    """Validate DIRECTORY's built library (default: .) and write <name>-<version>.cloacina.

    The library is opened in a child process first, so a broken one cannot crash this
    command; its ABI, declarations and graph topologies are checked, and its declared name
    and version must match the project's package.toml (or Cargo.toml / CMakeLists.txt).
    With --library FILE, that library is packed as it is (e.g. one built with `cc -shared`).
    Prints the archive's file name on stdout.
    """
    if library is not None and directory is not None:
        raise click.UsageError("give a project DIRECTORY or --library FILE, not both")
    if library is None and (language is not None or description):
        raise click.UsageError("--language and --description go with --library")
    with user_errors():
        if library is not None:
            to_stderr(f"Packing {library}")
            archive = pack_library(
                library,
                out_dir,
                language=language,
                description=description,
                timeout=timeout,
                status=to_stderr,
            )
        else:
            project = directory or Path(".")
            to_stderr(f"Packing {project}")
            archive = pack_project(project, out_dir, timeout=timeout, status=to_stderr)
        if key_file is not None:
            sig = write_signature(archive, key_file)
            to_stderr(f"Signed it: {sig.name}")
    click.echo(archive.name)


@package_group.command("inspect", short_help="Show an archive's manifest and declarations.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@output_option
@click.pass_context
def package_inspect(ctx: click.Context, file: Path) -> None:
    """Show a .cloacina archive's manifest and declarations (after verifying it)."""
    with user_errors():
        manifest = read_archive(file).manifest
    if structured(ctx):
        emit_json(manifest.to_dict())
        return
    console = Console(highlight=False)
    for item in manifest_tables(manifest):
        console.print(item)
        console.print()


@package_group.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The archive's detached signature.  [default: FILE.sig when it exists]",
)
@remote_options
@click.pass_context
def package_upload(ctx: click.Context, file: Path, signature: Path | None) -> None:
    """Upload a .cloacina archive to the tenant; prints its id and load status.

    The server loads it at once: `loaded`, `pending` with the reason (e.g. a subscriber
    whose publisher's reactor is not loaded yet; it is retried) or `failed` with the reason.
    FILE.sig (from `package pack --sign`) goes along when it exists.
    """
    sig_file = signature or file.with_name(file.name + SIG_SUFFIX)
    signed = sig_file.read_bytes() if sig_file.is_file() else None
    with remote(ctx) as r:
        body = _upload(r, file, signed)
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
    if body.get("signer"):
        fields([("signer", body["signer"])])
    if body.get("reason"):
        fields([("reason", body["reason"])])


def _upload(r: Remote, file: Path, signature: bytes | None) -> Any:
    size = file.stat().st_size
    path = r.path("packages")
    err = Console(stderr=True, highlight=False)
    if not err.is_terminal:
        to_stderr(f"Uploading {file.name} ({size} bytes) to {r.client.server} (tenant {r.tenant})")
        return r.client.upload(path, file, lambda _: None, signature)
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

        return r.client.upload(path, file, advance, signature)


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
            items = r.client.get_all(r.path("packages"))["items"]
        columns = ["id", "name", "version", "status", "reason", "reactors", "graphs"]
        if any(len(i.get("replicas", [])) > 1 for i in items):  # servers on one database
            columns.append("summary")
    if structured(ctx):
        emit_json(items)
        return
    show(table("packages", columns, [[i.get(c) for c in columns] for i in items]))


def _daemon_status(data_dir: Path) -> list[dict[str, Any]]:
    from ..control.datadir import sqlite_url
    from ..control.store import Store

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
    return [
        {k: v for k, v in row.to_dict().items() if k in keys}
        for replica, row in rows
        if replica == DAEMON_REPLICA
    ]


@package_group.command("retry")
@click.argument("ref", metavar="ID|NAME[@VERSION]")
@remote_options
@click.pass_context
def package_retry(ctx: click.Context, ref: str) -> None:
    """Let a quarantined package (crashed or hung its tenant's worker) load again.

    Uploading the package again does the same. If it crashes the worker again, it is
    quarantined again."""
    with remote(ctx) as r:
        body = r.client.post(r.path("packages", ref, "retry"))
    if r.json:
        emit_json(body)
        return
    reason = f": {body['reason']}" if body.get("reason") else ""
    click.echo(f"OK: package {body['name']} is {body['status']}{reason}")


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


package_group.add_command(package_sign)
