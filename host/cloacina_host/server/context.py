"""What every handler reaches: the :class:`~..control.plane.ControlPlane` and the server's
own state.

One :class:`Context` per :func:`~.asgi.create_app` call, kept on the FastAPI app's state, so
the route modules are plain module-level routers that any number of apps can share."""

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from ..control.plane import ControlPlane
from ..control.store import Store
from ..control.tickets import TICKET_TTL, Tickets
from ..events.broker import EventSettings
from ..events.plane import EventPlane
from .metrics import Metrics

POLL_SECONDS = 5.0  # background reconcile (docs/architecture.md)
TICK_SECONDS = 0.1  # batch flushes and polling accumulators
MAX_BODY = 256 * 1024 * 1024


@dataclass
class Settings:
    """Knobs of :func:`~.asgi.create_app` (tests shorten them)."""

    ticket_ttl: float = TICKET_TTL
    poll_seconds: float = POLL_SECONDS
    tick_seconds: float = TICK_SECONDS
    max_body: int = MAX_BODY
    #: the host the app listens on: under ``metrics_auth="auto"`` a loopback one serves
    #: ``/metrics`` without a token (:func:`~.serve.run` sets it from its bind address)
    bind_host: str = "127.0.0.1"
    #: ``HOST:PORT`` of the separate metrics listener; then ``/metrics`` here answers 404
    metrics_bind: str | None = None
    #: a bearer token that may read ``/metrics`` besides a platform admin key
    metrics_token: str | None = None
    #: ``"auto"`` (a token unless the address is loopback) or ``"always"``
    metrics_auth: str = "auto"
    #: the JetStream event plane's settings; None: the embedded event plane
    events: EventSettings | None = None


@dataclass
class Context:
    """One server's state: the control plane (store, runtimes, reconcilers), the event
    plane (how events reach reactors, and the live output streams), its metrics, settings
    and WebSocket tickets."""

    plane: ControlPlane
    events: EventPlane
    metrics: Metrics
    settings: Settings
    tickets: Tickets
    # set once the stored packages have been reconciled after start (``/ready``)
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def store(self) -> Store:
        return self.plane.store


def context_of(conn: HTTPConnection) -> Context:
    """The context of the app serving ``conn`` (a request or a WebSocket)."""
    ctx: Context = conn.app.state.cloacina
    return ctx


Ctx = Annotated[Context, Depends(context_of)]
