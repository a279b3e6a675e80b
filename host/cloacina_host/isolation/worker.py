"""The tenant worker process: ``python -m cloacina_host.isolation.worker CONFIG_JSON``.

Started by the supervisor (:mod:`.supervisor`), never by hand. At start, before any plugin
is loaded, it confines itself (:mod:`.sandbox`): it dies with its parent, dumps no core,
caps its address space, may only read the interpreter and system libraries and write its
own scratch directory (Landlock), and gives up root (``--worker-user``) or at least every
capability. Then it says hello on its channel and serves the supervisor's requests with a
:class:`~.local.LocalTenant`: the tenant's packages, reactors, graphs and accumulators run
here, with the same core code as the in-process host.

Before every native call it writes the call into its call slot (:mod:`.slots`); on a fatal
signal ``faulthandler`` writes which thread crashed into the crash file the supervisor gave
it. Both tell the supervisor which package's call ended the worker.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from .. import log as logsetup
from ..core import ffi
from ..core.executor import GraphRun
from ..errors import CloacinaError, LoadError, to_wire
from ..log import get_logger
from ..types import PackageDecl
from . import protocol, sandbox
from .local import LocalTenant
from .protocol import Channel
from .slots import SlotWriter
from .tenant import LibraryRef

log = get_logger()


class Telemetry(threading.local):
    items: list[list[Any]] | None = None


class TelemetryObserver:
    """Collects what the runtime measures while a request is answered, for its answer."""

    def __init__(self) -> None:
        self._local = Telemetry()

    def begin(self) -> None:
        self._local.items = []

    def end(self) -> list[list[Any]]:
        items, self._local.items = self._local.items or [], None
        return items

    def reactor_fired(
        self, tenant: str, reactor: str, criteria: str, duration: float, subscribers: int
    ) -> None:
        items = self._local.items
        if items is not None:
            items.append(["f", reactor, criteria, duration, subscribers])

    def graph_finished(self, tenant: str, run: GraphRun) -> None:
        items = self._local.items
        if items is not None:
            items.append(["g", protocol.run_to_wire(run)])

    def accumulator_event(
        self, tenant: str, reactor: str, accumulator: str, kind: str, ok: bool
    ) -> None:
        items = self._local.items
        if items is not None:
            items.append(["a", reactor, accumulator, kind, ok])


Handler = Callable[["Worker", dict[str, Any]], Any]
HANDLERS: dict[str, Handler] = {}
#: Requests after which changed reactor caches ride along in the answer.
_CHANGES_CACHES = {
    "push",
    "push_frames",
    "fire",
    "command",
    "tick",
    "restore",
    "apply",
    "apply_command",
    "adopt_reactor",
}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


class Worker:
    """Serves one tenant's runtime on a channel until the supervisor closes it."""

    def __init__(self, tenant: str, channel: Channel, scratch: Path, threads: int) -> None:
        self.tenant = tenant
        self.channel = channel
        self.scratch = scratch
        self.telemetry = TelemetryObserver()
        self.local = LocalTenant.create(tenant, observer=self.telemetry)
        self.local.runtime._scratch = scratch  # library copies go to the worker's own dir
        self.threads = threads
        self._reading = threading.Lock()
        self._seen: dict[str, int] = {}
        self._closing = threading.Event()

    def serve(self, hello: dict[str, Any], tick_seconds: float) -> None:
        self.channel.send({"t": "hello", "v": protocol.VERSION, **hello})
        if tick_seconds > 0:  # 0: an event plane's owner ticks each reactor it owns
            ticker = threading.Thread(
                target=self._tick, args=(tick_seconds,), name="cloacina-worker-tick", daemon=True
            )
            ticker.start()
        for i in range(self.threads - 1):
            threading.Thread(target=self._serve, name=f"cloacina-worker-{i}", daemon=True).start()
        self._serve()

    def _serve(self) -> None:
        """Leader and followers: the thread holding the channel reads one request, lets the
        next thread read, and answers the request itself; no hand-over to another thread
        lies between a request's arrival and its answer."""
        while not self._closing.is_set():
            with self._reading:
                message = self.channel.recv()
            if message is None:
                os._exit(0)  # the supervisor is gone: nothing to answer to
            if message.get("t") == "req":
                self.answer(message)

    def _tick(self, every: float) -> None:
        """Time-driven work (batch flushes, polling accumulators); what it measured and the
        caches it changed go to the supervisor unasked."""
        while not self._closing.wait(every):
            self.telemetry.begin()
            try:
                self.local.tick()
            except Exception:
                log.exception("worker_tick_failed", tenant=self.tenant)
            items = self.telemetry.end()
            caches = self.local.caches(self._seen)
            if items or caches:
                self.channel.send({"t": "tel", "tel": items, "caches": caches})

    def answer(self, message: dict[str, Any]) -> None:
        op = str(message.get("op"))
        self.telemetry.begin()
        reply: dict[str, Any] = {"t": "res", "id": message.get("id")}
        try:
            fn = HANDLERS.get(op)
            if fn is None:
                raise protocol.ProtocolError(f"the worker knows no request {op!r}")
            reply.update(ok=True, r=fn(self, message.get("a") or {}))
        except CloacinaError as exc:
            reply.update(ok=False, e=to_wire(exc))
        except Exception as exc:  # a bug of ours, not the plugin's: say so, keep serving
            log.exception("worker_request_failed", tenant=self.tenant, op=op)
            reply.update(ok=False, e=to_wire(LoadError(f"the worker failed on {op}: {exc!r}")))
        reply["tel"] = self.telemetry.end()
        reply["caches"] = self.local.caches(self._seen) if op in _CHANGES_CACHES else {}
        self.channel.send(reply)
        if op == "close":
            self._closing.set()
            os._exit(0)

    def library(self, args: dict[str, Any]) -> LibraryRef:
        """The library a load or replace request carries, written to the scratch dir."""
        sha = str(args["sha256"])
        path = self.scratch / f"{sha}.so"
        if not path.exists():
            tmp = path.with_suffix(".incoming")
            tmp.write_bytes(args["library"])
            tmp.replace(path)
        return LibraryRef(str(args["name"]), str(args["version"]), sha, path)


def _decl(decl: PackageDecl) -> dict[str, Any]:
    return decl.to_dict()


@handler("load")
def _load(w: Worker, a: dict[str, Any]) -> Any:
    ref = w.library(a)
    with ffi.watched(ffi.CallSite(ref.name, "library (while loading)")):
        return _decl(w.local.load(ref))


@handler("replace")
def _replace(w: Worker, a: dict[str, Any]) -> Any:
    ref = w.library(a)
    with ffi.watched(ffi.CallSite(ref.name, "new version's library (while loading)")):
        return _decl(w.local.replace(ref))


@handler("unload")
def _unload(w: Worker, a: dict[str, Any]) -> Any:
    return protocol.report_to_wire(w.local.unload(str(a["package"])))


@handler("packages")
def _packages(w: Worker, a: dict[str, Any]) -> Any:
    return [_decl(d) for d in w.local.packages()]


@handler("push")
def _push(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.push(str(a["accumulator"]), a["event"])


@handler("push_frames")
def _push_frames(w: Worker, a: dict[str, Any]) -> Any:
    result = w.local.push_frames(str(a["accumulator"]), list(a["frames"]))
    return [result.fires, result.errors]


@handler("command")
def _command(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.command(str(a["reactor"]), dict(a["message"]))


@handler("fire")
def _fire(w: Worker, a: dict[str, Any]) -> Any:
    return [protocol.run_to_wire(r) for r in w.local.fire(str(a["reactor"]), a.get("inputs"))]


@handler("tick")
def _tick(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.tick()


@handler("apply")
def _apply(w: Worker, a: dict[str, Any]) -> Any:
    batches = [(str(acc), list(frames)) for acc, frames in a["batches"]]
    return w.local.apply(str(a["reactor"]), batches, bool(a.get("tick")))


@handler("apply_command")
def _apply_command(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.apply_command(str(a["reactor"]), dict(a["message"]))


@handler("export_reactor")
def _export_reactor(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.export_reactor(str(a["reactor"]))


@handler("adopt_reactor")
def _adopt_reactor(w: Worker, a: dict[str, Any]) -> Any:
    w.local.adopt_reactor(str(a["reactor"]), dict(a["state"]))
    return None


@handler("has")
def _has(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.has(a["kind"], str(a["name"]))


@handler("reactor_views")
def _reactor_views(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.reactor_views()


@handler("reactor_view")
def _reactor_view(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.reactor_view(str(a["name"]))


@handler("graph_views")
def _graph_views(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.graph_views(a.get("only"))


@handler("accumulator_views")
def _accumulator_views(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.accumulator_views()


@handler("subscribers")
def _subscribers(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.subscribers(str(a["reactor"]))


@handler("sample")
def _sample(w: Worker, a: dict[str, Any]) -> Any:
    sample = w.local.sample()
    return None if sample is None else sample.to_wire()


@handler("counts")
def _counts(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.counts()


@handler("restore")
def _restore(w: Worker, a: dict[str, Any]) -> Any:
    return w.local.restore(dict(a["caches"]))


@handler("ping")
def _ping(w: Worker, a: dict[str, Any]) -> Any:
    return {"pid": os.getpid()}


@handler("close")
def _close(w: Worker, a: dict[str, Any]) -> Any:
    w.local.close()
    return None


# --------------------------------------------------------------------------- start-up


def _read_only_paths(extra: list[str]) -> list[str]:
    """What a worker may read: the interpreter, this package, system libraries and the few
    system files C and Rust runtimes read; plus what the operator added."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).parents[2])}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    paths.update(("/usr", "/lib", "/lib64", "/bin", "/sbin", "/proc/self"))
    paths.update(("/sys/devices/system/cpu", "/dev/urandom", "/dev/random", "/dev/zero"))
    for name in (
        "ld.so.cache",
        "ld.so.conf",
        "ld.so.conf.d",
        "localtime",
        "nsswitch.conf",
        "passwd",
        "group",
        "hosts",
        "resolv.conf",
        "gai.conf",
        "host.conf",
        "services",
        "protocols",
        "ssl",
        "ca-certificates",
    ):
        paths.add(f"/etc/{name}")
    paths.update(extra)
    return sorted(paths)


def confine(config: dict[str, Any]) -> dict[str, Any]:
    """Apply the sandbox; returns what was applied (for the hello and the logs)."""
    applied: dict[str, Any] = {}
    sandbox.die_with_parent(int(config["parent"]))
    sandbox.no_core_dumps()
    memory = config.get("address_space")
    if memory:
        applied["memory"] = sandbox.limit_memory(int(memory))
    scratch = str(config["scratch"])
    abi = sandbox.restrict_filesystem(
        _read_only_paths(list(config.get("read_paths") or [])),
        [scratch, "/dev/null"],
        scope_signals=True,
    )
    applied["landlock"] = abi
    user = config.get("user")
    if user:
        sandbox.drop_privileges(str(user))
        applied["user"] = str(user)
    elif os.geteuid() == 0:
        sandbox.drop_capabilities()
        applied["user"] = "root without capabilities"
    else:
        applied["user"] = str(os.geteuid())
    return applied


def main(argv: list[str]) -> int:
    config: dict[str, Any] = orjson.loads(argv[0])
    logsetup.configure(str(config.get("log_level") or "warning"), json=True)
    crash = os.fdopen(int(config["crash_fd"]), "w")
    faulthandler.enable(file=crash, all_threads=True)
    applied = confine(config)
    slots = SlotWriter(int(config["slots_fd"]), int(config["slots"]))
    ffi.WATCH = slots
    channel = Channel(int(config["request_fd"]), int(config["reply_fd"]))
    worker = Worker(str(config["tenant"]), channel, Path(config["scratch"]), int(config["threads"]))
    worker.serve(
        {"pid": os.getpid(), "tenant": worker.tenant, "sandbox": applied},
        float(config.get("tick_seconds", 0.1)),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
