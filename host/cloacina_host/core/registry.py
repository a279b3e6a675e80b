"""The per-tenant name registry: who owns which reactor, accumulator and graph, which graphs
are bound to which reactor, and the live object behind each name. Pure and synchronous.

It is the only table of these facts: the runtime looks reactors, accumulators and graphs up
here. The live objects are opaque to it (type parameters ``R`` and ``G``), so the registry
stays free of I/O and FFI and is tested with plain values. Every check happens before
anything is changed, so a refused operation leaves the registry exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from ..errors import (
    BindingError,
    DuplicateNameError,
    GuardError,
    ReactorNotLoadedError,
    suggestion,
)
from ..types import GraphDecl, PackageDecl, ReactorDecl

R = TypeVar("R")  # the live reactor
G = TypeVar("G")  # the live graph (a bound subscriber or a trigger-less graph)

Kind = Literal["reactor", "accumulator", "graph"]


def guard_message(reactor: str, subscribers: list[str]) -> str:
    """The bound-subscriber guard's exact text."""
    listed = "[" + ", ".join(f"'{s}'" for s in subscribers) + "]"
    count = len(subscribers)
    return f"reactor '{reactor}' has {count} bound subscriber(s): {listed}; unbind them first"


def not_loaded_message(graph: str, reactor: str) -> str:
    """The exact text for a subscriber whose reactor is not loaded."""
    return f"Error loading reactor-bound CG '{graph}': reactor '{reactor}' not loaded"


@dataclass(frozen=True)
class ReactorEntry(Generic[R]):
    """A registered reactor: its declaration, owning package and live object."""

    decl: ReactorDecl
    owner: str
    live: R


@dataclass(frozen=True)
class GraphEntry(Generic[G]):
    """A registered graph: its declaration, package, the reactor it is bound to (None for a
    trigger-less graph) and its live object."""

    decl: GraphDecl
    package: str
    live: G

    @property
    def reactor(self) -> str | None:
        return self.decl.trigger_reactor


@dataclass
class Registry(Generic[R, G]):
    """Names of one tenant."""

    tenant: str
    _reactors: dict[str, ReactorEntry[R]] = field(default_factory=dict)
    _accumulators: dict[str, ReactorEntry[R]] = field(default_factory=dict)  # -> its reactor
    _graphs: dict[str, GraphEntry[G]] = field(default_factory=dict)

    # ------------------------------------------------------------------ queries

    def reactor(self, name: str) -> ReactorEntry[R] | None:
        return self._reactors.get(name)

    def reactor_of(self, accumulator: str) -> ReactorEntry[R] | None:
        """The reactor an accumulator feeds."""
        return self._accumulators.get(accumulator)

    def graph(self, name: str) -> GraphEntry[G] | None:
        return self._graphs.get(name)

    def reactors(self) -> Iterator[ReactorEntry[R]]:
        return iter(list(self._reactors.values()))

    def graphs(self) -> Iterator[GraphEntry[G]]:
        return iter(list(self._graphs.values()))

    def has(self, kind: Kind, name: str) -> bool:
        """Whether a reactor, accumulator or graph of that name is registered."""
        table = {"reactor": self._reactors, "accumulator": self._accumulators}.get(kind)
        return name in (self._graphs if table is None else table)

    def owner_of_reactor(self, name: str) -> str | None:
        entry = self._reactors.get(name)
        return entry.owner if entry else None

    def reactor_decl(self, name: str) -> ReactorDecl | None:
        entry = self._reactors.get(name)
        return entry.decl if entry else None

    def bound(self, reactor: str) -> list[GraphEntry[G]]:
        """The graphs bound to ``reactor``, in the order they were bound."""
        if reactor not in self._reactors:
            return []
        return [g for g in self._graphs.values() if g.reactor == reactor]

    def subscribers(self, reactor: str) -> list[str]:
        return [g.decl.name for g in self.bound(reactor)]

    def foreign_subscribers(self, reactor: str, package: str) -> list[str]:
        """Graphs of packages other than ``package`` bound to ``reactor`` (the guard's list)."""
        return [g.decl.name for g in self.bound(reactor) if g.package != package]

    def counts(self) -> dict[str, int]:
        """Entries of each kind (for leak checks)."""
        return {
            "reactors": len(self._reactors),
            "accumulators": len(self._accumulators),
            "graphs": len(self._graphs),
            "bindings": sum(1 for g in self._graphs.values() if g.reactor in self._reactors),
        }

    def size(self) -> int:
        """Number of entries of every kind (for leak checks)."""
        return sum(self.counts().values())

    # ------------------------------------------------------------------ checks

    def check_names(self, decl: PackageDecl, *, replacing: str | None = None) -> None:
        """Refuse names that another package of the tenant already owns.

        ``replacing`` names a package whose entries may be taken over (hot replace).
        """

        def owned(kind: str, name: str, owner: str) -> None:
            if owner != decl.name and owner != replacing:
                raise DuplicateNameError(
                    f"{kind} '{name}' of package '{decl.name}' is already registered in tenant "
                    f"'{self.tenant}' by package '{owner}'",
                    tenant=self.tenant,
                    package=decl.name,
                )

        for r in decl.reactors:
            if r.name in self._reactors:
                owned("reactor", r.name, self._reactors[r.name].owner)
            for acc in r.accumulators:
                if acc in self._accumulators:
                    owned("accumulator", acc, self._accumulators[acc].owner)
        for g in decl.graphs:
            if g.name in self._graphs:
                owned("graph", g.name, self._graphs[g.name].package)

    def check_binding(
        self,
        package: str,
        graph: GraphDecl,
        own: dict[str, ReactorDecl],
        *,
        replacing: str | None = None,
    ) -> None:
        """Refuse a reactor-bound graph whose reactor is absent or does not supply its inputs.

        ``own`` holds the reactors of the graph's own package (loaded in step 3 before it);
        reactors of the package being replaced (``replacing``) do not count.
        """
        reactor = graph.trigger_reactor
        assert reactor is not None
        decl = own.get(reactor)
        if decl is None and self.owner_of_reactor(reactor) not in (None, replacing):
            decl = self.reactor_decl(reactor)
        if decl is None:
            known = [*own, *self._reactors]
            raise ReactorNotLoadedError(
                not_loaded_message(graph.name, reactor) + suggestion(reactor, known),
                tenant=self.tenant,
                package=package,
                graph=graph.name,
                reactor=reactor,
            )
        extra = [s for s in graph.sources if s not in decl.accumulators]
        if extra:
            raise BindingError(
                f"Error loading reactor-bound CG '{graph.name}': package '{package}' reads "
                f"accumulator(s) {extra} that reactor '{reactor}' does not declare "
                f"(it declares {list(decl.accumulators)})",
                tenant=self.tenant,
                package=package,
                graph=graph.name,
                reactor=reactor,
            )

    def check_teardown(self, package: str, reactors: list[str]) -> None:
        """The bound-subscriber guard: refuse if another package's graphs are bound."""
        refusals = []
        for name in reactors:
            foreign = self.foreign_subscribers(name, package)
            if foreign:
                refusals.append(guard_message(name, foreign))
        if refusals:
            raise GuardError("; ".join(refusals), tenant=self.tenant, package=package)

    # ------------------------------------------------------------------ changes

    def add_reactor(self, package: str, decl: ReactorDecl, live: R) -> ReactorEntry[R]:
        entry = ReactorEntry(decl, package, live)
        self._reactors[decl.name] = entry
        for acc in decl.accumulators:
            self._accumulators[acc] = entry
        return entry

    def remove_reactor(self, name: str) -> ReactorEntry[R] | None:
        """Forget a reactor and its accumulators; returns its entry (None if absent)."""
        entry = self._reactors.pop(name, None)
        if entry is None:
            return None
        for acc in entry.decl.accumulators:
            if self._accumulators.get(acc) is entry:
                del self._accumulators[acc]
        return entry

    def add_graph(self, package: str, graph: GraphDecl, live: G) -> None:
        """Register a graph; a reactor-bound one counts as a subscriber of its reactor."""
        if graph.name in self._graphs and self._graphs[graph.name].package != package:
            raise DuplicateNameError(
                f"graph '{graph.name}' is already registered in tenant '{self.tenant}' by "
                f"package '{self._graphs[graph.name].package}'",
                tenant=self.tenant,
                package=package,
                graph=graph.name,
            )
        self._graphs[graph.name] = GraphEntry(graph, package, live)

    def remove_graph(self, name: str) -> GraphEntry[G] | None:
        """Unbind and forget a graph; returns its entry (its reactor is never torn down)."""
        return self._graphs.pop(name, None)
