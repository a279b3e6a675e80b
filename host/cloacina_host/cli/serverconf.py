"""The server's config file, ``server.toml``: the flags of ``cloacina-server`` (=
``cloacinactl server start``) as TOML keys named like them (``--database-url`` is
``database_url``)::

    bind = "0.0.0.0:8080"
    database_url = "postgresql://cloacina@db/cloacina"
    events = "nats://nats.internal:4222"
    isolation = "tenant"
    call_deadline = 5
    worker_env = ["TZ=UTC"]            # or a table: [worker_env] TZ = "UTC"

It is ``--config FILE``, else ``$CLOACINA_CONFIG``, else ``$CLOACINA_HOME/server.toml`` when
that exists. Its values become the command's defaults (click's ``default_map``), so a flag
beats the environment, which beats the file, which beats the built-in defaults. Every key
and type is checked against the command's own options: an unknown key or a wrong type is an
error naming the file and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from ..errors import CloacinaError, suggestion
from .config import default_home

SERVER_CONFIG = "server.toml"

# options that take numbers (click keeps them as text: the worker settings parse them)
NUMBERS: dict[str, type] = {"call_deadline": float, "worker_memory": float, "worker_threads": int}
# text options with a fixed set of values that click does not check itself
CHOICES: dict[str, tuple[str, ...]] = {"isolation": ("tenant", "none")}


class ServerConfigError(CloacinaError):
    """The server's config file is unreadable, or holds an unknown key or a wrong type."""

    code = "invalid_server_config"


def config_path(given: Path | None) -> Path | None:
    """The file to read: the one given (flag or environment), else
    ``$CLOACINA_HOME/server.toml`` if it exists, else None."""
    if given is not None:
        return given
    default = default_home() / SERVER_CONFIG
    return default if default.is_file() else None


def keys_of(params: Iterable[click.Parameter]) -> dict[str, click.Option]:
    """The keys a config file may hold: every option of the command that takes a value,
    except ``config`` itself."""
    return {
        p.name: p
        for p in params
        if isinstance(p, click.Option) and p.name and p.expose_value and p.name != "config"
    }


def read(path: Path, params: Iterable[click.Parameter]) -> dict[str, Any]:
    """The file's values, keyed by option name and shaped as click takes defaults."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ServerConfigError(f"cannot read server config {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ServerConfigError(f"server config {path} is not valid TOML: {exc}") from exc
    options = keys_of(params)
    values: dict[str, Any] = {}
    for key, value in data.items():
        option = options.get(key)
        if option is None:
            hint = suggestion(key.replace("-", "_"), options) or suggestion(key, options)
            raise ServerConfigError(f"server config {path}: unknown key {key!r}{hint}")
        values[key] = _checked(path, key, value, option)
    return values


def _checked(path: Path, key: str, value: Any, option: click.Option) -> Any:
    def wrong(expected: str) -> ServerConfigError:
        return ServerConfigError(
            f"server config {path}: key {key!r} must be {expected}, "
            f"not {type(value).__name__} {value!r}"
        )

    if option.multiple:
        if isinstance(value, dict):  # a table of variables: [worker_env] KEY = "VALUE"
            if not all(isinstance(v, str) for v in value.values()):
                raise wrong("a list of strings or a table of strings")
            return [f"{k}={v}" for k, v in value.items()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong("a list of strings")
        return list(value)
    kind = NUMBERS.get(key)
    if kind is not None:
        allowed: tuple[type, ...] = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise wrong("an integer" if kind is int else "a number")
        return str(value)
    if not isinstance(value, str):
        raise wrong("a string")
    choices = list(CHOICES.get(key, ()))
    folded = value
    if isinstance(option.type, click.Choice):
        choices = [str(c) for c in option.type.choices]
        folded = value.lower() if not option.type.case_sensitive else value
    if choices and folded not in choices:
        raise ServerConfigError(
            f"server config {path}: key {key!r} must be one of {', '.join(choices)}, "
            f"not {value!r}{suggestion(value, choices)}"
        )
    return value
