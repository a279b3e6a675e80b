"""What a plugin's descriptor says: its declarations and function pointers, read field by
field through :class:`~.ffi.Reader` (which names the place of any defect)."""

from __future__ import annotations

from typing import Any

import orjson

from ..types import (
    AccumulatorDecl,
    AccumulatorKind,
    Criteria,
    GraphDecl,
    InputStrategy,
    NodeDecl,
    PackageDecl,
    ReactorDecl,
)
from .ffi import NULL, Functions, Reader, check_prefix
from .header import FLAG_THREAD_SAFE

__all__ = ["read_descriptor"]


def read_descriptor(desc: Any, source: str) -> tuple[PackageDecl, Functions]:
    """Check the descriptor's prefix, then read every declaration and function pointer."""
    check_prefix(desc, source)
    r = Reader(source)
    name = r.name(desc.package_name, "package_name")
    r.package = name
    version_text = r.name(desc.package_version, "package_version")
    functions = Functions()
    reactors = tuple(
        _read_reactor(r, e, i)
        for i, e in enumerate(
            r.array(
                desc.reactors,
                desc.n_reactors,
                desc.reactor_entry_size,
                "cloacina_reactor_entry",
                "reactors",
            )
        )
    )
    accumulators = _read_accumulators(r, desc, functions)
    graphs = _read_graphs(r, desc, functions)
    if desc.init != NULL:
        functions.init = desc.init
    if desc.shutdown != NULL:
        functions.shutdown = desc.shutdown
    decl = PackageDecl(
        name=name,
        version=version_text,
        abi_version=int(desc.abi_version),
        thread_safe=bool(int(desc.flags) & FLAG_THREAD_SAFE),
        reactors=reactors,
        accumulators=accumulators,
        graphs=graphs,
        has_init=functions.init is not None,
    )
    return decl, functions


def _read_accumulators(r: Reader, desc: Any, functions: Functions) -> tuple[AccumulatorDecl, ...]:
    accumulators = []
    for i, e in enumerate(
        r.array(
            desc.accumulators,
            desc.n_accumulators,
            desc.accumulator_entry_size,
            "cloacina_accumulator_entry",
            "accumulators",
        )
    ):
        acc = _read_accumulator(r, e, i)
        accumulators.append(acc)
        if e.fn != NULL:
            functions.accumulators[acc.name] = e.fn
    return tuple(accumulators)


def _read_graphs(r: Reader, desc: Any, functions: Functions) -> tuple[GraphDecl, ...]:
    graphs = []
    for i, e in enumerate(
        r.array(desc.graphs, desc.n_graphs, desc.graph_entry_size, "cloacina_graph_entry", "graphs")
    ):
        gname = r.name(e.name, f"graphs[{i}].name")
        trigger = r.string(e.trigger_reactor, f"graph '{gname}' trigger_reactor", optional=True)
        nodes = []
        for j, n in enumerate(
            r.array(
                e.nodes,
                e.n_nodes,
                e.node_entry_size,
                "cloacina_node_entry",
                f"graph '{gname}' nodes",
            )
        ):
            node = _read_node(r, n, f"graph '{gname}' nodes[{j}]")
            nodes.append(node)
            if n.fn != NULL:
                functions.nodes[(gname, node.name)] = n.fn
        if e.execute != NULL:
            functions.fused[gname] = e.execute
        graphs.append(GraphDecl(gname, trigger or None, tuple(nodes), e.execute != NULL))
    return tuple(graphs)


def _read_reactor(r: Reader, e: Any, i: int) -> ReactorDecl:
    name = r.name(e.name, f"reactors[{i}].name")
    where = f"reactor '{name}'"
    return ReactorDecl(
        name=name,
        accumulators=r.names(e.accumulators, e.n_accumulators, f"{where} accumulators"),
        criteria=r.enum(Criteria, e.criteria, f"{where} criteria"),
        criteria_accumulators=r.names(
            e.criteria_accumulators, e.n_criteria_accumulators, f"{where} criteria_accumulators"
        ),
        input_strategy=r.enum(InputStrategy, e.input_strategy, f"{where} input_strategy"),
    )


def _read_accumulator(r: Reader, e: Any, i: int) -> AccumulatorDecl:
    name = r.name(e.name, f"accumulators[{i}].name")
    where = f"accumulator '{name}'"
    kind = r.enum(AccumulatorKind, e.kind, f"{where} kind")
    text = r.string(e.config_json, f"{where} config_json", optional=True)
    config: dict[str, Any] = {}
    if text:
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise r.fail(f"{where} config_json", f"is not valid JSON ({exc})") from exc
        if not isinstance(parsed, dict):
            raise r.fail(f"{where} config_json", "is not a JSON object")
        config = parsed
    return AccumulatorDecl(name, kind, config, e.fn != NULL)


def _read_node(r: Reader, n: Any, where: str) -> NodeDecl:
    name = r.name(n.name, f"{where}.name")
    where = f"{where.rsplit(' nodes', 1)[0]} node '{name}'"
    count = r.count(n.routes, n.n_routes, f"{where} routes")
    routes = tuple(
        (
            r.name(n.routes[k].variant, f"{where} routes[{k}].variant"),
            r.name(n.routes[k].target, f"{where} routes[{k}].target"),
        )
        for k in range(count)
    )
    return NodeDecl(
        name=name,
        inputs=r.names(n.inputs, n.n_inputs, f"{where} inputs"),
        next=r.names(n.next, n.n_next, f"{where} next"),
        routes=routes,
        has_function=n.fn != NULL,
    )
