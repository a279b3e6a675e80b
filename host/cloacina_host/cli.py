"""``cloacinactl``: the command line.

Only this module names the CLI library (click). Every flag that has an
environment fallback says so in ``--help``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import orjson
from rich import box
from rich.console import Console
from rich.table import Table

from . import __version__, building, demo, log, packages
from .errors import CloacinaError
from .probe import DEFAULT_TIMEOUT

EXIT_USER = 1


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`CloacinaError` into ``Error: <message>`` on stderr and exit status 1."""
    try:
        yield
    except CloacinaError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USER)


def _stderr(line: str) -> None:
    click.echo(line, err=True)


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


# --------------------------------------------------------------------------- package


@main.group("package")
def package_group() -> None:
    """Build, pack and inspect .cloacina packages."""


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
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Human-readable tables, or the manifest as JSON.",
)
def package_inspect(file: Path, output: str) -> None:
    """Show a .cloacina archive's manifest and declarations (after verifying it)."""
    with user_errors():
        manifest = packages.read_archive(file).manifest
    if output == "json":
        click.echo(orjson.dumps(manifest.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    console = Console(highlight=False)
    for table in manifest_tables(manifest):
        console.print(table)
        console.print()


def _names(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else "-"


def manifest_tables(manifest: packages.Manifest) -> list[Table | str]:
    """The manifest, then its reactors, accumulators and graphs, as tables (or a line
    saying there are none)."""
    decls = manifest.declarations
    summary = Table.grid(padding=(0, 2))
    summary.title = f"{manifest.name} {manifest.version}"
    summary.title_justify = "left"
    summary.add_column("field", style="bold", no_wrap=True)
    summary.add_column("value", overflow="fold")
    for field, value in (
        ("description", manifest.description or "-"),
        ("library", manifest.library_file),
        ("size", f"{manifest.size} bytes"),
        ("sha256", manifest.sha256),
        ("abi version", str(manifest.abi_version)),
        ("language", manifest.language),
        ("target", manifest.target),
        ("thread safe", "yes" if decls.get("thread_safe") else "no"),
    ):
        summary.add_row(field, value)
    tables = [summary]

    def section(title: str, *columns: str) -> Table:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for column in columns:
            table.add_column(column, overflow="fold")
        tables.append(table)
        return table

    reactors = section("Reactors", "name", "accumulators", "fires", "input")
    for r in decls["reactors"]:
        criteria = r.get("criteria", "?")
        reactors.add_row(
            r["name"],
            _names(r.get("accumulators")),
            f"{criteria}({_names(r.get('criteria_accumulators'))})",
            str(r.get("input_strategy", "?")),
        )
    accumulators = section("Accumulators", "name", "kind", "function", "config")
    for a in decls["accumulators"]:
        config = a.get("config") or {}
        accumulators.add_row(
            a["name"],
            str(a.get("kind", "?")),
            "yes" if a.get("has_function") else "no",
            orjson.dumps(config).decode() if config else "-",
        )
    graphs = section("Graphs", "graph", "trigger", "node", "inputs", "next")
    for g in decls["graphs"]:
        trigger = g.get("trigger")
        label = f"{g['name']} (fused)" if g.get("fused") else g["name"]
        for i, node in enumerate(g.get("nodes", [])):
            successors = [*node.get("next", [])]
            successors += [f"{v} -> {t}" for v, t in (node.get("routes") or {}).items()]
            graphs.add_row(
                label if i == 0 else "",
                (trigger or "(none)") if i == 0 else "",
                str(node.get("name", "?")),
                _names(node.get("inputs")),
                _names(successors),
            )
    return [t if t.row_count else f"{t.title}: none" for t in tables]
