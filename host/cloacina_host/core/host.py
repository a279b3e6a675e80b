"""The in-process host: one :class:`~.runtime.Runtime` per tenant, in this process.

This is the embeddable Python API (``from cloacina_host import Host``). Plugin code runs in
the calling process with its privileges: nothing isolates one tenant's libraries from
another's or from the caller. The server and the daemon run each tenant in a supervised
worker process instead (docs/architecture.md)."""

from __future__ import annotations

import threading

from .reactor import Observer
from .runtime import Runtime


class Host:
    """All tenants' runtimes in one process.

    ``observer`` is told of every fire and run (the server's metrics use it);
    ``keep_outputs`` is how many recent runs each graph keeps; ``use_fused`` lets a graph
    that declares a fused function run as one native call."""

    def __init__(
        self, *, observer: Observer | None = None, keep_outputs: int = 100, use_fused: bool = True
    ) -> None:
        self.observer = observer
        self.keep_outputs = keep_outputs
        self.use_fused = use_fused
        self._runtimes: dict[str, Runtime] = {}
        self._lock = threading.Lock()

    def runtime(self, tenant: str) -> Runtime:
        """The tenant's runtime (created on first use)."""
        with self._lock:
            rt = self._runtimes.get(tenant)
            if rt is None:
                rt = Runtime(
                    tenant,
                    observer=self.observer,
                    keep_outputs=self.keep_outputs,
                    use_fused=self.use_fused,
                )
                self._runtimes[tenant] = rt
            return rt

    def tenants(self) -> list[str]:
        """The tenants that have a runtime, by name."""
        return sorted(self._runtimes)

    def drop(self, tenant: str) -> None:
        """Unload everything of ``tenant`` and forget its runtime."""
        with self._lock:
            rt = self._runtimes.pop(tenant, None)
        if rt is not None:
            rt.close()

    def close(self) -> None:
        """Unload every tenant (subscribers first); the libraries are closed."""
        for tenant in list(self._runtimes):
            self.drop(tenant)
