"""How ``cloacinactl`` shows things: rich tables that fit the terminal (falling back to
``field: value`` lines), JSON, YAML, bare identifiers, timestamps. No click here; cli decides
what to show."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import yaml
from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from ..packaging.manifest import Manifest

#: ``-o id``: a record's identifier is the first of these it has (signers' ``key_id``, the
#: ``id`` of packages and keys, the ``name`` of tenants, reactors, graphs and profiles, the
#: ``fire`` number of a graph's run).
ID_FIELDS = ("key_id", "id", "name", "fire")
#: the structured outputs (every ``-o`` but ``table``)
STRUCTURED = ("json", "yaml", "id")


def identifiers(data: Any) -> list[str]:
    """What ``-o id`` prints: each record's identifier (:data:`ID_FIELDS`), in order; a
    mapping without one (``{"reactors": […], "graphs": […]}``) gives those of its lists."""
    if isinstance(data, list):
        return [i for item in data for i in identifiers(item)]
    if isinstance(data, dict):
        for name in ID_FIELDS:
            value = data.get(name)
            if value is not None and value != "" and not isinstance(value, dict | list):
                return [str(value)]
        return [i for v in data.values() if isinstance(v, list) for i in identifiers(v)]
    return []


def render(data: Any, output: str, *, indent: bool = True) -> str:
    """``data`` as ``-o json`` (indented, or one line), ``yaml`` or ``id`` prints it, with
    its final newline."""
    if output == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    if output == "id":
        return "".join(f"{i}\n" for i in identifiers(data))
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(data, option=option).decode() + "\n"


def emit_as(data: Any, output: str) -> None:
    """Print ``data`` as ``-o output`` asks (``json``, ``yaml`` or ``id``)."""
    print(render(data, output), end="")


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def text_of(value: Any) -> str:
    """A value as a table cell or a ``field: value`` line."""
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(text_of(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def when(stamp: Any) -> str:
    """A timestamp as ISO 8601 UTC to the second: the API's RFC 3339 strings
    (``2026-12-01T15:24:20.123456Z``), or epoch seconds (the local runtime's runs); ``-``
    for none or anything else."""
    if isinstance(stamp, str):
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            return "-"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    elif isinstance(stamp, int | float) and not isinstance(stamp, bool):
        moment = datetime.fromtimestamp(stamp, UTC)
    else:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: Columns of free text that wrap to fit the terminal; the others (names, ids) do not.
WRAPPED = frozenset(
    {"description", "reason", "accumulators", "fires when", "subscribers"}
    | {"nodes", "outputs", "error", "server", "key"}
)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> RenderableType:
    """Rows as a table that fits the terminal, or ``<title>: none`` when there are none.

    Names and ids are never cut; free-text columns (:data:`WRAPPED`) wrap at spaces. When
    even that does not fit, each row is printed as ``column: value`` lines instead. Cells are
    plain text: brackets in names or reasons are not rich markup.
    """
    cells = [[text_of(v) for v in row] for row in rows]
    if not cells:
        return Text(f"{title}: none")
    widths = fit_widths(columns, cells, console().width)
    if widths is None:
        lines = [title]
        for row in cells:
            lines.append("")
            lines += [f"{c}: {v}" for c, v in zip(columns, row, strict=True)]
        return Text("\n".join(lines))
    t = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    for column, width in zip(columns, widths, strict=True):
        t.add_column(column, width=width, no_wrap=column not in WRAPPED, overflow="fold")
    for row in cells:
        t.add_row(*(Text(cell) for cell in row))
    return t


def fit_widths(columns: Sequence[str], cells: list[list[str]], width: int) -> list[int] | None:
    """Column widths that fit ``width`` (None when they cannot): every column gets its
    natural width if that fits; else wrapped columns shrink, each no further than its longest
    word, in proportion to how much they could give."""
    overhead = 3 * (len(columns) - 1)  # one divider and two spaces of padding between columns
    natural = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    if sum(natural) + overhead <= width:
        return natural
    least = [
        max(10, *(len(w) for row in cells for w in row[i].split())) if c in WRAPPED else natural[i]
        for i, c in enumerate(columns)
    ]
    least = [min(lo, n) for lo, n in zip(least, natural, strict=True)]
    room = width - overhead - sum(least)
    if room < 0:
        return None
    slack = [n - lo for n, lo in zip(natural, least, strict=True)]
    total = sum(slack)
    return [lo + (room * s // total if total else 0) for lo, s in zip(least, slack, strict=True)]


def show(*items: RenderableType) -> None:
    out = console()
    for i, item in enumerate(items):
        if i:
            out.print()
        out.print(item)


def field_lines(pairs: Iterable[tuple[str, Any]]) -> list[str]:
    """``field: value`` lines, unaligned so they can be grepped literally."""
    return [f"{name}: {text_of(value)}" for name, value in pairs]


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """Print :func:`field_lines`."""
    for line in field_lines(pairs):
        print(line)


def fire_count(kind: str, item: dict[str, Any]) -> int:
    """What ``--watch`` counts: a reactor's fires, a graph's ok runs."""
    return int(item.get("fires" if kind == "reactor" else "runs_ok") or 0)


class FireRate:
    """Fires per second between successive counts (``graph status --watch``)."""

    def __init__(self) -> None:
        self._last: tuple[int, float] | None = None

    def sample(self, count: int, at: float) -> float | None:
        """The rate since the previous sample (None for the first). A count that went down
        (the reactor was reloaded) counts from zero."""
        last, self._last = self._last, (count, at)
        if last is None or at <= last[1]:
            return None
        fired = count - last[0] if count >= last[0] else count
        return fired / (at - last[1])


def rate_text(kind: str, per_second: float | None) -> str:
    unit = "fires/s" if kind == "reactor" else "runs/s"
    return "measuring…" if per_second is None else f"{per_second:.2f} {unit}"


def rate_line(kind: str, per_second: float | None, interval: float) -> str:
    return f"fire rate: {rate_text(kind, per_second)} (over the last {interval:g}s)"


def watch_line(kind: str, item: dict[str, Any], per_second: float | None) -> str:
    """One ``--watch`` sample off a terminal: time, name, count and rate."""
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    if kind == "reactor":
        count = f"fires {item.get('fires') or 0}"
    else:
        count = f"runs {item.get('runs_ok') or 0} ok {item.get('runs_failed') or 0} failed"
    return f"{stamp} {kind} {item['name']}: {count}, {rate_text(kind, per_second)}"


def criteria_text(item: dict[str, Any]) -> str:
    return f"{item.get('criteria', '?')}({text_of(item.get('criteria_accumulators'))})"


def subscribers_text(names: Sequence[str]) -> str:
    return f"{len(names)} ({', '.join(names)})" if names else "0"


def reactors_table(items: list[dict[str, Any]]) -> RenderableType:
    rows = [
        [
            i["name"],
            i.get("package"),
            i.get("accumulators"),
            criteria_text(i),
            subscribers_text(i.get("subscribers") or []),
            i.get("fires"),
        ]
        for i in items
    ]
    columns = ["reactor", "package", "accumulators", "fires when", "subscribers", "fires"]
    return table("reactors", columns, rows)


def graphs_table(items: list[dict[str, Any]]) -> RenderableType:
    rows = [
        [
            i["name"],
            i.get("package"),
            i.get("reactor") or "(none)",
            " -> ".join(i.get("nodes") or []),
            i.get("runs_ok"),
            i.get("runs_failed"),
        ]
        for i in items
    ]
    columns = ["graph", "package", "reactor", "nodes", "ok", "failed"]
    return table("graphs", columns, rows)


def runs_table(title: str, runs: list[dict[str, Any]]) -> RenderableType:
    rows = [
        [
            run.get("fire"),
            when(run.get("started_at")),
            f"{float(run.get('duration_seconds') or 0) * 1000:.2f} ms",
            run.get("outputs"),
            run.get("error"),
        ]
        for run in runs
    ]
    return table(title, ["fire", "started", "took", "outputs", "error"], rows)


def _names(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else "-"


def manifest_tables(manifest: Manifest) -> list[Table | str]:
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
