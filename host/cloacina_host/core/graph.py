"""The computation-graph model: topology validation and ordering. Pure, no I/O, no FFI."""

from __future__ import annotations

import graphlib
from dataclasses import dataclass

from ..errors import TopologyError
from ..types import GraphDecl, NodeDecl


@dataclass(frozen=True)
class GraphPlan:
    """A validated graph, ready to run.

    ``order`` is a topological order (ties broken by declaration order);
    ``upstream[node]`` lists the nodes with an edge into ``node``, in the order
    those upstream nodes are declared (the order their values are passed in).
    """

    decl: GraphDecl
    order: tuple[str, ...]
    upstream: dict[str, tuple[str, ...]]
    entries: tuple[str, ...]
    terminals: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.decl.name

    def node(self, name: str) -> NodeDecl:
        for node in self.decl.nodes:
            if node.name == name:
                return node
        raise KeyError(name)


def plan_graph(decl: GraphDecl, package: str) -> GraphPlan:
    """Validate ``decl`` and order it; raise :class:`TopologyError` naming the defect."""

    def fail(problem: str) -> TopologyError:
        return TopologyError(
            f"graph '{decl.name}' in package '{package}': {problem}",
            package=package,
            graph=decl.name,
        )

    if not decl.nodes:
        raise fail("has no nodes")
    index: dict[str, int] = {}
    for i, node in enumerate(decl.nodes):
        if node.name in index:
            raise fail(f"declares node '{node.name}' twice")
        index[node.name] = i
    upstream: dict[str, list[str]] = {node.name: [] for node in decl.nodes}
    for node in decl.nodes:
        if not node.has_function:
            raise fail(f"node '{node.name}' has no function")
        if node.next and node.routes:
            raise fail(f"node '{node.name}' declares both next and routes; use one")
        if len(set(node.inputs)) != len(node.inputs):
            raise fail(f"node '{node.name}' lists an input more than once")
        variants = [variant for variant, _ in node.routes]
        if len(set(variants)) != len(variants):
            raise fail(f"node '{node.name}' declares a route variant more than once")
        seen: set[str] = set()
        for target in node.successors:
            if target not in index:
                raise fail(f"node '{node.name}' points to unknown node '{target}'")
            if target == node.name:
                raise fail(f"cycle detected: node '{node.name}' points to itself")
            if target not in seen:
                seen.add(target)
                upstream[target].append(node.name)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node in decl.nodes:
        sorter.add(node.name, *upstream[node.name])
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise fail(f"cycle detected: {cycle}") from exc
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=index.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    entries = tuple(n.name for n in decl.nodes if not upstream[n.name])
    if not entries:
        raise fail("has no entry node (every node has an upstream edge)")
    return GraphPlan(
        decl=decl,
        order=tuple(order),
        upstream={k: tuple(sorted(v, key=index.__getitem__)) for k, v in upstream.items()},
        entries=entries,
        terminals=tuple(n.name for n in decl.nodes if n.is_terminal),
    )
