"""``python -m cloacina_host.server`` is ``cloacina-server``."""

from .serve import main

main()
