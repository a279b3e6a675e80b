"""How commands fail: exit codes, ``Error: <message>`` on stderr, and the group class that
gives click's usage errors the same exit status as every other user error.

Exit codes: 0 ok, 1 usage or user error, 2 cannot reach the server, 3 not found, 4 auth,
5 conflict (the bound-subscriber guard).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..errors import CloacinaError
from .client import RemoteError, UnreachableError

EXIT_OK = 0
EXIT_USER = 1
EXIT_UNREACHABLE = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_CONFLICT = 5


def exit_code(exc: CloacinaError) -> int:
    """The exit status of an error (docs/cli.md)."""
    if isinstance(exc, UnreachableError):
        return EXIT_UNREACHABLE
    if isinstance(exc, RemoteError):
        if exc.status == 404:
            return EXIT_NOT_FOUND
        if exc.status in (401, 403):
            return EXIT_AUTH
        if exc.status == 409:
            return EXIT_CONFLICT
        if exc.status in (502, 503, 504):  # a proxy or a server that is not ready
            return EXIT_UNREACHABLE
    return EXIT_USER


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`CloacinaError` into ``Error: <message>`` on stderr and its exit status."""
    try:
        yield
    except CloacinaError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exit_code(exc))


def to_stderr(line: str) -> None:
    """Print a progress line or note on stderr; stdout is kept for what scripts read."""
    click.echo(line, err=True)


class UsageExit(click.ClickException):
    """A click usage error that exits with status 1 and shows itself as click would."""

    exit_code = EXIT_USER

    def __init__(self, original: click.UsageError) -> None:
        super().__init__(original.message)
        self.original = original

    def show(self, file: Any = None) -> None:
        self.original.show(file)


class CloacinaCommand(click.Command):
    """A command whose usage errors (unknown option, missing argument, bad value) exit with
    status 1 like every other user error, not click's 2 (which means "cannot reach the
    server" here); ``cloacina-server`` is one, run on its own."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise UsageExit(exc) from exc


class CloacinaGroup(CloacinaCommand, click.Group):
    """``cloacinactl``: its usage errors, and its subcommands', exit with status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise UsageExit(exc) from exc
