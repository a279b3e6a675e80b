"""Who should own a reactor: rendezvous hashing over the live replicas. Pure.

Every replica ranks the replicas for a reactor the same way; the first is its preferred
owner. Reactors spread evenly, and when a replica dies only its own reactors move (each to
its next choice). The lease on the broker decides who actually owns it; the rank only says
who tries first (others wait a grace period before taking a free lease, so a dead
preferred owner does not leave the reactor unowned)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def rank(key: str, replicas: Iterable[str]) -> list[str]:
    """The replicas in preference order for ``key``."""

    def weight(replica: str) -> bytes:
        return hashlib.sha256(f"{replica}\x00{key}".encode()).digest()

    return sorted(set(replicas), key=weight, reverse=True)


def preferred(key: str, replicas: Iterable[str]) -> str | None:
    ranked = rank(key, replicas)
    return ranked[0] if ranked else None
