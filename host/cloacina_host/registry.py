"""The per-tenant name registry: who owns which reactor, accumulator and graph,
and which graphs are bound to which reactor. Pure and synchronous.

Every check happens before anything is changed, so a refused operation leaves
the registry exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import BindingError, DuplicateNameError, GuardError, ReactorNotLoadedError
from .types import GraphDecl, PackageDecl, ReactorDecl


def guard_message(reactor: str, subscribers: list[str]) -> str:
    """The bound-subscriber guard's exact text."""
    listed = "[" + ", ".join(f"'{s}'" for s in subscribers) + "]"
    count = len(subscribers)
    return f"reactor '{reactor}' has {count} bound subscriber(s): {listed}; unbind them first"


def not_loaded_message(graph: str, reactor: str) -> str:
    """The exact text for a subscriber whose reactor is not loaded."""
    return f"Error loading reactor-bound CG '{graph}': reactor '{reactor}' not loaded"


@dataclass
class _Reactor:
    decl: ReactorDecl
    owner: str
    subscribers: dict[str, str] = field(default_factory=dict)  # graph -> package


@dataclass
class Registry:
    """Names of one tenant."""

    tenant: str
    reactors: dict[str, _Reactor] = field(default_factory=dict)
    accumulators: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (pkg, reactor)
    graphs: dict[str, tuple[str, str | None]] = field(
        default_factory=dict
    )  # name -> (pkg, reactor)

    # ------------------------------------------------------------------ queries

    def owner_of_reactor(self, name: str) -> str | None:
        entry = self.reactors.get(name)
        return entry.owner if entry else None

    def reactor_decl(self, name: str) -> ReactorDecl | None:
        entry = self.reactors.get(name)
        return entry.decl if entry else None

    def subscribers(self, reactor: str) -> list[str]:
        entry = self.reactors.get(reactor)
        return list(entry.subscribers) if entry else []

    def foreign_subscribers(self, reactor: str, package: str) -> list[str]:
        entry = self.reactors.get(reactor)
        if entry is None:
            return []
        return [g for g, pkg in entry.subscribers.items() if pkg != package]

    def size(self) -> int:
        """Number of entries of every kind (for leak checks)."""
        return (
            len(self.reactors)
            + len(self.accumulators)
            + len(self.graphs)
            + sum(len(r.subscribers) for r in self.reactors.values())
        )

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
            if r.name in self.reactors:
                owned("reactor", r.name, self.reactors[r.name].owner)
            for acc in r.accumulators:
                if acc in self.accumulators:
                    owned("accumulator", acc, self.accumulators[acc][0])
        for g in decl.graphs:
            if g.name in self.graphs:
                owned("graph", g.name, self.graphs[g.name][0])

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
            raise ReactorNotLoadedError(
                not_loaded_message(graph.name, reactor),
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

    def add_reactor(self, package: str, decl: ReactorDecl) -> None:
        self.reactors[decl.name] = _Reactor(decl, package)
        for acc in decl.accumulators:
            self.accumulators[acc] = (package, decl.name)

    def remove_reactor(self, name: str) -> None:
        entry = self.reactors.pop(name, None)
        if entry is None:
            return
        for acc in entry.decl.accumulators:
            if self.accumulators.get(acc, ("", ""))[1] == name:
                del self.accumulators[acc]

    def add_graph(self, package: str, graph: GraphDecl) -> None:
        if graph.name in self.graphs and self.graphs[graph.name][0] != package:
            raise DuplicateNameError(
                f"graph '{graph.name}' is already registered in tenant '{self.tenant}' by "
                f"package '{self.graphs[graph.name][0]}'",
                tenant=self.tenant,
                package=package,
                graph=graph.name,
            )
        self.graphs[graph.name] = (package, graph.trigger_reactor)
        if graph.trigger_reactor is not None:
            self.reactors[graph.trigger_reactor].subscribers[graph.name] = package

    def remove_graph(self, name: str) -> str | None:
        """Unbind and forget a graph; returns the reactor it was bound to (never torn down)."""
        entry = self.graphs.pop(name, None)
        if entry is None:
            return None
        reactor = entry[1]
        if reactor is not None and reactor in self.reactors:
            self.reactors[reactor].subscribers.pop(name, None)
        return reactor
