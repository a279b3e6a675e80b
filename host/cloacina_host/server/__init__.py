"""``cloacina-server``: the HTTP + WebSocket API of docs/api.md over a
:class:`~..control.plane.ControlPlane`.

FastAPI on uvicorn; only this subpackage names the web framework. Its modules:

- :mod:`.asgi` builds the ASGI app (:func:`create_app`) and runs the background work;
- :mod:`.routes` and :mod:`.sockets` are the HTTP and WebSocket routes;
- :mod:`.payloads` are the JSON shapes they answer with, :mod:`.ws_commands` the work
  behind the WebSocket endpoints;
- :mod:`.auth` says who is calling and what they may touch, over :mod:`.access` (API
  errors, principals, the bootstrap key) and the store's WebSocket ticket book
  (:mod:`cloacina_host.control.tickets`);
- :mod:`.metrics` is the Prometheus observer;
- :mod:`.context` is the per-app state the routes reach, :mod:`.streams` the queues
  between worker threads and the event loop, :mod:`.edge` the outermost ASGI layer
  and :mod:`.responses` the ``{error, code}`` envelope;
- :mod:`.serve` runs it: :func:`run` (what ``cloacina-server`` = ``cloacinactl server
  start`` calls; the command line itself is ``cli/serving.py``).
"""

from .asgi import create_app
from .context import Settings
from .serve import DEFAULT_HOST, DEFAULT_PORT, parse_bind, run

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Settings", "create_app", "parse_bind", "run"]
