"""The JSON shapes the API answers with: a tenant's reactors, graphs and accumulators, and a
stored package with its load status. Framework-free: plain values in, JSON-ready dicts out
(run on worker threads)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..control.plane import ControlPlane
from ..control.status import PackageStatus, State
from ..control.store import PackageRow
from ..core.reactor import Reactor
from ..core.runtime import Runtime
from .metrics import TenantSample


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
                    "events_total": acc.events_total,
                    "errors_total": acc.errors_total,
                    "last_event_at": acc.last_event_at,
                    "last_error": acc.last_error,
                }
            )
    return sorted(items, key=lambda i: str(i["name"]))


def row_status(row: PackageRow, statuses: dict[str, PackageStatus], newest: str) -> PackageStatus:
    """The status of one stored version. The reconciler keeps one status per name; an older
    stored version is ``superseded``; the newest one that is not (yet) the loaded version
    shows the reason the reconciler gave."""
    status = statuses.get(row.name)
    if status is not None and status.version == row.version and status.sha256 in (row.sha256, ""):
        return status
    if row.id != newest:
        return PackageStatus(
            row.name, row.version, row.sha256, State.SUPERSEDED, "a newer version is stored"
        )
    if status is not None and status.reason:
        return PackageStatus(row.name, row.version, row.sha256, State.FAILED, status.reason)
    return PackageStatus(row.name, row.version, row.sha256, State.PENDING)


def package_item(row: PackageRow, status: PackageStatus) -> dict[str, Any]:
    """A stored package with its load status (``GET .../packages``)."""
    item = row.to_dict()
    del item["declarations"]
    item.update(
        status=status.state.value,
        reason=status.reason,
        reactors=list(status.reactors),
        graphs=list(status.graphs),
    )
    return item


def package_items(
    rows: list[PackageRow], statuses: Iterable[PackageStatus]
) -> list[dict[str, Any]]:
    """Every stored package of a tenant with its status, oldest first."""
    by_name = {s.name: s for s in statuses}
    newest = newest_ids(rows)
    return [package_item(r, row_status(r, by_name, newest[r.name])) for r in rows]


def newest_ids(rows: Iterable[PackageRow]) -> dict[str, str]:
    newest: dict[str, PackageRow] = {}
    for row in rows:  # stored order: oldest first
        newest[row.name] = row
    return {name: row.id for name, row in newest.items()}


def tenant_samples(plane: ControlPlane) -> list[TenantSample]:
    """What ``/metrics`` reads of every tenant at scrape time."""
    samples = []
    for tenant in plane.host.tenants():
        runtime = plane.host.runtime(tenant)
        samples.append(TenantSample(tenant, runtime.reactors(), len(runtime.packages())))
    return samples
