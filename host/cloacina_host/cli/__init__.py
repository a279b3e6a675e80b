"""``cloacinactl``: the command line.

Only this subpackage names the CLI library (click). Every flag that has an environment
fallback says so in ``--help``. Local commands work on files and folders (``package
build|pack|inspect``, ``daemon start``, ``package list --data-dir``); remote commands talk to
a server over HTTP (docs/api.md) with the server, key and tenant taken from the flags, then
the environment, then the profile (``cloacina_host/profiles.py``).

Exit codes: 0 ok, 1 usage or user error, 2 cannot reach the server, 3 not found, 4 auth,
5 conflict (the bound-subscriber guard).

Modules: ``core`` (exit codes, errors, the group class), ``options`` (the shared remote
options and what they resolve to), ``group`` (``main``, the group itself), and one module of
commands per thing they manage: ``packages``, ``graphs``, ``reactors``, ``tenants``, ``keys``,
``profiles``, ``services`` (demo, inspect-lib, daemon), ``serving`` (``server start``, also
``cloacina-server``) with ``serverconf`` (its TOML config file).
"""

from __future__ import annotations

from .group import main
from .serving import server_main

__all__ = ["main", "server_main"]
