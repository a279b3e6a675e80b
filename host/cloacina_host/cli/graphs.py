"""``graph list|status|accumulators|outputs|topology``: what a tenant has loaded, how it is
bound, and what it produced."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.live import Live
from rich.text import Text

from ..control.topology import to_dot, to_mermaid
from .client import RemoteError, segment
from .options import Remote, emit_json, remote, remote_options
from .tables import (
    FireRate,
    console,
    criteria_text,
    field_lines,
    fire_count,
    graphs_table,
    rate_line,
    reactors_table,
    render,
    runs_table,
    show,
    subscribers_text,
    table,
    text_of,
    watch_line,
    when,
)


@click.group("graph")
def graph_group() -> None:
    """Reactors, computation graphs, accumulators and outputs of the tenant."""


@graph_group.command("list")
@remote_options
@click.pass_context
def graph_list(ctx: click.Context) -> None:
    """List the loaded reactors (with their accumulators) and graphs."""
    with remote(ctx) as r:
        reactors = r.client.get_all(r.path("reactors"))["items"]
        graphs = r.client.get_all(r.path("graphs"))["items"]
    if r.json:
        emit_json({"reactors": reactors, "graphs": graphs})
        return
    show(reactors_table(reactors), graphs_table(graphs))


@graph_group.command("status")
@click.argument("name")
@click.option(
    "--watch",
    "-w",
    is_flag=True,
    help="Redraw the status every --interval seconds with its live fire rate (a reactor's "
    "fires, a graph's ok runs, per second over the last interval) until Ctrl-C; with -o "
    "json one JSON object per line.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="How often --watch redraws.",
)
@remote_options
@click.pass_context
def graph_status(ctx: click.Context, name: str, watch: bool, interval: float) -> None:
    """Show reactor or graph NAME.

    A reactor: its package, accumulators, firing criteria, bound subscribers, fires and the
    last boundary of each accumulator. A graph: its reactor, nodes, runs and last outputs.
    """
    if not watch and ctx.get_parameter_source("interval") is ParameterSource.COMMANDLINE:
        raise click.UsageError("--interval needs --watch")
    with remote(ctx) as r:
        if watch:
            if r.settings.output == "id":
                raise click.UsageError("--watch does not apply to -o id")
            _watch(r, name, interval)
            return
        kind, item = _reactor_or_graph(r, name)
    if r.json:
        emit_json({"kind": kind, **item})
    else:
        click.echo("\n".join(_status_lines(kind, item)))


def _status_lines(kind: str, item: dict[str, Any]) -> list[str]:
    """``graph status`` as ``field: value`` lines."""
    if kind == "reactor":
        pairs: list[tuple[str, Any]] = [
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
        if "owner" in item:  # the JetStream event plane: who fires it, how far it got
            owner = item.get("owner") or "none right now (taking over)"
            pairs += [
                ("owner", f"{owner} (epoch {item.get('epoch')})"),
                ("applied sequence", item.get("applied_sequence")),
            ]
        pairs += [(f"last {acc}", value) for acc, value in (item.get("cache") or {}).items()]
    else:
        last = item.get("last_run") or {}
        pairs = [
            ("graph", item["name"]),
            ("package", item.get("package")),
            ("reactor", item.get("reactor") or "(none: trigger-less)"),
            ("nodes", " -> ".join(item.get("nodes") or [])),
            ("runs", f"{item.get('runs_ok', 0)} ok, {item.get('runs_failed', 0)} failed"),
            ("last run", when(last.get("started_at"))),
            ("last outputs", last.get("outputs")),
        ]
        if last.get("error"):
            pairs.append(("last error", last["error"]))
    return field_lines(pairs)


def _watch(r: Remote, name: str, interval: float) -> None:
    """``graph status --watch``: a sample every ``interval`` seconds, each with the fire rate
    since the one before (None for the first), until Ctrl-C. On a terminal the status is
    redrawn in place (rich's Live); otherwise each sample is printed: one JSON object (or
    YAML document) per sample with ``-o json|yaml``, else one line."""
    out = console()
    live = Live(console=out, auto_refresh=False) if out.is_terminal and not r.json else None
    rate = FireRate()
    stop = threading.Event()
    # Ctrl-C ends the watch between samples, so a sample is never cut half-printed
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
    try:
        if live is not None:
            live.start()
        while not stop.is_set():
            kind, item = _reactor_or_graph(r, name)
            per_second = rate.sample(fire_count(kind, item), time.monotonic())
            if r.json:
                sample = {"kind": kind, **item, "fire_rate": per_second}
                text = render(sample, r.settings.output, indent=False)
                click.echo(("---\n" + text) if r.settings.output == "yaml" else text, nl=False)
            elif live is not None:
                lines = [*_status_lines(kind, item), rate_line(kind, per_second, interval)]
                live.update(Text("\n".join(lines)), refresh=True)
            else:
                click.echo(watch_line(kind, item, per_second))
            sys.stdout.flush()
            stop.wait(interval)
    finally:
        signal.signal(signal.SIGINT, previous)
        if live is not None:
            live.stop()


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
        raise RemoteError(_why_missing(r, name), 404, "not_found") from None


def _why_missing(r: Remote, name: str) -> str:
    """Why ``name`` is not loaded: the stored package that declares it and its status
    (crashed or hung with the reason, pending, failed), or that no package declares it."""
    for item in r.client.get_all(r.path("packages"))["items"]:
        if name in (item.get("reactors") or []) or name in (item.get("graphs") or []):
            continue  # loaded: not why it is missing
        declared = r.client.get(r.path("packages", item["id"])).get("declarations") or {}
        names = {d.get("name") for kind in ("reactors", "graphs") for d in declared.get(kind, [])}
        if name in names and item.get("status") != "superseded":
            reason = f": {item['reason']}" if item.get("reason") else ""
            return (
                f"'{name}' of package '{item['name']}' is not loaded in tenant '{r.tenant}' "
                f"(package {item['status']}{reason})"
            )
    return f"no reactor or graph named '{name}' in tenant '{r.tenant}'"


@graph_group.command("accumulators")
@remote_options
@click.pass_context
def graph_accumulators(ctx: click.Context) -> None:
    """List the accumulators with their event and error counts."""
    with remote(ctx) as r:
        items = r.client.get_all(r.path("accumulators"))["items"]
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
                    if r.json:  # one JSON object a line, a YAML document, or a fire number
                        text = render(run, r.settings.output, indent=False)
                        click.echo(
                            ("---\n" + text) if r.settings.output == "yaml" else text, nl=False
                        )
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


@graph_group.command("topology")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg", "json"]),
    default="mermaid",
    show_default=True,
    help="Mermaid flowchart, Graphviz DOT, SVG (drawn by Graphviz's `dot`) or the JSON.",
)
@click.option(
    "--output-file",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write there instead of standard output.",
)
@remote_options
@click.pass_context
def graph_topology(ctx: click.Context, fmt: str, out_file: Path | None) -> None:
    """Draw the tenant's binding graph: packages as groups, accumulator -> reactor ->
    subscriber graphs, cross-package bindings thick, unresolved triggers dashed."""
    with remote(ctx) as r:
        if r.settings.output == "id":
            raise click.UsageError("-o id does not apply to graph topology: use --format")
        topo = r.client.get(r.path("topology"))
    if r.json or fmt == "json":
        text = render(topo, "yaml" if r.settings.output == "yaml" else "json")
    elif fmt == "mermaid":
        text = to_mermaid(topo)
    else:
        text = to_dot(topo) if fmt == "dot" else _svg(to_dot(topo))
    if out_file is None:
        click.echo(text, nl=False)
    else:
        out_file.write_text(text)
        click.echo(f"OK: {fmt} written to {out_file}", err=True)


def _svg(dot: str) -> str:
    """``dot -Tsvg`` of ``dot``; a clear error when Graphviz is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        raise click.ClickException(
            "--format svg needs Graphviz's `dot` (apt install graphviz); "
            "--format dot prints the source instead"
        )
    proc = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise click.ClickException(f"dot -Tsvg failed: {proc.stderr.strip()}")
    return proc.stdout
