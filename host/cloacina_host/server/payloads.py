"""The JSON shapes the API answers with for stored packages (with their load status), and
what ``/metrics`` reads of every tenant. A tenant's reactors, graphs and accumulators come
as they are from its runtime (``core/views.py``, built where the runtime lives).
Framework-free: plain values in, JSON-ready dicts out (run on worker threads)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..control.plane import ControlPlane
from ..control.status import PackageStatus, State
from ..control.store import PackageRow
from ..core.views import TenantSample


def row_status(row: PackageRow, statuses: dict[str, PackageStatus], newest: str) -> PackageStatus:
    """The status of one stored version on one replica. A replica keeps one status per
    name; an older
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


def package_item(row: PackageRow, views: list[tuple[str, PackageStatus]]) -> dict[str, Any]:
    """A stored package with its load status on every live replica (``GET .../packages``).

    ``status`` and ``reason`` are the summary: the state all replicas agree on, else the
    first replica that is not ``loaded`` (its reason prefixed ``<state> on <replica>:``);
    ``replicas`` has the detail and ``summary`` says ``loaded on 2/2 replicas``."""
    item = row.to_dict()
    del item["declarations"]
    loaded = sum(1 for _, s in views if s.state is State.LOADED)
    first = views[0][1]
    if all(s.state is first.state for _, s in views):
        state, reason = first.state, first.reason
    else:
        replica, odd = next((r, s) for r, s in views if s.state is not State.LOADED)
        state = odd.state
        reason = f"{odd.state.value} on {replica}" + (f": {odd.reason}" if odd.reason else "")
    shown = next((s for _, s in views if s.state is State.LOADED), first)
    item.update(
        status=state.value,
        reason=reason,
        reactors=list(shown.reactors),
        graphs=list(shown.graphs),
        summary=f"loaded on {loaded}/{len(views)} replicas",
        replicas=[{"replica": r, "status": s.state.value, "reason": s.reason} for r, s in views],
    )
    return item


def package_items(
    rows: list[PackageRow], statuses: Iterable[tuple[str, PackageStatus]], alive: list[str]
) -> list[dict[str, Any]]:
    """Every stored package of a tenant with its status on each live replica, oldest first."""
    by_replica: dict[str, dict[str, PackageStatus]] = {r: {} for r in alive}
    for replica, status in statuses:
        if replica in by_replica:
            by_replica[replica][status.name] = status
    newest = newest_ids(rows)
    return [
        package_item(r, [(rep, row_status(r, by_replica[rep], newest[r.name])) for rep in alive])
        for r in rows
    ]


def newest_ids(rows: Iterable[PackageRow]) -> dict[str, str]:
    newest: dict[str, PackageRow] = {}
    for row in rows:  # stored order: oldest first
        newest[row.name] = row
    return {name: row.id for name, row in newest.items()}


def tenant_samples(plane: ControlPlane) -> list[TenantSample]:
    """What ``/metrics`` reads of every tenant at scrape time (a worker that cannot answer
    right now is left out)."""
    samples = []
    for tenant in plane.tenants():
        sample = plane.runtime(tenant).sample()
        if sample is not None:
            samples.append(sample)
    return samples


def worker_statuses(plane: ControlPlane) -> list[tuple[str, dict[str, Any]]]:
    """Every tenant's worker status (none without isolation), for ``/metrics``."""
    out = []
    for tenant in plane.tenants():
        status = plane.worker_status(tenant)
        if status is not None:
            out.append((tenant, status))
    return out
