"""Prometheus metrics of a host process (prometheus-client).

:class:`Metrics` implements :class:`~cloacina_host.reactor.Observer`, so the runtime reports
fires, graph runs and accumulator wake-ups to it directly. Each instance has its own
``CollectorRegistry``: several servers (or tests) in one process do not clash.

:func:`serve_metrics` serves them on a separate address (``--metrics-bind``).

Counts that the runtime already keeps exactly (events and errors per accumulator, bound
subscribers per reactor, loaded packages per tenant) are read at scrape time from a
``source`` callable instead of being counted again on the hot path.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app
from prometheus_client.registry import Collector

from ..core.executor import GraphRun
from ..core.views import TenantSample
from .access import ApiError

#: Buckets for fires and graph runs: native calls take microseconds to seconds.
FAST_BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


RunListener = Callable[[str, GraphRun], None]


class _Live(Collector):
    """Families computed at scrape time from the runtime's own counters."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "cloacina_accumulator_events",
            "Events accepted by an accumulator.",
            labels=["tenant", "accumulator", "kind"],
        )
        errors = CounterMetricFamily(
            "cloacina_accumulator_errors",
            "Events an accumulator refused (plugin errors, invalid output).",
            labels=["tenant", "accumulator", "kind"],
        )
        subscribers = GaugeMetricFamily(
            "cloacina_reactor_subscribers",
            "Graphs bound to a reactor.",
            labels=["tenant", "reactor"],
        )
        loaded = GaugeMetricFamily(
            "cloacina_package_loaded", "Packages loaded in a tenant.", labels=["tenant"]
        )
        depth = GaugeMetricFamily(
            "cloacina_accumulator_buffer_depth",
            "Events buffered by a batch accumulator, waiting for its next flush.",
            labels=["tenant", "accumulator", "kind"],
        )
        source = self._metrics.source
        for sample in source() if source is not None else ():
            loaded.add_metric([sample.tenant], sample.packages_loaded)
            for reactor in sample.reactors:
                subscribers.add_metric([sample.tenant, reactor.name], reactor.subscribers)
                for acc in reactor.accumulators:
                    labels = [sample.tenant, acc.name, acc.kind]
                    events.add_metric(labels, acc.events)
                    errors.add_metric(labels, acc.errors)
                    depth.add_metric(labels, acc.depth)
        yield from (events, errors, subscribers, loaded, depth)
        yield from self._workers()

    def _workers(self) -> Iterator[Metric]:
        """Each tenant's worker, from the supervisor's own counters."""
        up = GaugeMetricFamily(
            "cloacina_worker_up", "1 while a tenant's worker serves, else 0.", labels=["tenant"]
        )
        restarts = CounterMetricFamily(
            "cloacina_worker_restarts", "Restarts of a tenant's worker.", labels=["tenant"]
        )
        crashes = CounterMetricFamily(
            "cloacina_worker_crashes",
            "Deaths of a tenant's worker by cause (crashed, exited, hung, memory).",
            labels=["tenant", "cause"],
        )
        kills = CounterMetricFamily(
            "cloacina_worker_deadline_kills",
            "Workers killed because a native call ran past its deadline.",
            labels=["tenant"],
        )
        quarantines = CounterMetricFamily(
            "cloacina_package_quarantines",
            "Packages quarantined because a call of theirs ended their tenant's worker.",
            labels=["tenant"],
        )
        depth = GaugeMetricFamily(
            "cloacina_worker_channel_depth",
            "Requests sent to a tenant's worker and not answered yet.",
            labels=["tenant"],
        )
        source = self._metrics.workers
        for tenant, status in source() if source is not None else ():
            up.add_metric([tenant], 1 if status["state"] == "ready" else 0)
            restarts.add_metric([tenant], status["restarts"])
            for cause, count in status["crashes"].items():
                crashes.add_metric([tenant, cause], count)
            kills.add_metric([tenant], status["deadline_kills"])
            quarantines.add_metric([tenant], status["quarantines"])
            depth.add_metric([tenant], status["in_flight"])
        yield from (up, restarts, crashes, kills, quarantines, depth)


class Metrics:
    """The metric families of docs/api.md, labelled by tenant and names."""

    def __init__(self, source: Callable[[], Iterable[TenantSample]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.source = source
        #: (tenant, worker status) of every tenant with a worker, read at scrape time.
        self.workers: Callable[[], Iterable[tuple[str, dict[str, Any]]]] | None = None
        #: Called with every finished graph run (the server's live output streams).
        self.run_listeners: list[RunListener] = []
        r = self.registry
        self.reactor_fires = Counter(
            "cloacina_reactor_fires",
            "Reactor fires.",
            ["tenant", "reactor", "criteria"],
            registry=r,
        )
        self.reactor_fire_duration = Histogram(
            "cloacina_reactor_fire_duration_seconds",
            "Time of one fire, all bound graphs included.",
            ["tenant", "reactor"],
            registry=r,
            buckets=FAST_BUCKETS,
        )
        self.graph_executions = Counter(
            "cloacina_graph_executions",
            "Graph executions by outcome.",
            ["tenant", "graph", "reactor", "outcome"],
            registry=r,
        )
        self.graph_duration = Histogram(
            "cloacina_graph_duration_seconds",
            "Time of one graph execution.",
            ["tenant", "graph"],
            registry=r,
            buckets=FAST_BUCKETS,
        )
        self.graph_node_duration = Histogram(
            "cloacina_graph_node_duration_seconds",
            "Time of one node call across the FFI (node-by-node execution only).",
            ["tenant", "graph", "node"],
            registry=r,
            buckets=FAST_BUCKETS,
        )
        self.accumulator_wakeups = Counter(
            "cloacina_accumulator_wakeups",
            "Reactor wake-ups carrying events for an accumulator (events / wake-ups = batching).",
            ["tenant", "accumulator", "kind"],
            registry=r,
        )
        self.package_load_failures = Counter(
            "cloacina_package_load_failures",
            "Package versions that failed to load.",
            ["tenant"],
            registry=r,
        )
        self.ws_connections = Gauge(
            "cloacina_ws_connections_active",
            "Open WebSocket connections.",
            ["endpoint"],
            registry=r,
        )
        self.ws_messages = Counter(
            "cloacina_ws_messages",
            "WebSocket messages.",
            ["endpoint", "direction"],
            registry=r,
        )
        self.api_requests = Counter(
            "cloacina_api_requests",
            "HTTP API requests.",
            ["method", "route", "status"],
            registry=r,
        )
        self.api_duration = Histogram(
            "cloacina_api_request_duration_seconds",
            "HTTP API request time.",
            ["method", "route"],
            registry=r,
        )
        r.register(_Live(self))
        # labelled children, cached: ``labels()`` costs a lock and a tuple build per call
        self._fires: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._graphs: dict[tuple[str, str, str | None, bool], tuple[Any, Any]] = {}
        self._nodes: dict[tuple[str, str, str], Any] = {}
        self._wakeups: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------------ Observer

    def reactor_fired(
        self, tenant: str, reactor: str, criteria: str, duration: float, subscribers: int
    ) -> None:
        key = (tenant, reactor)
        children = self._fires.get(key)
        if children is None:
            children = (
                self.reactor_fires.labels(tenant, reactor, criteria),
                self.reactor_fire_duration.labels(tenant, reactor),
            )
            self._fires[key] = children
        children[0].inc()
        children[1].observe(duration)

    def graph_finished(self, tenant: str, run: GraphRun) -> None:
        ok = run.error is None
        key = (tenant, run.graph, run.reactor, ok)
        children = self._graphs.get(key)
        if children is None:
            children = (
                self.graph_executions.labels(
                    tenant, run.graph, run.reactor or "", "success" if ok else "failure"
                ),
                self.graph_duration.labels(tenant, run.graph),
            )
            self._graphs[key] = children
        children[0].inc()
        children[1].observe(run.duration)
        for node, seconds in run.node_seconds:
            nkey = (tenant, run.graph, node)
            child = self._nodes.get(nkey)
            if child is None:
                child = self._nodes[nkey] = self.graph_node_duration.labels(tenant, run.graph, node)
            child.observe(seconds)
        for listener in self.run_listeners:
            listener(tenant, run)

    def accumulator_event(
        self, tenant: str, reactor: str, accumulator: str, kind: str, ok: bool
    ) -> None:
        # Called once per push (one reactor wake-up, possibly many events); the exact event
        # and error counts are read from the accumulators at scrape time.
        if not ok:
            return
        key = (tenant, accumulator)
        child = self._wakeups.get(key)
        if child is None:
            child = self.accumulator_wakeups.labels(tenant, accumulator, kind)
            self._wakeups[key] = child
        child.inc()

    # ------------------------------------------------------------------ the rest

    def load_failures(self, tenant: str, count: int = 1) -> None:
        if count:
            self.package_load_failures.labels(tenant).inc(count)

    def render(self) -> bytes:
        """The Prometheus text exposition of every family."""
        return generate_latest(self.registry)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log, as on the main address."""


def serve_metrics(
    metrics: Metrics, host: str, port: int, authorize: Callable[[str | None], None]
) -> Callable[[], None]:
    """Serve ``GET /metrics`` on ``host:port`` from a thread (the stdlib's WSGI server with
    prometheus-client's exposition); ``authorize`` gets the ``Authorization`` header and
    raises :class:`ApiError` to refuse. Returns the function that stops the listener."""
    exposition = make_wsgi_app(metrics.registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        try:
            if path != "/metrics":
                raise ApiError(404, "not_found", f"no route {method} {path}: use GET /metrics")
            if method != "GET":
                raise ApiError(405, "method_not_allowed", f"method {method} is not allowed")
            authorize(environ.get("HTTP_AUTHORIZATION"))
        except ApiError as exc:
            body = orjson.dumps({"error": exc.message, "code": exc.code})
            start_response(
                f"{exc.status} {HTTPStatus(exc.status).phrase}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        output: Iterable[bytes] = exposition(environ, start_response)
        return output

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class Listener(ThreadingWSGIServer):
        address_family = family

    httpd = make_server(host, port, app, Listener, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics-listener", daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join()

    return stop
