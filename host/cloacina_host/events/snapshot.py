"""A reactor's saved state on the broker, and what the API shows of it.

The owner of a reactor writes one :class:`Saved` per applied batch into the state bucket,
by compare-and-set on the key's revision: its epoch (bumped by every new owner, which
fences the old one out), the last event-stream sequence it applied (and one per stream
accumulator), and the reactor's whole state (:meth:`~..core.reactor.Reactor.export`). A
new owner adopts it and resumes right after ``applied``. The overlays put the saved
figures into the views every replica builds from its own runtime, so every replica shows
the same. msgpack, like the worker frames: boundaries stay bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import msgpack
import orjson

VERSION = 1


@dataclass
class Saved:
    """One reactor's state as its owner last saved it."""

    epoch: int = 0
    owner: str | None = None
    claimed_at: float | None = None
    saved_at: float | None = None
    #: the last sequence of the events stream applied to this state
    applied: int = 0
    #: per stream accumulator, the last sequence of the streams stream applied
    streams: dict[str, int] = field(default_factory=dict)
    #: :meth:`Reactor.export` after ``applied`` (None before the first owner saved)
    reactor: dict[str, Any] | None = None

    def encode(self) -> bytes:
        data: bytes = msgpack.packb({"v": VERSION, **asdict(self)}, use_bin_type=True)
        return data

    @classmethod
    def decode(cls, data: bytes) -> Saved:
        raw = msgpack.unpackb(data, raw=False)
        if not isinstance(raw, dict) or raw.get("v") != VERSION:
            raise ValueError(f"not a saved reactor state of version {VERSION}")
        raw.pop("v")
        return cls(**raw)


def _json(value: bytes | None) -> Any:
    return None if value is None else orjson.loads(value)


def reactor_overlay(view: dict[str, Any], saved: Saved | None, owner: str | None) -> None:
    """Put the saved state into a reactor view (in place)."""
    view["owner"] = owner
    view["epoch"] = saved.epoch if saved else 0
    view["applied_sequence"] = saved.applied if saved else 0
    state = saved.reactor if saved else None
    if state is None:
        view["fires"], view["last_fire_at"] = 0, None
        if "cache" in view:
            view["cache"] = dict.fromkeys(view["cache"])
        return
    view["state"] = state["state"]
    view["fires"] = state["fires"]
    view["last_fire_at"] = state["last_fire_at"]
    if "cache" in view:
        view["cache"] = {k: _json(state["cache"].get(k)) for k in view["cache"]}


def state_reply(
    reactor: str, saved: Saved | None, owner: str | None, subscribers: list[str]
) -> dict[str, Any]:
    """``get_state`` from the saved state: what the owner's reactor holds."""
    state = saved.reactor if saved else None
    cache = state["cache"] if state else {}
    return {
        "type": "state",
        "reactor": reactor,
        "state": state["state"] if state else "running",
        "cache": {k: _json(v) for k, v in cache.items()},
        "dirty": list(state["dirty"]) if state else [],
        "queued": (len(state["queue"]) + sum(len(q) for q in state["queues"].values()))
        if state
        else 0,
        "fires": state["fires"] if state else 0,
        "last_fire_at": state["last_fire_at"] if state else None,
        "subscribers": subscribers,
        "owner": owner,
        "epoch": saved.epoch if saved else 0,
        "applied_sequence": saved.applied if saved else 0,
    }


def accumulator_overlay(view: dict[str, Any], saved: Saved | None) -> None:
    state = saved.reactor if saved else None
    acc = (state or {}).get("accumulators", {}).get(view["name"])
    if acc is None:
        view.update(events_total=0, errors_total=0, last_event_at=None, last_error=None)
        return
    for key in ("events_total", "errors_total", "last_event_at", "last_error"):
        view[key] = acc[key]


def graph_overlay(
    view: dict[str, Any], saved: Saved | None, runs: list[dict[str, Any]] | None
) -> None:
    """Run counts from the reactor's saved state; the last runs from the runs stream."""
    state = saved.reactor if saved else None
    counts = (state or {}).get("graphs", {}).get(view["name"], {"ok": 0, "failed": 0})
    view["runs_ok"], view["runs_failed"] = counts["ok"], counts["failed"]
    if runs is not None:
        view["last_run"] = runs[-1] if runs else None
        if "outputs" in view:
            view["outputs"] = runs
