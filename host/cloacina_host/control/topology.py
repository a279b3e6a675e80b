"""The binding graph of a tenant, read from its stored manifests: which accumulators feed
which reactor, which subscriber graphs (of which package) hang off it, and in which order its
packages can be deleted without the bound-subscriber guard refusing.

It is drawn from what is *stored* (the newest version of each package), not from what a
runtime has loaded, so a subscriber whose publisher is missing shows as an unresolved trigger
to a ``missing`` reactor, and every replica draws the same picture. Pure: plain values in
(a package's name, version, ``declarations`` table and status), JSON-ready dicts and text out;
the same dict is what ``GET /v1/tenants/{tenant}/topology`` answers and what the CLI renders
as Mermaid or Graphviz DOT (docs/api.md, docs/console.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any


@dataclass(frozen=True)
class StoredPackage:
    """What the topology needs of one stored package (its newest version)."""

    name: str
    version: str
    declarations: Mapping[str, Any]
    status: str = "pending"
    reason: str = ""
    summary: str = ""


@dataclass(frozen=True)
class Blocker:
    """A subscriber graph that keeps a reactor of a package bound."""

    reactor: str
    package: str
    graph: str

    def to_dict(self) -> dict[str, str]:
        return {"reactor": self.reactor, "package": self.package, "graph": self.graph}


@dataclass
class _Builder:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def node(self, node: dict[str, Any]) -> None:
        if node["id"] not in self.seen:
            self.seen.add(node["id"])
            self.nodes.append(node)


def _items(decls: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    value = decls.get(kind) or []
    return [v for v in value if isinstance(v, Mapping) and isinstance(v.get("name"), str)]


def publishers(packages: Iterable[StoredPackage]) -> dict[str, str]:
    """Reactor name -> the package declaring it (the first stored one, should two clash)."""
    owner: dict[str, str] = {}
    for pkg in packages:
        for reactor in _items(pkg.declarations, "reactors"):
            owner.setdefault(str(reactor["name"]), pkg.name)
    return owner


def blockers(package: str, packages: Iterable[StoredPackage]) -> list[Blocker]:
    """The graphs of *other* packages triggered by a reactor ``package`` declares: what the
    bound-subscriber guard refuses its delete for."""
    pkgs = list(packages)
    mine = {
        str(r["name"])
        for p in pkgs
        if p.name == package
        for r in _items(p.declarations, "reactors")
    }
    return [
        Blocker(str(g["trigger"]), p.name, str(g["name"]))
        for p in pkgs
        if p.name != package
        for g in _items(p.declarations, "graphs")
        if g.get("trigger") in mine
    ]


def delete_order(packages: Iterable[StoredPackage], only: set[str] | None = None) -> list[str]:
    """An order in which the packages (or just those in ``only``) can be deleted one by one
    without the guard refusing: every subscriber before its publisher. Packages caught in a
    cycle of subscriptions (which no order can take apart) come last, by name."""
    pkgs = list(packages)
    owner = publishers(pkgs)
    after: dict[str, set[str]] = {p.name: set() for p in pkgs}  # publisher -> its subscribers
    for p in pkgs:
        for graph in _items(p.declarations, "graphs"):
            publisher = owner.get(str(graph.get("trigger")))
            if publisher is not None and publisher != p.name:
                after[publisher].add(p.name)
    if only is not None:
        after = {k: v & only for k, v in after.items() if k in only}
    try:
        return list(
            TopologicalSorter({k: sorted(v) for k, v in sorted(after.items())}).static_order()
        )
    except CycleError:
        order: list[str] = []
        left = dict(after)
        while True:
            ready = sorted(k for k, v in left.items() if not (v & left.keys()))
            if not ready:
                return order + sorted(left)
            order += ready
            for k in ready:
                del left[k]


def safe_order_for(package: str, packages: Iterable[StoredPackage]) -> list[str]:
    """The deletes that let ``package`` go: its subscribers' packages (and theirs, and so on)
    in a safe order, then ``package`` itself."""
    pkgs = list(packages)
    needed, todo = {package}, [package]
    while todo:
        for blocker in blockers(todo.pop(), pkgs):
            if blocker.package not in needed:
                needed.add(blocker.package)
                todo.append(blocker.package)
    return delete_order(pkgs, needed)


def topology(tenant: str, packages: Iterable[StoredPackage]) -> dict[str, Any]:
    """The binding graph (docs/api.md ``GET …/topology``): package, reactor, accumulator and
    graph nodes; ``feeds`` edges (accumulator -> reactor) and ``triggers`` edges (reactor ->
    graph, ``cross_package`` when they live in different packages, ``resolved`` false when no
    stored package declares the reactor); and ``safe_delete_order``."""
    pkgs = list(packages)
    owner = publishers(pkgs)
    b = _Builder()
    for pkg in pkgs:
        b.node(
            {
                "id": f"package:{pkg.name}",
                "kind": "package",
                "label": f"{pkg.name} {pkg.version}",
                "package": pkg.name,
                "status": pkg.status,
            }
        )
        _reactors(b, pkg, owner)
    for pkg in pkgs:
        _graphs(b, pkg, owner)
    return {
        "tenant": tenant,
        "packages": [
            {
                "name": p.name,
                "version": p.version,
                "status": p.status,
                "reason": p.reason,
                "summary": p.summary,
            }
            for p in pkgs
        ],
        "nodes": b.nodes,
        "edges": b.edges,
        "safe_delete_order": delete_order(pkgs),
    }


def _reactors(b: _Builder, pkg: StoredPackage, owner: Mapping[str, str]) -> None:
    kinds = {
        str(a["name"]): a.get("kind", "passthrough")
        for a in _items(pkg.declarations, "accumulators")
    }
    for reactor in _items(pkg.declarations, "reactors"):
        name = str(reactor["name"])
        if owner.get(name) != pkg.name:
            continue  # a clashing second declaration: the first stored package owns the name
        b.node(
            {
                "id": f"reactor:{name}",
                "kind": "reactor",
                "label": name,
                "package": pkg.name,
                "criteria": reactor.get("criteria"),
                "input_strategy": reactor.get("input_strategy"),
                "missing": False,
            }
        )
        for acc in reactor.get("accumulators") or []:
            acc_id = f"accumulator:{pkg.name}/{acc}"
            b.node(
                {
                    "id": acc_id,
                    "kind": "accumulator",
                    "label": str(acc),
                    "package": pkg.name,
                    "reactor": name,
                    "accumulator_kind": kinds.get(str(acc), "passthrough"),
                }
            )
            b.edges.append(
                {
                    "source": acc_id,
                    "target": f"reactor:{name}",
                    "kind": "feeds",
                    "cross_package": False,
                }
            )


def _graphs(b: _Builder, pkg: StoredPackage, owner: Mapping[str, str]) -> None:
    for graph in _items(pkg.declarations, "graphs"):
        name, trigger = str(graph["name"]), graph.get("trigger")
        b.node(
            {
                "id": f"graph:{name}",
                "kind": "graph",
                "label": name,
                "package": pkg.name,
                "trigger": trigger,
                "nodes": [
                    str(n.get("name")) for n in graph.get("nodes") or [] if isinstance(n, Mapping)
                ],
            }
        )
        if not isinstance(trigger, str):
            continue  # a trigger-less graph: fired by nothing but a direct call
        publisher = owner.get(trigger)
        if publisher is None:
            b.node(
                {
                    "id": f"reactor:{trigger}",
                    "kind": "reactor",
                    "label": trigger,
                    "package": None,
                    "criteria": None,
                    "input_strategy": None,
                    "missing": True,
                }
            )
        b.edges.append(
            {
                "source": f"reactor:{trigger}",
                "target": f"graph:{name}",
                "kind": "triggers",
                "cross_package": publisher is not None and publisher != pkg.name,
                "resolved": publisher is not None,
            }
        )


# --------------------------------------------------------------------------- rendering


def _ident(node_id: str) -> str:
    """A Mermaid/DOT-safe identifier for a node id."""
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


_SHAPES = {"reactor": ('{{"', '"}}'), "accumulator": ('(["', '"])'), "graph": ('["', '"]')}


def to_mermaid(topo: Mapping[str, Any]) -> str:
    """A Mermaid ``flowchart`` of the binding graph: one subgraph per package, the
    cross-package edges thick (``==>``), unresolved triggers dotted (``-.->``)."""
    lines = ["flowchart LR"]
    nodes = [n for n in topo["nodes"] if n["kind"] != "package"]
    for pkg in topo["packages"]:
        title = f"{pkg['name']} {pkg['version']} ({pkg['status']})"
        lines.append(f'  subgraph {_ident("package:" + pkg["name"])}["{_mermaid_text(title)}"]')
        for n in nodes:
            if n["package"] == pkg["name"]:
                lines.append(f"    {_mermaid_node(n)}")
        lines.append("  end")
    for n in nodes:
        if n["package"] is None:
            lines.append(f"  {_mermaid_node(n)}")
    for e in topo["edges"]:
        arrow = "==>" if e.get("cross_package") else "-->"
        if e.get("resolved") is False:
            arrow = "-.->"
        lines.append(f"  {_ident(e['source'])} {arrow} {_ident(e['target'])}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _mermaid_node(n: Mapping[str, Any]) -> str:
    left, right = _SHAPES[n["kind"]]
    label = n["label"] + (" (missing)" if n.get("missing") else "")
    return f"{_ident(n['id'])}{left}{_mermaid_text(label)}{right}"


_DOT_SHAPES = {"reactor": "hexagon", "accumulator": "ellipse", "graph": "box"}


def to_dot(topo: Mapping[str, Any]) -> str:
    """A Graphviz ``digraph`` of the binding graph: one cluster per package, cross-package
    edges bold, unresolved triggers dashed (``dot -Tsvg`` draws it)."""
    lines = [
        f'digraph "{_quoted(str(topo["tenant"]))}" {{',
        "  rankdir=LR;",
        '  node [fontname="Helvetica"];',
    ]
    nodes = [n for n in topo["nodes"] if n["kind"] != "package"]
    for pkg in topo["packages"]:
        title = f"{pkg['name']} {pkg['version']} ({pkg['status']})"
        lines.append(f"  subgraph cluster_{_ident(pkg['name'])} {{")
        lines.append(f'    label="{_quoted(title)}";')
        lines += [f"    {_dot_node(n)}" for n in nodes if n["package"] == pkg["name"]]
        lines.append("  }")
    lines += [f"  {_dot_node(n)}" for n in nodes if n["package"] is None]
    for e in topo["edges"]:
        style = ""
        if e.get("resolved") is False:
            style = " [style=dashed]"
        elif e.get("cross_package"):
            style = ' [style=bold, color="#d9480f", penwidth=2]'
        lines.append(f"  {_ident(e['source'])} -> {_ident(e['target'])}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_node(n: Mapping[str, Any]) -> str:
    label = n["label"] + (" (missing)" if n.get("missing") else "")
    extra = ", style=dashed" if n.get("missing") else ""
    return f'{_ident(n["id"])} [label="{_quoted(label)}", shape={_DOT_SHAPES[n["kind"]]}{extra}];'
