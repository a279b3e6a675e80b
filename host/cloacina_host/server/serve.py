"""Running the server: the bind address, uvicorn and signals (its command line,
``cloacina-server`` = ``cloacinactl server start``, is ``cli/serving.py``)."""

import dataclasses
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from ..control.plane import ControlPlane, default_data_dir
from ..control.store import Store
from ..control.tickets import TICKET_TTL
from ..errors import InvalidInputError
from ..events.broker import EventSettings
from ..isolation.settings import Isolation, WorkerSettings
from ..log import get_logger
from .access import METRICS_AUTH, authorize_metrics
from .asgi import create_app
from .context import MAX_BODY, POLL_SECONDS, Settings
from .metrics import Metrics, serve_metrics

log = get_logger()

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (or ``:port``, or ``host``) into a host and a port."""
    host, sep, port = bind.rpartition(":")
    if not sep:
        return bind or DEFAULT_HOST, DEFAULT_PORT
    try:
        number = int(port)
    except ValueError:
        raise InvalidInputError(f"invalid bind address {bind!r}: use HOST:PORT") from None
    return (host.strip("[]") or DEFAULT_HOST), number


def run(
    data_dir: str | Path | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    database_url: str | None = None,
    *,
    log_level: str = "info",
    bootstrap_key: str | None = None,
    settings: Settings | None = None,
    isolation: Isolation = "tenant",
    workers: WorkerSettings | None = None,
    metrics_bind: str | None = None,
    metrics_token: str | None = None,
    metrics_auth: str | None = None,
    replica: str | None = None,
    events: str | None = None,
) -> None:
    """Serve the API until SIGINT/SIGTERM (what ``cloacinactl server start`` runs).

    - ``data_dir``: state directory (``$CLOACINA_HOME`` or ``~/.cloacina`` when None): the
      SQLite database, library copies and ``bootstrap-key``.
    - ``host``/``port``: where to listen (default ``127.0.0.1:8080``; see :func:`parse_bind`).
    - ``database_url``: ``postgresql://…`` for PostgreSQL; None for SQLite in ``data_dir``.
    - ``log_level``: uvicorn's level. structlog is configured by the caller
      (:func:`cloacina_host.log.configure`), not here.
    - ``bootstrap_key``: the first platform admin key; None reads ``CLOACINA_BOOTSTRAP_KEY``
      and generates one when that is unset too (only used while the store has no keys).
    - ``replica``: this replica's id among those sharing the database (stable across
      restarts when given; generated otherwise).
    - ``isolation``/``workers``: ``tenant`` runs each tenant in a supervised worker process
      set up by ``workers`` (see :func:`worker_settings`); ``none`` runs them in the server.
    - ``events``: ``nats://…`` for the JetStream event plane (docs/deploy.md), None or
      ``"embedded"`` for the embedded one; its settings come from :func:`event_settings`.
    - ``settings``: None reads ``CLOACINA_WS_TICKET_TTL`` (seconds),
      ``CLOACINA_MAX_BODY_BYTES``, ``CLOACINA_METRICS_BIND``, ``CLOACINA_METRICS_TOKEN`` and
      ``CLOACINA_METRICS_AUTH`` from the environment, else the defaults. Its ``bind_host``
      is always ``host``.
    - ``metrics_bind``/``metrics_token``/``metrics_auth`` (when not None) replace the
      settings' ones: serve metrics on a separate ``HOST:PORT`` instead of ``/metrics`` here;
      a token that may read them besides a platform admin key; ``"auto"`` (a token is needed
      unless the address is loopback) or ``"always"``.
    """
    data = Path(data_dir) if data_dir else default_data_dir()
    if bootstrap_key is None:
        bootstrap_key = os.environ.get("CLOACINA_BOOTSTRAP_KEY") or None
    if settings is None:
        settings = Settings(
            ticket_ttl=float(os.environ.get("CLOACINA_WS_TICKET_TTL") or TICKET_TTL),
            max_body=int(os.environ.get("CLOACINA_MAX_BODY_BYTES") or MAX_BODY),
            poll_seconds=float(os.environ.get("CLOACINA_POLL_SECONDS") or POLL_SECONDS),
            metrics_bind=os.environ.get("CLOACINA_METRICS_BIND") or None,
            metrics_token=os.environ.get("CLOACINA_METRICS_TOKEN") or None,
            metrics_auth=os.environ.get("CLOACINA_METRICS_AUTH") or "auto",
        )
    settings = dataclasses.replace(
        settings,
        bind_host=host,
        metrics_bind=metrics_bind or settings.metrics_bind,
        metrics_token=metrics_token or settings.metrics_token,
        metrics_auth=(metrics_auth or settings.metrics_auth).lower(),
    )
    if events is not None and settings.events is None:
        settings = dataclasses.replace(settings, events=event_settings(events))
    if settings.events is not None:  # each reactor's owner ticks it, not every worker
        workers = dataclasses.replace(workers or WorkerSettings(), tick_seconds=0.0)
    if settings.metrics_auth not in METRICS_AUTH:
        raise InvalidInputError(
            f"invalid metrics auth {settings.metrics_auth!r}: use 'auto' or 'always'"
        )
    metrics_at = parse_bind(settings.metrics_bind) if settings.metrics_bind else None
    store = Store.for_data_dir(data, database_url)
    metrics = Metrics()
    plane = ControlPlane(
        data, store, observer=metrics, isolation=isolation, workers=workers, replica=replica
    )
    stop_metrics: Callable[[], None] | None = None
    try:
        asgi = create_app(plane, metrics, bootstrap_key=bootstrap_key, settings=settings)
        if metrics_at is not None:
            stop_metrics = _metrics_listener(metrics, store, settings, *metrics_at)
        config = uvicorn.Config(
            asgi,
            host=host,
            port=port,
            log_config=None,
            log_level=log_level.lower(),
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        log.info("server_listening", url=f"http://{host}:{port}")
        if threading.current_thread() is threading.main_thread():
            # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to
            # the handler it found: make that handler end the process with status 0.
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, _exit_ok)
        uvicorn.Server(config).run()
    finally:
        if stop_metrics is not None:
            stop_metrics()
        plane.close()


def event_settings(events: str) -> EventSettings | None:
    """``--events``: ``embedded`` (None) or a ``nats://`` URL, with the event plane's knobs
    from ``CLOACINA_EVENTS_LEASE_SECONDS`` and ``CLOACINA_EVENTS_RUNS_PER_GRAPH``."""
    value = events.strip()
    if value in ("", "embedded"):
        return None
    if not value.startswith(("nats://", "tls://")):
        raise InvalidInputError(
            f"invalid --events {events!r}: use 'embedded' or a broker URL like nats://host:4222"
        )
    lease = float(os.environ.get("CLOACINA_EVENTS_LEASE_SECONDS") or 2.0)
    runs = int(os.environ.get("CLOACINA_EVENTS_RUNS_PER_GRAPH") or 100)
    if not 0.5 <= lease <= 60 or runs < 1:
        raise InvalidInputError(
            "CLOACINA_EVENTS_LEASE_SECONDS must be within 0.5-60 and "
            "CLOACINA_EVENTS_RUNS_PER_GRAPH at least 1"
        )
    return EventSettings(
        url=value, lease_seconds=lease, renew_seconds=lease / 4, runs_per_graph=runs
    )


def _metrics_listener(
    metrics: Metrics, store: Store, settings: Settings, host: str, port: int
) -> Callable[[], None]:
    """The separate metrics address (``--metrics-bind``), with the same rules on its host."""

    def authorize(header: str | None) -> None:
        authorize_metrics(
            store,
            header,
            bind_host=host,
            token=settings.metrics_token,
            auth=settings.metrics_auth,
        )

    try:
        stop = serve_metrics(metrics, host, port, authorize)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    log.info("metrics_listening", url=f"http://{host}:{port}/metrics")
    return stop


def _exit_ok(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)
