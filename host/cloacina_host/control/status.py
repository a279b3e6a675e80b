"""A package's load status: one typed value from the reconciler, through the store, to the
API and the CLI (``package list``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any


class State(enum.Enum):
    """What ``package list`` says of a stored package."""

    LOADED = "loaded"
    PENDING = "pending"  # waiting for a reactor another package provides
    FAILED = "failed"  # refused for a reason a retry will not fix
    SUPERSEDED = "superseded"  # an older stored version (shown by the API, never stored)
    CRASHED = "crashed"  # quarantined: a call of it crashed its tenant's worker
    HUNG = "hung"  # quarantined: a call of it ran past its deadline


@dataclass(frozen=True)
class PackageStatus:
    """What an operator sees of a package: its state, and why when it is not loaded."""

    name: str
    version: str
    sha256: str
    state: State
    reason: str | None = None
    reactors: tuple[str, ...] = ()
    graphs: tuple[str, ...] = ()

    def because(self, reason: str) -> PackageStatus:
        """The same status with another reason (a refused replace or unload)."""
        return replace(self, reason=reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "status": self.state.value,
            "reason": self.reason,
            "reactors": list(self.reactors),
            "graphs": list(self.graphs),
        }
