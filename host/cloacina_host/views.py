"""What the API shows of a tenant's runtime, and the work behind its WebSocket endpoints.
Framework-free: plain values in, JSON-ready dicts out (run on worker threads)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import orjson

from .access import RANK, ApiError
from .app import App
from .errors import CloacinaError, InvalidInputError, NotFoundError, PluginCallError
from .executor import GraphRun
from .metrics import TenantSample
from .reactor import Reactor
from .runtime import Runtime
from .store import PackageRow


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
    for name, (package, reactor_name) in sorted(dict(runtime.registry.graphs).items()):
        if only is not None and name != only:
            continue
        record = runtime.package_record(package)
        decl = (
            next((g for g in record.plugin.decl.graphs if g.name == name), None) if record else None
        )
        if decl is None:
            continue
        runs: list[GraphRun]
        try:
            runs = runtime.outputs(name)
        except (NotFoundError, KeyError):
            continue  # unloaded meanwhile
        ok = sum(1 for r in runs if r.ok)
        failed = len(runs) - ok
        if reactor_name is not None:
            with contextlib.suppress(NotFoundError, KeyError):
                sub = runtime.reactor(reactor_name).subscribers[name]
                ok, failed = sub.ok_total, sub.failed_total
        item: dict[str, Any] = {
            "name": name,
            "package": package,
            "reactor": reactor_name,
            "nodes": [n.name for n in decl.nodes],
            "runs_ok": ok,
            "runs_failed": failed,
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


def package_item(
    row: PackageRow, statuses: dict[str, dict[str, Any]], newest: str
) -> dict[str, Any]:
    """A stored package with its load status. The status is kept per name; an older stored
    version is ``superseded``; the newest one that is not (yet) the loaded version shows the
    reason the reconciler gave."""
    status = statuses.get(row.name)
    if (
        status is not None
        and status["version"] == row.version
        and status["sha256"]
        in (
            row.sha256,
            "",
        )
    ):
        state, reason = status["status"], status["reason"]
        reactors, graphs = status["reactors"], status["graphs"]
    elif row.id != newest:
        state, reason, reactors, graphs = "superseded", "a newer version is stored", [], []
    elif status is not None and status["reason"]:
        state, reason, reactors, graphs = "failed", status["reason"], [], []
    else:
        state, reason, reactors, graphs = "pending", None, [], []
    item = row.to_dict()
    del item["declarations"]
    item.update(status=state, reason=reason, reactors=reactors, graphs=graphs)
    return item


def newest_ids(rows: Iterable[PackageRow]) -> dict[str, str]:
    newest: dict[str, PackageRow] = {}
    for row in rows:  # stored order: oldest first
        newest[row.name] = row
    return {name: row.id for name, row in newest.items()}


def tenant_samples(app: App) -> list[TenantSample]:
    """What ``/metrics`` reads of every tenant at scrape time."""
    samples = []
    for tenant in app.host.tenants():
        runtime = app.host.runtime(tenant)
        samples.append(TenantSample(tenant, runtime.reactors(), len(runtime.packages())))
    return samples


def push_frames(
    runtime: Runtime, name: str, frames: list[bytes]
) -> tuple[int, list[dict[str, str]]]:
    """Push WebSocket frames to an accumulator in one reactor wake-up (worker thread).

    Each frame is one JSON event. A frame that is not JSON, or that the accumulator refuses,
    becomes an error frame; the others are still pushed, in order."""
    errors: list[dict[str, str]] = []
    valid: list[bytes] = []
    for frame in frames:
        try:
            orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            errors.append(
                {
                    "type": "error",
                    "code": "invalid_json",
                    "error": f"event is not valid JSON: {exc}",
                }
            )
        else:
            valid.append(frame)
    refused: list[PluginCallError] = []
    try:
        fires = runtime.reactor_of(name).push(name, valid, refused) if valid else 0
    except CloacinaError as exc:
        errors.append({"type": "error", "code": exc.code, "error": str(exc)})
        return 0, errors
    errors += [{"type": "error", "code": e.code, "error": str(e)} for e in refused]
    return fires, errors


def reactor_command(runtime: Runtime, name: str, message: Any, role: str) -> dict[str, Any]:
    """One ``/v1/ws/reactor/{name}`` command (worker thread); raises CloacinaError/ApiError."""
    if not isinstance(message, dict) or not isinstance(message.get("command"), str):
        raise InvalidInputError('a command is a JSON object like {"command": "get_state"}')
    command = message["command"]
    if command == "get_state":
        return {"type": "state", **runtime.reactor(name).state_snapshot()}
    known = ("force_fire", "fire_with", "pause", "resume")
    if command not in known:
        raise InvalidInputError(
            f"unknown command {command!r}: use one of get_state, {', '.join(known)}"
        )
    if RANK[role] < RANK["write"]:
        raise ApiError(403, "forbidden", f"command '{command}' needs a key with role 'write'")
    if command == "force_fire":
        runs = runtime.fire(name)
        return {"type": "fired", "reactor": name, "runs": [r.to_dict() for r in runs]}
    if command == "fire_with":
        inputs = message.get("inputs")
        if not isinstance(inputs, dict):
            raise InvalidInputError('fire_with needs "inputs": {accumulator: value}')
        runs = runtime.fire(name, inputs)
        return {"type": "fired", "reactor": name, "runs": [r.to_dict() for r in runs]}
    if command == "pause":
        runtime.pause(name)
        return {"type": "paused", "reactor": name}
    return {"type": "resumed", "reactor": name, "fires": runtime.resume(name)}
