"""Runs one validated graph across the FFI: node by node, or in one fused call."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from ..errors import PluginCallError
from . import ffi
from .graph import GraphPlan

_NULL_JSON = b"null"


class GraphRun(NamedTuple):
    """One execution of a graph: its terminal outputs, or the error that stopped it.

    Fields: ``graph``, ``reactor`` (None for a trigger-less graph), ``fire`` (the reactor's
    fire number, or the graph's run number), ``started_at`` (epoch seconds), ``duration``
    (seconds), ``outputs`` (terminal node -> its JSON value; None when it failed),
    ``error`` (the sentence naming the node that failed, else None) and ``node_seconds``.

    (A NamedTuple rather than a frozen dataclass: one is made per fire per graph, on
    the hot path, and tuples are several times cheaper to build.)
    """

    graph: str
    reactor: str | None
    fire: int
    started_at: float
    duration: float
    outputs: dict[str, Any] | None
    error: str | None = None
    #: (node, seconds) for each node that ran, when node timing is on (node-by-node only)
    node_seconds: tuple[tuple[str, float], ...] = ()

    @property
    def ok(self) -> bool:
        """True when the run finished without an error."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready values (what the server's API answers)."""
        return {
            "graph": self.graph,
            "reactor": self.reactor,
            "fire": self.fire,
            "started_at": self.started_at,
            "duration_seconds": self.duration,
            "outputs": self.outputs,
            "error": self.error,
            "node_seconds": dict(self.node_seconds),
        }


class _Step(NamedTuple):  # a tuple, so the hot loop can unpack it in one go
    position: int
    name: str
    call: ffi.NativeCall
    sources: tuple[str, ...]
    upstream: tuple[int, ...]
    routes: dict[str, int] | None
    terminal: bool


def _decode(data: bytes, site: ffi.CallSite) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        preview = data[:80].decode("utf-8", "replace")
        raise site.error(f"returned invalid JSON ({exc}): {preview!r}") from exc


def _route(value: Any, out: bytes, routes: dict[str, int], site: ffi.CallSite) -> tuple[int, Any]:
    """The step a routing node's output selects, and the value it hands on."""
    if isinstance(value, str):  # serde's encoding of a unit variant: "Variant"
        variant, inner = value, None
    elif isinstance(value, dict) and len(value) == 1:
        ((variant, inner),) = value.items()
    else:
        raise site.error(
            f"is a routing node but returned {out[:80]!r}; expected a one-key object "
            '{"Variant": value} or a unit variant "Variant"'
        )
    target = routes.get(variant)
    if target is None:
        raise site.error(
            f"returned variant '{variant}', which has no route (routes: {sorted(routes)})"
        )
    return target, inner


class GraphExecutor:
    """Calls a graph's node functions (or its fused function) for one snapshot."""

    def __init__(
        self,
        plan: GraphPlan,
        lib: ffi.NativeLibrary,
        package: str,
        *,
        use_fused: bool = True,
        max_output: int = ffi.DEFAULT_MAX_OUTPUT,
        time_nodes: bool = False,
    ) -> None:
        self.plan = plan
        #: record each node's duration (for metrics); the fused path has no per-node times
        self.time_nodes = time_nodes
        self.lib = lib
        self.package = package
        self.max_output = max_output
        name = plan.name
        order = {node: i for i, node in enumerate(plan.order)}
        steps = []
        for i, node_name in enumerate(plan.order):
            node = plan.node(node_name)
            site = ffi.CallSite(package, f"node '{node_name}' of graph '{name}'")
            steps.append(
                _Step(
                    position=i,
                    name=node_name,
                    call=lib.caller(lib.functions.nodes[(name, node_name)], site, max_output),
                    sources=node.inputs,
                    upstream=tuple(order[u] for u in plan.upstream[node_name]),
                    routes={v: order[t] for v, t in node.routes} if node.routes else None,
                    terminal=node.is_terminal,
                )
            )
        self._steps = tuple(steps)
        fused = lib.functions.fused.get(name) if use_fused else None
        site = ffi.CallSite(package, f"fused function of graph '{name}'")
        self._fused = None if fused is None else lib.caller(fused, site, max_output)
        self._keys = {s: orjson.dumps(s) + b":" for s in plan.decl.sources}

    @property
    def fused(self) -> bool:
        return self._fused is not None

    def run(
        self,
        snapshot: Mapping[str, bytes | None],
        timing: list[tuple[str, float]] | None = None,
    ) -> dict[str, Any]:
        """Run the graph; returns ``{terminal: output}``; raises PluginCallError on failure.

        With ``timing``, each node that ran appends ``(node, seconds)`` to it."""
        with self.lib.leased():
            return self._run(snapshot, timing)

    def run_locked(
        self,
        snapshot: Mapping[str, bytes | None],
        timing: list[tuple[str, float]] | None = None,
    ) -> dict[str, Any]:
        """:meth:`run` for a caller holding the reactor lock this graph is bound under.

        Unbinding takes that lock before the library can be closed, so the library stays
        mapped without a lease; only non-thread-safe libraries are serialized."""
        with self.lib.serial:
            return self._run(snapshot, timing)

    def _run(
        self, snapshot: Mapping[str, bytes | None], timing: list[tuple[str, float]] | None
    ) -> dict[str, Any]:
        if self._fused is not None:
            return self._run_fused(self._fused, snapshot)
        produced: list[bytes | None] = [None] * len(self._steps)
        routed: list[int] = [-1] * len(self._steps)
        results: dict[str, Any] = {}
        loads = orjson.loads
        for index, name, call, sources, upstream, routes, terminal in self._steps:
            args = [snapshot.get(s) or _NULL_JSON for s in sources]
            if upstream:
                delivered = False
                for u in upstream:
                    value = produced[u]
                    if value is not None and (routed[u] < 0 or routed[u] == index):
                        args.append(value)
                        delivered = True
                    else:
                        args.append(_NULL_JSON)
                if not delivered:
                    continue  # every upstream edge was an untaken route
            if timing is None:
                out = call(args)
            else:
                t0 = time.perf_counter()
                out = call(args)
                timing.append((name, time.perf_counter() - t0))
            try:
                value = loads(out)
            except orjson.JSONDecodeError:
                value = _decode(out, call.site)  # raises the error naming the node
            if routes is not None:
                routed[index], inner = _route(value, out, routes, call.site)
                produced[index] = orjson.dumps(inner)
            else:
                produced[index] = out
            if terminal:
                results[name] = value
        return results

    def _run_fused(
        self, fused: ffi.NativeCall, snapshot: Mapping[str, bytes | None]
    ) -> dict[str, Any]:
        payload = (
            b"{"
            + b",".join(key + (snapshot.get(s) or _NULL_JSON) for s, key in self._keys.items())
            + b"}"
        )
        value = _decode(fused([payload]), fused.site)
        if not isinstance(value, dict):
            raise fused.site.error(
                f"returned {type(value).__name__}, expected an object of terminal outputs"
            )
        return value


@dataclass
class LiveGraph:
    """A loaded graph: its executor, its recent runs and its run counts. Bound to a reactor
    (which fires it) or trigger-less (invoked on demand)."""

    name: str
    package: str
    executor: GraphExecutor
    runs: deque[GraphRun]
    ok_total: int = 0
    failed_total: int = 0

    def record(self, run: GraphRun) -> None:
        self.runs.append(run)
        if run.error is None:
            self.ok_total += 1
        else:
            self.failed_total += 1


def timed_run(
    executor: GraphExecutor,
    snapshot: Mapping[str, bytes | None],
    reactor: str | None,
    fire: int,
    started: float | None = None,
    *,
    locked: bool = False,
) -> GraphRun:
    """Run and capture the outcome as a :class:`GraphRun` (never raises a plugin error).

    ``started`` is the wall-clock start (taken now when not given); ``locked`` says the
    caller holds the reactor lock the graph is bound under (see :meth:`run_locked`)."""
    if started is None:
        started = time.time()
    timing: list[tuple[str, float]] | None = [] if executor.time_nodes else None
    t0 = time.perf_counter()
    try:
        run = executor.run_locked if locked else executor.run
        outputs: dict[str, Any] | None = run(snapshot, timing)
        error = None
    except PluginCallError as exc:
        outputs, error = None, str(exc)
    duration = time.perf_counter() - t0
    nodes = tuple(timing) if timing else ()
    return GraphRun(executor.plan.name, reactor, fire, started, duration, outputs, error, nodes)
