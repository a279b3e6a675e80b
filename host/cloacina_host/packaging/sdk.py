"""The plugin author's kit inside the installed package: the C SDK headers (``include/``), the
CMake package config (``cmake/``, ``find_package(Cloacina)``), the pkg-config file
(``pkgconfig/cloacina.pc``) and the example libraries the wheel bundles (``plugins/``).

The wheel's CMake install puts them beside the Python modules (``CMakeLists.txt``). An editable
install may keep them in another directory than the sources, so every directory the package
is imported from is searched.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import PackageError

__all__ = [
    "bundled_library",
    "cmake_dir",
    "include_dir",
    "pkgconfig_dir",
    "sdk_dir",
]

_PACKAGE = "cloacina_host"
#: What marks the directory of the kit: the ABI header where the wheel installs it.
_MARKER = Path("include") / "cloacina_plugin.h"


def _package_dirs() -> list[Path]:
    spec = importlib.util.find_spec(_PACKAGE)
    locations = [] if spec is None else list(spec.submodule_search_locations or [])
    return [Path(location) for location in locations]


def sdk_dir() -> Path:
    """The installed package's directory that holds ``include/``, ``cmake/`` and
    ``pkgconfig/`` (a prefix for ``CMAKE_PREFIX_PATH``)."""
    dirs = _package_dirs()
    for candidate in dirs:
        if (candidate / _MARKER).is_file():
            return candidate
    looked = ", ".join(repr(str(d)) for d in dirs) or "nowhere: the package has no location"
    raise PackageError(
        f"the cloacina C SDK is not installed with this {_PACKAGE} (no {_MARKER} in {looked}); "
        "install the cloacina-host wheel (or `pip install -e .` in a checkout) to get it"
    )


def _part(name: str, marker: str) -> Path:
    path = sdk_dir() / name
    if not (path / marker).is_file():
        raise PackageError(
            f"the cloacina SDK in {str(path.parent)!r} has no {name}/{marker}; "
            "reinstall cloacina-host"
        )
    return path


def include_dir() -> Path:
    """The directory of ``cloacina_plugin.h`` and ``cloacina_sdk.h`` (for ``-I``)."""
    return _part("include", "cloacina_sdk.h")


def cmake_dir() -> Path:
    """The directory of ``CloacinaConfig.cmake`` (for ``-DCloacina_DIR=``)."""
    return _part("cmake", "CloacinaConfig.cmake")


def pkgconfig_dir() -> Path:
    """The directory of ``cloacina.pc`` (for ``PKG_CONFIG_PATH``)."""
    return _part("pkgconfig", "cloacina.pc")


def bundled_library(file_name: str) -> Path:
    """One of the example libraries the wheel bundles, e.g. ``libpricing_publisher.so``."""
    for directory in _package_dirs():
        path = directory / "plugins" / file_name
        if path.is_file():
            return path
    raise PackageError(
        f"this {_PACKAGE} bundles no {file_name!r} (looked in plugins/ of "
        f"{', '.join(repr(str(d)) for d in _package_dirs())}); build it and pass its path"
    )
