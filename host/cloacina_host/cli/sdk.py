"""``sdk path|include|cmake|pkgconfig``: where the installed package keeps the C SDK, for a
plugin author's compiler (``-I``), CMake (``find_package(Cloacina)``) or pkg-config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from ..packaging import sdk
from .exits import user_errors


@click.group("sdk")
def sdk_group() -> None:
    """Where the installed package keeps the C SDK (headers, CMake config, pkg-config file).

    \b
      cc -shared -fPIC -I"$(cloacinactl sdk include)" plugin.c -o libplugin.so
      cmake -S . -B build -DCloacina_DIR="$(cloacinactl sdk cmake)"
      PKG_CONFIG_PATH="$(cloacinactl sdk pkgconfig)" pkg-config --cflags cloacina
    """


def _printer(name: str, where: Callable[[], Path], help_text: str) -> None:
    @sdk_group.command(name, help=help_text)
    def command() -> None:
        with user_errors():
            path = where()
        click.echo(str(path))


_printer(
    "path",
    sdk.sdk_dir,
    "Print the SDK's directory (holds include/, cmake/, pkgconfig/; a CMAKE_PREFIX_PATH entry).",
)
_printer("include", sdk.include_dir, "Print the directory of cloacina_plugin.h and cloacina_sdk.h.")
_printer("cmake", sdk.cmake_dir, "Print the directory of CloacinaConfig.cmake (Cloacina_DIR).")
_printer("pkgconfig", sdk.pkgconfig_dir, "Print the directory of cloacina.pc (PKG_CONFIG_PATH).")
