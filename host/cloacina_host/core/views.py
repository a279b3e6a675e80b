"""What a tenant's runtime shows of itself, as plain values: the JSON shapes of its reactors,
graphs and accumulators, and the samples ``/metrics`` reads at scrape time.

They are built where the runtime lives (in the server process, or in the tenant's worker)
and cross a process boundary as they are, so they hold only JSON-ready values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..types import AccumulatorDecl, AccumulatorKind
from .reactor import Reactor
from .runtime import Runtime


@dataclass(frozen=True)
class AccumulatorSample:
    name: str
    kind: str
    events: int
    errors: int
    depth: int  # events a batch accumulator holds for its next flush


@dataclass(frozen=True)
class ReactorSample:
    name: str
    subscribers: int
    accumulators: tuple[AccumulatorSample, ...]


@dataclass(frozen=True)
class TenantSample:
    """What the scrape-time collector reads of one tenant."""

    tenant: str
    reactors: tuple[ReactorSample, ...]
    packages_loaded: int

    def to_wire(self) -> list[Any]:
        return [
            self.tenant,
            [
                [r.name, r.subscribers, [list(a.__dict__.values()) for a in r.accumulators]]
                for r in self.reactors
            ],
            self.packages_loaded,
        ]

    @classmethod
    def from_wire(cls, value: list[Any]) -> TenantSample:
        tenant, reactors, loaded = value
        return cls(
            str(tenant),
            tuple(
                ReactorSample(str(name), int(subs), tuple(AccumulatorSample(*a) for a in accs))
                for name, subs, accs in reactors
            ),
            int(loaded),
        )


def sample(runtime: Runtime) -> TenantSample:
    reactors = []
    for reactor in runtime.reactors():
        accs = tuple(
            AccumulatorSample(
                acc.name, acc.decl.kind.label, acc.events_total, acc.errors_total, acc.buffer_depth
            )
            for acc in list(reactor.accumulators.values())
        )
        reactors.append(ReactorSample(reactor.decl.name, len(reactor.subscribers), accs))
    return TenantSample(runtime.tenant, tuple(reactors), len(runtime.packages()))


def reactor_view(reactor: Reactor, *, detail: bool = False) -> dict[str, Any]:
    with reactor.lock:
        item: dict[str, Any] = {
            **reactor.decl.to_dict(),
            "package": reactor.package,
            "state": reactor.state.value,
            "subscribers": list(reactor.subscribers),
            "fires": reactor.stats.fires,
            "last_fire_at": reactor.stats.last_fire_at,
        }
        if detail:
            item["cache"] = reactor.state_snapshot()["cache"]
    return item


def reactor_views(runtime: Runtime) -> list[dict[str, Any]]:
    return [reactor_view(r) for r in sorted(runtime.reactors(), key=lambda r: r.decl.name)]


def graph_views(runtime: Runtime, only: str | None = None) -> list[dict[str, Any]]:
    items = []
    for entry in sorted(runtime.registry.graphs(), key=lambda e: e.decl.name):
        decl, live = entry.decl, entry.live
        if only is not None and decl.name != only:
            continue
        runs = list(live.runs)
        item: dict[str, Any] = {
            "name": decl.name,
            "package": entry.package,
            "reactor": entry.reactor,
            "nodes": [n.name for n in decl.nodes],
            "runs_ok": live.ok_total,
            "runs_failed": live.failed_total,
            "last_run": runs[-1].to_dict() if runs else None,
        }
        if only is not None:
            item["topology"] = decl.to_dict()
            item["outputs"] = [r.to_dict() for r in runs]
        items.append(item)
    return items


def stream_fields(decl: AccumulatorDecl) -> dict[str, Any]:
    """Where a stream accumulator's events come from: ``subject`` and ``durable`` (None when
    it declares none); nothing for the other kinds."""
    if decl.kind is not AccumulatorKind.STREAM:
        return {}
    return {"subject": decl.subject, "durable": decl.durable}


def accumulator_views(runtime: Runtime) -> list[dict[str, Any]]:
    items = []
    for reactor in runtime.reactors():
        for acc in list(reactor.accumulators.values()):
            items.append(
                {
                    "name": acc.name,
                    "reactor": reactor.decl.name,
                    "package": acc.package,
                    "kind": acc.decl.kind.label,
                    **stream_fields(acc.decl),
                    "events_total": acc.events_total,
                    "errors_total": acc.errors_total,
                    "last_event_at": acc.last_event_at,
                    "last_error": acc.last_error,
                }
            )
    return sorted(items, key=lambda i: str(i["name"]))
