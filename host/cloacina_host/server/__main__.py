"""``python -m cloacina_host.server`` is ``cloacina-server`` (``cloacinactl server start``).

An entry point: nothing imports it, so it sits above every layer and may reach the CLI."""

from ..cli import server_main

server_main()
