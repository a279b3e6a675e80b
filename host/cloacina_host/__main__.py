"""``python -m cloacina_host`` is ``cloacinactl``."""

from .cli import main

main(prog_name="cloacinactl")
