"""The in-process host: one :class:`Runtime` per tenant, and a :class:`Host` holding them.

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

Loading runs the six reconciler steps of SPEC §5 in order (1 cron triggers,
2 custom-poll triggers, 3 reactors, 4 trigger-less graphs, 5 reactor-bound
graphs, 6 workflows); steps with nothing declared are skipped and logged. A
failing step unwinds the steps already done for that package. Unloading runs
the steps in reverse and is refused by the bound-subscriber guard while graphs
of other packages are bound to one of the package's reactors.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import structlog

from . import loader
from .errors import (
    CloacinaError,
    ContractChangedError,
    GuardError,
    InvalidInputError,
    LoadError,
    NotFoundError,
    StateError,
)
from .executor import GraphExecutor, GraphRun, timed_run
from .reactor import Accumulator, NullObserver, Observer, Reactor
from .registry import Registry, guard_message
from .types import GraphDecl, PackageDecl

log = structlog.get_logger("cloacina")

#: The reconciler's load steps, in order (SPEC §5). Unload runs them backwards.
STEPS: tuple[tuple[int, str], ...] = (
    (1, "cron triggers"),
    (2, "custom-poll triggers"),
    (3, "reactors"),
    (4, "trigger-less graphs"),
    (5, "reactor-bound graphs"),
    (6, "workflows"),
)


class PackageState(enum.Enum):
    """Lifecycle of a loaded package. Illegal transitions raise :class:`StateError`."""

    LOADING = "loading"
    LOADED = "loaded"
    UNLOADING = "unloading"
    UNLOADED = "unloaded"
    FAILED = "failed"


_PACKAGE_MOVES = {
    PackageState.LOADING: {PackageState.LOADED, PackageState.FAILED},
    PackageState.LOADED: {PackageState.UNLOADING},
    PackageState.UNLOADING: {PackageState.UNLOADED, PackageState.LOADED},
    PackageState.UNLOADED: set(),
    PackageState.FAILED: set(),
}


@dataclass
class LoadRecord:
    """Every side effect of loading one package, so unload undoes exactly that."""

    plugin: loader.Plugin
    state: PackageState = PackageState.LOADING
    reactors: list[str] = field(default_factory=list)
    accumulators: list[str] = field(default_factory=list)
    triggerless: list[str] = field(default_factory=list)
    bound: list[tuple[str, str]] = field(default_factory=list)  # (graph, reactor)
    loaded_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return self.plugin.name

    def move(self, new: PackageState) -> None:
        if new not in _PACKAGE_MOVES[self.state]:
            raise StateError(
                f"package '{self.name}' cannot go from {self.state.value} to {new.value}",
                package=self.name,
            )
        self.state = new


@dataclass(frozen=True)
class UnloadReport:
    """What an unload did: remaining subscribers of each reactor it unbound from, and
    the reactors it tore down."""

    package: str
    unbound: dict[str, int]
    torn_down: tuple[str, ...]

    def lines(self) -> list[str]:
        out = [f"reactor {r} now has {n} subscribers" for r, n in self.unbound.items()]
        out += [f"reactor {r} torn down" for r in self.torn_down]
        return out or [f"package {self.package} unloaded"]


@dataclass
class _TriggerLess:
    package: str
    executor: GraphExecutor
    runs: deque[GraphRun]


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
        self.registry = Registry(tenant)
        self.observer: Observer = observer or NullObserver()
        self.keep_outputs = keep_outputs
        self.use_fused = use_fused
        self._scratch = scratch_dir
        self._lock = threading.RLock()
        self._records: dict[str, LoadRecord] = {}
        self._reactors: dict[str, Reactor] = {}
        self._by_accumulator: dict[str, Reactor] = {}
        self._triggerless: dict[str, _TriggerLess] = {}
        self._log = log.bind(tenant=tenant)

    # ------------------------------------------------------------------ load

    def load(self, path: str | Path, *, config: dict[str, Any] | None = None) -> PackageDecl:
        """Load a plugin library and bind its graphs; returns its declarations.

        Raises a :class:`~cloacina_host.errors.LoadError` subclass (the subscriber-first
        case is :class:`~cloacina_host.errors.ReactorNotLoadedError`); nothing already
        loaded is affected by a failed load.
        """
        plugin = loader.open_plugin(Path(path), config=config, scratch_dir=self._scratch)
        try:
            with self._lock:
                self._check_load(plugin)
                record = LoadRecord(plugin)
                self._apply(record)
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

    def _check_load(self, plugin: loader.Plugin, *, replacing: str | None = None) -> None:
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

    def _apply(self, record: LoadRecord) -> None:
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
                reactor = Reactor(r, decl.name, self.tenant, accs, self.observer, self.keep_outputs)
                self._reactors[r.name] = reactor
                self._by_accumulator.update(dict.fromkeys(r.accumulators, reactor))
                self.registry.add_reactor(decl.name, r)
                record.reactors.append(r.name)
                record.accumulators.extend(r.accumulators)
                undo.append(partial(self._drop_reactor, r.name))
            return list(record.reactors)
        if number == 4:
            for g in self._graphs(decl, bound=False):
                self.registry.add_graph(decl.name, g)
                self._triggerless[g.name] = _TriggerLess(
                    decl.name, self._executor(plugin, g), deque(maxlen=self.keep_outputs)
                )
                record.triggerless.append(g.name)
                undo.append(partial(self._drop_triggerless, g.name))
            return list(record.triggerless)
        if number == 5:
            for g in self._graphs(decl, bound=True):
                reactor_name = g.trigger_reactor
                assert reactor_name is not None
                executor = self._executor(plugin, g)
                self.registry.add_graph(decl.name, g)
                self._reactors[reactor_name].bind(g.name, decl.name, executor)
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

    def _executor(self, plugin: loader.Plugin, graph: GraphDecl) -> GraphExecutor:
        return GraphExecutor(
            plugin.plans[graph.name],
            plugin.lib,
            plugin.name,
            use_fused=self.use_fused,
            time_nodes=not isinstance(self.observer, NullObserver),
        )

    # ------------------------------------------------------------------ unload

    def unload(self, package: str) -> UnloadReport:
        """Unload a package (steps 6 → 1). Refused by the guard while other packages'
        graphs are bound to its reactors; then nothing is torn down."""
        with self._lock:
            record = self._records.get(package)
            if record is None:
                raise NotFoundError(
                    f"package '{package}' is not loaded in tenant '{self.tenant}'",
                    tenant=self.tenant,
                    package=package,
                )
            try:
                self.registry.check_teardown(package, record.reactors)
            except GuardError as exc:
                self._log.warning(
                    "unload_refused", package=package, reactors=record.reactors, error=str(exc)
                )
                raise
            unbound = self._teardown(record)
            record.plugin.close()
            record.move(PackageState.UNLOADED)
        report = UnloadReport(package, unbound, tuple(record.reactors))
        self._log.info(
            "package_unloaded", package=package, unbound=unbound, torn_down=list(report.torn_down)
        )
        return report

    def replace(self, path: str | Path, *, config: dict[str, Any] | None = None) -> PackageDecl:
        """Hot-replace a loaded package with another version from a new library copy.

        Graphs of other packages bound to the package's reactors stay bound when the new
        version declares those reactors with the same contract (accumulators, criteria,
        strategy); a changed or missing contract is refused while they are bound, and the
        old version keeps running. The reactors' caches carry over.
        """
        plugin = loader.open_plugin(Path(path), config=config, scratch_dir=self._scratch)
        try:
            with self._lock:
                old = self._records.get(plugin.name)
                if old is None:
                    raise NotFoundError(
                        f"package '{plugin.name}' is not loaded in tenant '{self.tenant}'; "
                        "load it instead of replacing it",
                        tenant=self.tenant,
                        package=plugin.name,
                    )
                kept = self._check_contracts(old, plugin)
                self._check_load(plugin, replacing=old.name)
                self._swap(old, plugin, kept)
        except CloacinaError as exc:
            plugin.close()
            self._log.warning("replace_failed", package=plugin.name, error=str(exc))
            raise
        except BaseException:
            plugin.close()
            raise
        self._log.info(
            "package_replaced",
            package=plugin.name,
            old_version=old.plugin.decl.version,
            version=plugin.decl.version,
            kept_bound=sorted(kept),
        )
        return plugin.decl

    def _check_contracts(self, old: LoadRecord, new: loader.Plugin) -> dict[str, list[str]]:
        """Reactors of ``old`` with foreign subscribers, which ``new`` must keep unchanged."""
        kept: dict[str, list[str]] = {}
        new_reactors = {r.name: r for r in new.decl.reactors}
        for name in old.reactors:
            foreign = self.registry.foreign_subscribers(name, old.name)
            if not foreign:
                continue
            before = self.registry.reactor_decl(name)
            after = new_reactors.get(name)
            if after is None or before is None or after.contract() != before.contract():
                change = (
                    "no longer declares it"
                    if after is None
                    else f"changes its contract from {before.to_dict() if before else None} "
                    f"to {after.to_dict()}"
                )
                raise ContractChangedError(
                    f"cannot replace package '{old.name}' with version {new.decl.version}: "
                    f"the new version {change}, and " + guard_message(name, foreign),
                    tenant=self.tenant,
                    package=old.name,
                    reactor=name,
                )
            kept[name] = foreign
        return kept

    def _swap(self, old: LoadRecord, new: loader.Plugin, kept: dict[str, list[str]]) -> None:
        saved = {
            name: (
                dict(self._reactors[name].cache),
                {g: self._reactors[name].subscribers[g] for g in graphs},
            )
            for name, graphs in kept.items()
        }
        self._teardown(old)
        try:
            self._apply(LoadRecord(new))
        except BaseException:
            self._apply(LoadRecord(old.plugin))  # put the old version back
            self._reattach(saved)
            raise
        self._reattach(saved)
        old.plugin.close()
        old.move(PackageState.UNLOADED)

    def _reattach(self, saved: dict[str, tuple[dict[str, bytes | None], dict[str, Any]]]) -> None:
        for name, (cache, subscribers) in saved.items():
            reactor = self._reactors[name]
            reactor.cache.update(cache)
            for graph, sub in subscribers.items():
                reactor.attach(sub)
                self.registry.reactors[name].subscribers[graph] = sub.package

    def _teardown(self, record: LoadRecord) -> dict[str, int]:
        """Undo a package's load steps (6 -> 1) without closing its library; returns the
        remaining subscriber count of each foreign reactor it unbound from."""
        record.move(PackageState.UNLOADING)
        unbound: dict[str, int] = {}
        for graph, reactor in reversed(record.bound):
            self._unbind(graph)
            if reactor not in record.reactors:
                unbound[reactor] = len(self.registry.subscribers(reactor))
        for graph in reversed(record.triggerless):
            self._drop_triggerless(graph)
        for reactor in reversed(record.reactors):
            self._drop_reactor(reactor)
        del self._records[record.name]
        return unbound

    def _unbind(self, graph: str) -> None:
        reactor = self.registry.remove_graph(graph)
        if reactor is not None and reactor in self._reactors:
            self._reactors[reactor].unbind(graph)

    def _drop_triggerless(self, graph: str) -> None:
        self.registry.remove_graph(graph)
        self._triggerless.pop(graph, None)

    def _drop_reactor(self, name: str) -> None:
        reactor = self._reactors.pop(name, None)
        if reactor is not None:
            reactor.stop()
            for acc in reactor.decl.accumulators:
                if self._by_accumulator.get(acc) is reactor:
                    del self._by_accumulator[acc]
        self.registry.remove_reactor(name)

    def close(self) -> None:
        """Unload everything, subscribers first (used at shutdown; bypasses the guard)."""
        with self._lock:
            for record in list(self._records.values()):
                for graph, _ in record.bound:
                    self._unbind(graph)
            for name in reversed(list(self._records)):
                self.unload(name)

    # ------------------------------------------------------------------ events

    def reactor_of(self, accumulator: str) -> Reactor:
        """The reactor an accumulator feeds."""
        reactor = self._by_accumulator.get(accumulator)
        if reactor is None:
            raise NotFoundError(
                f"accumulator '{accumulator}' is not loaded in tenant '{self.tenant}'",
                tenant=self.tenant,
                accumulator=accumulator,
            )
        return reactor

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
        reactor = self._reactors.get(name)
        if reactor is None:
            raise NotFoundError(
                f"reactor '{name}' is not loaded in tenant '{self.tenant}'",
                tenant=self.tenant,
                reactor=name,
            )
        return reactor

    def fire(self, reactor: str, inputs: dict[str, Any] | None = None) -> list[GraphRun]:
        """Fire a reactor now (``force_fire``), optionally with replaced inputs (``fire_with``)."""
        encoded = {k: encode_event(v, "input", k) for k, v in (inputs or {}).items()}
        return self.reactor(reactor).fire(encoded or None)

    def invoke(self, graph: str, inputs: dict[str, Any] | None = None) -> GraphRun:
        """Run a trigger-less graph on demand with the given source values."""
        entry = self._triggerless.get(graph)
        if entry is None:
            raise NotFoundError(
                f"trigger-less graph '{graph}' is not loaded in tenant '{self.tenant}'",
                tenant=self.tenant,
                graph=graph,
            )
        snapshot = {k: encode_event(v, "input", k) for k, v in (inputs or {}).items()}
        run = timed_run(entry.executor, snapshot, None, len(entry.runs) + 1)
        entry.runs.append(run)
        self.observer.graph_finished(self.tenant, run)
        return run

    def tick(self, now: float | None = None) -> int:
        """Time-driven work (batch flushes, polling accumulators); returns fires."""
        moment = time.monotonic() if now is None else now
        return sum(r.tick(moment) for r in list(self._reactors.values()))

    def pause(self, reactor: str) -> None:
        self.reactor(reactor).pause()

    def resume(self, reactor: str) -> int:
        return self.reactor(reactor).resume()

    # ------------------------------------------------------------------ views

    def outputs(self, graph: str, last: int | None = None) -> list[GraphRun]:
        """Recent runs of a graph, oldest first."""
        runs: Iterable[GraphRun] | None = None
        owner = self.registry.graphs.get(graph)
        if owner is not None and owner[1] is not None:
            runs = self._reactors[owner[1]].subscribers[graph].runs
        elif graph in self._triggerless:
            runs = self._triggerless[graph].runs
        if runs is None:
            raise NotFoundError(
                f"graph '{graph}' is not loaded in tenant '{self.tenant}'",
                tenant=self.tenant,
                graph=graph,
            )
        items = list(runs)
        return items[-last:] if last else items

    def packages(self) -> list[PackageDecl]:
        return [r.plugin.decl for r in self._records.values()]

    def package_record(self, name: str) -> LoadRecord | None:
        return self._records.get(name)

    def reactors(self) -> list[Reactor]:
        return list(self._reactors.values())

    def accumulators(self) -> list[Accumulator]:
        return [a for r in self._reactors.values() for a in r.accumulators.values()]

    def counts(self) -> dict[str, int]:
        """Sizes of every internal table (leak checks)."""
        return {
            "packages": len(self._records),
            "reactors": len(self._reactors),
            "accumulators": len(self._by_accumulator),
            "triggerless": len(self._triggerless),
            "registry": self.registry.size(),
        }


class Host:
    """All tenants' runtimes in one process."""

    def __init__(
        self, *, observer: Observer | None = None, keep_outputs: int = 100, use_fused: bool = True
    ) -> None:
        self.observer = observer
        self.keep_outputs = keep_outputs
        self.use_fused = use_fused
        self._runtimes: dict[str, Runtime] = {}
        self._lock = threading.Lock()

    def runtime(self, tenant: str) -> Runtime:
        """The tenant's runtime (created on first use)."""
        with self._lock:
            rt = self._runtimes.get(tenant)
            if rt is None:
                rt = Runtime(
                    tenant,
                    observer=self.observer,
                    keep_outputs=self.keep_outputs,
                    use_fused=self.use_fused,
                )
                self._runtimes[tenant] = rt
            return rt

    def tenants(self) -> list[str]:
        return sorted(self._runtimes)

    def drop(self, tenant: str) -> None:
        with self._lock:
            rt = self._runtimes.pop(tenant, None)
        if rt is not None:
            rt.close()

    def close(self) -> None:
        for tenant in list(self._runtimes):
            self.drop(tenant)
