"""What loading a package leaves behind: the load steps, the package's lifecycle state, the
record of every side effect (so unload undoes exactly that), and what an unload reports."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

from ..errors import StateError
from .loader import Plugin

#: The reconciler's load steps, in order (docs/architecture.md). Unload runs them backwards.
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

    plugin: Plugin
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
        """The unload as sentences (``reactor PriceReactor now has 0 subscribers``)."""
        out = [f"reactor {r} now has {n} subscribers" for r, n in self.unbound.items()]
        out += [f"reactor {r} torn down" for r in self.torn_down]
        return out or [f"package {self.package} unloaded"]
