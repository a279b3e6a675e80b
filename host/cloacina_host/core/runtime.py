"""One tenant's runtime: its loaded packages, reactors and graphs (:class:`Runtime`).

Typical use::

    from cloacina_host import Host

    host = Host()
    rt = host.runtime("acme")
    rt.load("libpricing_publisher.so")       # step 3 registers PriceReactor
    rt.load("libpricing_subscriber.so")      # step 5 binds price_consumer to it
    rt.push("raw_prices", {"symbol": "BTCUSD", "price": 42000})
    rt.outputs("price_consumer")[-1].outputs  # {"publish": {"signal": ...}}
    rt.unload("pricing-subscriber")          # subscribers first ...
    rt.unload("pricing-publisher")           # ... then the publisher
    host.close()

Loading runs the six load steps in order (1 cron triggers, 2 custom-poll triggers,
3 reactors, 4 trigger-less graphs, 5 reactor-bound graphs, 6 workflows; see
docs/architecture.md); steps with nothing declared are skipped and logged. A failing step
unwinds the steps already done for that package. Unloading runs the steps in reverse and is
refused by the bound-subscriber guard while graphs of other packages are bound to one of the
package's reactors. Hot replace lives in :mod:`.replace`.

The tenant's :class:`~.registry.Registry` is the one table of names: the runtime looks every
reactor, accumulator and graph up there.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from ..errors import CloacinaError, GuardError, InvalidInputError, LoadError, NotFoundError
from ..log import get_logger
from ..types import GraphDecl, PackageDecl
from . import loader
from .accumulator import Accumulator
from .executor import GraphExecutor, GraphRun, LiveGraph, timed_run
from .reactor import NullObserver, Observer, Reactor
from .records import STEPS, LoadRecord, PackageState, UnloadReport
from .registry import Registry
from .replace import replace_package

log = get_logger()

loads = orjson.loads


def encode_event(event: Any, kind: str, name: str) -> bytes:
    """JSON bytes for an event: text/bytes are validated, other values are serialized.

    ``kind`` and ``name`` say what the event is for ("accumulator", "raw_prices"), for the
    error message only."""
    if type(event) is bytes:  # the hot path: the server and most callers hand over bytes
        try:
            loads(event)
        except orjson.JSONDecodeError as exc:
            raise InvalidInputError(f"event for {kind} '{name}' is not valid JSON: {exc}") from exc
        return event
    if isinstance(event, bytearray | memoryview | str):
        return encode_event(
            event.encode("utf-8") if isinstance(event, str) else bytes(event), kind, name
        )
    try:
        return orjson.dumps(event)
    except TypeError as exc:
        raise InvalidInputError(
            f"event for {kind} '{name}' cannot be encoded as JSON: {exc}"
        ) from exc


class Runtime:
    """One tenant's loaded packages, reactors and graphs."""

    def __init__(
        self,
        tenant: str,
        *,
        observer: Observer | None = None,
        keep_outputs: int = 100,
        scratch_dir: Path | None = None,
        use_fused: bool = True,
    ) -> None:
        self.tenant = tenant
        self.registry: Registry[Reactor, LiveGraph] = Registry(tenant)
        self.observer: Observer = observer or NullObserver()
        self.keep_outputs = keep_outputs
        self.use_fused = use_fused
        self._scratch = scratch_dir
        self.lock = threading.RLock()
        self._records: dict[str, LoadRecord] = {}
        self._log = log.bind(tenant=tenant)

    # ------------------------------------------------------------------ load

    def open(self, path: str | Path, config: dict[str, Any] | None = None) -> loader.Plugin:
        """Open and validate a library for this tenant (nothing is registered yet)."""
        return loader.open_plugin(Path(path), config=config, scratch_dir=self._scratch)

    def load(self, path: str | Path, *, config: dict[str, Any] | None = None) -> PackageDecl:
        """Load a plugin library and bind its graphs; returns its declarations.

        Raises a :class:`~cloacina_host.errors.LoadError` subclass (the subscriber-first
        case is :class:`~cloacina_host.errors.ReactorNotLoadedError`); nothing already
        loaded is affected by a failed load.
        """
        plugin = self.open(path, config)
        try:
            with self.lock:
                self.check_load(plugin)
                record = LoadRecord(plugin)
                self.apply(record)
        except CloacinaError as exc:
            plugin.close()
            self._log.warning("load_failed", package=plugin.name, path=str(path), error=str(exc))
            raise
        except BaseException:
            plugin.close()
            raise
        self._log.info(
            "package_loaded",
            package=plugin.name,
            version=plugin.decl.version,
            reactors=record.reactors,
            graphs=[g.name for g in plugin.decl.graphs],
        )
        return plugin.decl

    def check_load(self, plugin: loader.Plugin, *, replacing: str | None = None) -> None:
        """Every check a load can fail, before anything changes."""
        decl = plugin.decl
        if decl.name in self._records and decl.name != replacing:
            existing = self._records[decl.name].plugin.decl.version
            raise LoadError(
                f"package '{decl.name}' is already loaded in tenant '{self.tenant}' "
                f"(version {existing}); unload it first",
                tenant=self.tenant,
                package=decl.name,
            )
        self.registry.check_names(decl, replacing=replacing)
        own = {r.name: r for r in decl.reactors}
        for graph in decl.graphs:
            if graph.trigger_reactor is not None:
                try:
                    self.registry.check_binding(decl.name, graph, own, replacing=replacing)
                except CloacinaError as exc:
                    self._log.warning(
                        "bind_failed",
                        package=decl.name,
                        graph=graph.name,
                        reactor=graph.trigger_reactor,
                        error=str(exc),
                    )
                    raise

    def apply(self, record: LoadRecord) -> None:
        """Run the load steps for a checked package, unwinding them if one fails."""
        undo: list[Callable[[], None]] = []
        decl = record.plugin.decl
        try:
            for number, title in STEPS:
                did = self._step(number, record, undo)
                if did:
                    self._log.info(
                        "load_step", package=decl.name, step=number, title=title, names=did
                    )
                else:
                    self._log.info(
                        "load_step_skipped",
                        package=decl.name,
                        step=number,
                        title=title,
                        reason="nothing declared",
                    )
            self._records[decl.name] = record
            record.move(PackageState.LOADED)
        except BaseException:
            for action in reversed(undo):
                action()
            record.move(PackageState.FAILED)
            raise

    def _step(self, number: int, record: LoadRecord, undo: list[Callable[[], None]]) -> list[str]:
        plugin = record.plugin
        decl = plugin.decl
        if number == 3:
            for r in decl.reactors:
                accs = {
                    a: Accumulator(
                        plugin.accumulator(a),
                        r.name,
                        decl.name,
                        plugin.lib,
                        plugin.lib.functions.accumulators.get(a),
                    )
                    for a in r.accumulators
                }
                reactor = Reactor(r, decl.name, self.tenant, accs, self.observer)
                self.registry.add_reactor(decl.name, r, reactor)
                record.reactors.append(r.name)
                record.accumulators.extend(r.accumulators)
                undo.append(partial(self._drop_reactor, r.name))
            return list(record.reactors)
        if number == 4:
            for g in self._graphs(decl, bound=False):
                self.registry.add_graph(decl.name, g, self._live(plugin, g))
                record.triggerless.append(g.name)
                undo.append(partial(self._unbind, g.name))
            return list(record.triggerless)
        if number == 5:
            for g in self._graphs(decl, bound=True):
                reactor_name = g.trigger_reactor
                assert reactor_name is not None
                live = self._live(plugin, g)
                self.registry.add_graph(decl.name, g, live)
                self.reactor(reactor_name).bind(live)
                record.bound.append((g.name, reactor_name))
                undo.append(partial(self._unbind, g.name))
                self._log.info(
                    "graph_bound",
                    package=decl.name,
                    graph=g.name,
                    reactor=reactor_name,
                    reactor_package=self.registry.owner_of_reactor(reactor_name),
                )
            return [g for g, _ in record.bound]
        return []  # steps 1, 2 and 6: ABI 1 declares no cron/poll triggers or workflows

    @staticmethod
    def _graphs(decl: PackageDecl, *, bound: bool) -> list[GraphDecl]:
        return [g for g in decl.graphs if (g.trigger_reactor is not None) == bound]

    def _live(self, plugin: loader.Plugin, graph: GraphDecl) -> LiveGraph:
        executor = GraphExecutor(
            plugin.plans[graph.name],
            plugin.lib,
            plugin.name,
            use_fused=self.use_fused,
            time_nodes=not isinstance(self.observer, NullObserver),
        )
        return LiveGraph(graph.name, plugin.name, executor, deque(maxlen=self.keep_outputs))

    # ------------------------------------------------------------------ unload

    def unload(self, package: str) -> UnloadReport:
        """Unload a package (steps 6 → 1). Refused by the guard while other packages'
        graphs are bound to its reactors; then nothing is torn down."""
        with self.lock:
            record = self.record(package)
            try:
                self.registry.check_teardown(package, record.reactors)
            except GuardError as exc:
                self._log.warning(
                    "unload_refused", package=package, reactors=record.reactors, error=str(exc)
                )
                raise
            unbound = self.teardown(record)
            record.plugin.close()
            record.move(PackageState.UNLOADED)
        report = UnloadReport(package, unbound, tuple(record.reactors))
        self._log.info(
            "package_unloaded", package=package, unbound=unbound, torn_down=list(report.torn_down)
        )
        return report

    def replace(self, path: str | Path, *, config: dict[str, Any] | None = None) -> PackageDecl:
        """Hot-replace a loaded package with another version (see :mod:`.replace`)."""
        return replace_package(self, path, config)

    def teardown(self, record: LoadRecord) -> dict[str, int]:
        """Undo a package's load steps (6 -> 1) without closing its library; returns the
        remaining subscriber count of each foreign reactor it unbound from."""
        record.move(PackageState.UNLOADING)
        unbound: dict[str, int] = {}
        for graph, reactor in reversed(record.bound):
            self._unbind(graph)
            if reactor not in record.reactors:
                unbound[reactor] = len(self.registry.subscribers(reactor))
        for graph in reversed(record.triggerless):
            self._unbind(graph)
        for reactor in reversed(record.reactors):
            self._drop_reactor(reactor)
        del self._records[record.name]
        return unbound

    def _unbind(self, graph: str) -> None:
        entry = self.registry.remove_graph(graph)
        if entry is not None and entry.reactor is not None:
            reactor = self.registry.reactor(entry.reactor)
            if reactor is not None:
                reactor.live.unbind(graph)

    def _drop_reactor(self, name: str) -> None:
        entry = self.registry.remove_reactor(name)
        if entry is not None:
            entry.live.stop()

    def close(self) -> None:
        """Unload everything, subscribers first (used at shutdown; bypasses the guard)."""
        with self.lock:
            for record in list(self._records.values()):
                for graph, _ in record.bound:
                    self._unbind(graph)
            for name in reversed(list(self._records)):
                self.unload(name)

    # ------------------------------------------------------------------ events

    def reactor_of(self, accumulator: str) -> Reactor:
        """The reactor an accumulator feeds."""
        entry = self.registry.reactor_of(accumulator)
        if entry is None:
            raise self._not_loaded("accumulator", accumulator)
        return entry.live

    def push(self, accumulator: str, event: Any) -> int:
        """Push one JSON event (bytes/str are validated, other values serialized).
        Returns the number of reactor fires it caused."""
        data = encode_event(event, "accumulator", accumulator)
        return self.reactor_of(accumulator).push(accumulator, (data,))

    def push_many(self, accumulator: str, events: Iterable[Any]) -> int:
        """Push several events in one reactor wake-up (``latest`` coalesces their fires)."""
        data = [encode_event(e, "accumulator", accumulator) for e in events]
        return self.reactor_of(accumulator).push(accumulator, data)

    def reactor(self, name: str) -> Reactor:
        """A loaded reactor (its ``state``, ``stats.fires``, ``state_snapshot()``)."""
        entry = self.registry.reactor(name)
        if entry is None:
            raise self._not_loaded("reactor", name)
        return entry.live

    def fire(self, reactor: str, inputs: dict[str, Any] | None = None) -> list[GraphRun]:
        """Fire a reactor now (``force_fire``), optionally with replaced inputs (``fire_with``)."""
        encoded = {k: encode_event(v, "input", k) for k, v in (inputs or {}).items()}
        return self.reactor(reactor).fire(encoded or None)

    def invoke(self, graph: str, inputs: dict[str, Any] | None = None) -> GraphRun:
        """Run a trigger-less graph on demand with the given source values."""
        entry = self.registry.graph(graph)
        if entry is None or entry.reactor is not None:
            raise self._not_loaded("trigger-less graph", graph, "graph")
        live = entry.live
        snapshot = {k: encode_event(v, "input", k) for k, v in (inputs or {}).items()}
        run = timed_run(live.executor, snapshot, None, len(live.runs) + 1)
        live.record(run)
        self.observer.graph_finished(self.tenant, run)
        return run

    def tick(self, now: float | None = None) -> int:
        """Time-driven work (batch flushes, polling accumulators); returns fires."""
        moment = time.monotonic() if now is None else now
        return sum(r.tick(moment) for r in self.reactors())

    def pause(self, reactor: str) -> None:
        """Stop a reactor firing; its accumulators still take events."""
        self.reactor(reactor).pause()

    def resume(self, reactor: str) -> int:
        """Let a paused reactor fire again (at once when its criteria hold); returns the
        fires resuming caused."""
        return self.reactor(reactor).resume()

    # ------------------------------------------------------------------ views

    def graph(self, name: str) -> LiveGraph:
        """A loaded graph (bound or trigger-less)."""
        entry = self.registry.graph(name)
        if entry is None:
            raise self._not_loaded("graph", name)
        return entry.live

    def outputs(self, graph: str, last: int | None = None) -> list[GraphRun]:
        """Recent runs of a graph, oldest first."""
        items = list(self.graph(graph).runs)
        return items[-last:] if last else items

    def packages(self) -> list[PackageDecl]:
        """What every loaded package declares, in load order."""
        return [r.plugin.decl for r in self._records.values()]

    def package_record(self, name: str) -> LoadRecord | None:
        """The load record of package ``name`` (None when it is not loaded)."""
        return self._records.get(name)

    def record(self, package: str) -> LoadRecord:
        """The load record of a loaded package."""
        record = self._records.get(package)
        if record is None:
            raise self._not_loaded("package", package)
        return record

    def _not_loaded(self, what: str, name: str, kind: str | None = None) -> NotFoundError:
        """``<what> '<name>' is not loaded in tenant '<tenant>'``, naming the thing."""
        names = {"tenant": self.tenant, kind or what: name}
        return NotFoundError(f"{what} '{name}' is not loaded in tenant '{self.tenant}'", **names)

    def reactors(self) -> list[Reactor]:
        """Every loaded reactor."""
        return [e.live for e in self.registry.reactors()]

    def accumulators(self) -> list[Accumulator]:
        """Every accumulator of every loaded reactor (``events_total``, ``last_error``…)."""
        return [a for r in self.reactors() for a in r.accumulators.values()]

    def counts(self) -> dict[str, int]:
        """Sizes of every internal table (leak checks)."""
        names = self.registry.counts()
        return {
            "packages": len(self._records),
            "reactors": names["reactors"],
            "accumulators": names["accumulators"],
            "graphs": names["graphs"],
            "registry": self.registry.size(),
        }
