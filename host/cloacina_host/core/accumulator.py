"""Accumulators: how events become boundaries for a reactor (passthrough, batch, state,
polling, stream), calling the plugin's accumulator function when it declares one.

A stream accumulator's events come from a broker subject; without a broker it takes pushed
events exactly like a passthrough accumulator (one event, one boundary, through its fn)."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import orjson

from ..errors import PluginCallError
from ..log import get_logger
from ..types import AccumulatorDecl, AccumulatorKind
from . import ffi
from .configs import int_setting

log = get_logger()


class Accumulator:
    """Turns events into boundaries, calling the plugin's function when it has one."""

    def __init__(
        self,
        decl: AccumulatorDecl,
        reactor: str,
        package: str,
        lib: ffi.NativeLibrary | None = None,
        fn: Any = None,
    ) -> None:
        self.decl = decl
        self.reactor = reactor
        self.package = package
        self._site = ffi.CallSite(package, f"accumulator '{decl.name}'")
        self._lib = lib
        self._fn: ffi.NativeCall | None = (
            None if fn is None or lib is None else lib.caller(fn, self._site)
        )
        self._passthrough = decl.kind in (AccumulatorKind.PASSTHROUGH, AccumulatorKind.STREAM)
        self.events_total = 0
        self.errors_total = 0
        self.last_event_at: float | None = None
        self.last_error: str | None = None
        # the settings the library check let through (core/configs.py), or their defaults
        setting = self._setting
        self._window: deque[bytes] = deque(maxlen=setting(AccumulatorKind.STATE, "capacity"))
        self._batch: list[bytes] = []
        self._max_batch = setting(AccumulatorKind.BATCH, "max_buffer_size") or 0
        self._flush_every = (setting(AccumulatorKind.BATCH, "flush_interval_ms") or 0) / 1000.0
        self._poll_every = (setting(AccumulatorKind.POLLING, "interval_ms") or 0) / 1000.0
        self._last_flush = self._last_poll = time.monotonic()

    @property
    def name(self) -> str:
        return self.decl.name

    def _setting(self, kind: AccumulatorKind, key: str) -> int | None:
        """``key`` of this accumulator's config when it is of ``kind``, else None."""
        return int_setting(kind, self.decl.config, key) if self.decl.kind is kind else None

    def _call(self, fn: ffi.NativeCall, inputs: list[bytes]) -> bytes:
        # Called under the reactor's lock, which teardown takes before the library can be
        # closed, so no lease is needed; only non-thread-safe libraries are serialized.
        with fn.lib.serial:
            return fn(inputs)

    def ingest(self, event: bytes) -> list[bytes]:
        """Boundaries produced by one event (none while a batch is filling)."""
        self.last_event_at = time.time()
        try:
            fn = self._fn
            if fn is None:
                boundary = event
            else:
                boundary = self._call(fn, [event])
                orjson.loads(boundary)  # a plugin's boundary must be JSON too
        except (PluginCallError, orjson.JSONDecodeError) as exc:
            self.errors_total += 1
            self.last_error = str(exc)
            if isinstance(exc, PluginCallError):
                raise
            raise self._site.error("returned invalid JSON") from exc
        self.events_total += 1
        if self._passthrough:
            return [boundary]
        kind = self.decl.kind
        if kind is AccumulatorKind.STATE:
            self._window.append(boundary)
            return [b"[" + b",".join(self._window) + b"]"]
        if kind is AccumulatorKind.BATCH:
            self._batch.append(boundary)
            if len(self._batch) >= self._max_batch:
                return self.flush()
            return []
        return [boundary]

    def flush(self) -> list[bytes]:
        """Emit the pending batch as one JSON array boundary."""
        self._last_flush = time.monotonic()
        if not self._batch:
            return []
        out = b"[" + b",".join(self._batch) + b"]"
        self._batch.clear()
        return [out]

    def tick(self, now: float) -> list[bytes]:
        """Time-driven work: batch flush intervals and polling."""
        if self.decl.kind is AccumulatorKind.BATCH and now - self._last_flush >= self._flush_every:
            return self.flush()
        fn = self._fn
        if (
            self.decl.kind is AccumulatorKind.POLLING
            and fn is not None
            and now - self._last_poll >= self._poll_every
        ):
            self._last_poll = now
            try:
                out = self._call(fn, [])
            except PluginCallError as exc:
                self.errors_total += 1
                self.last_error = str(exc)
                log.warning(
                    "accumulator_poll_failed",
                    accumulator=self.name,
                    package=self.package,
                    error=str(exc),
                )
                return []
            if out.strip() in (b"", b"null"):
                return []
            self.events_total += 1
            return [out]
        return []

    @property
    def buffer_depth(self) -> int:
        return len(self._batch)

    def export(self) -> dict[str, Any]:
        """What this accumulator holds (counters, a filling batch, a state window) as
        plain values, for an event plane to save beside the reactor (:meth:`adopt`)."""
        return {
            "events_total": self.events_total,
            "errors_total": self.errors_total,
            "last_event_at": self.last_event_at,
            "last_error": self.last_error,
            "batch": list(self._batch),
            "window": list(self._window),
        }

    def adopt(self, saved: dict[str, Any]) -> None:
        """Take over what :meth:`export` saved (on another process, maybe)."""
        self.events_total = int(saved.get("events_total", 0))
        self.errors_total = int(saved.get("errors_total", 0))
        self.last_event_at = saved.get("last_event_at")
        self.last_error = saved.get("last_error")
        self._batch = [bytes(b) for b in saved.get("batch", ())]
        self._window.clear()
        self._window.extend(bytes(b) for b in saved.get("window", ()))
