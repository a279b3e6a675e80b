"""A project directory's package identity (``package.toml``, else ``Cargo.toml``, else
``CMakeLists.txt``), and whether it is a Cargo crate or a CMake project. No building here."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import PackageError
from .manifest import MANIFEST_NAME, check_name, check_version

__all__ = ["Identity", "ProjectKind", "project_kind", "read_identity"]

# --------------------------------------------------------------------------- projects

ProjectKind = Literal["cargo", "cmake"]


@dataclass(frozen=True)
class Identity:
    """A package's identity as its project directory states it."""

    name: str
    version: str
    description: str = ""


def _project_dir(project_dir: str | os.PathLike[str]) -> Path:
    path = Path(project_dir)
    if not path.is_dir():
        raise PackageError(f"{str(path)!r} is not a directory")
    return path


def project_kind(project_dir: str | os.PathLike[str]) -> ProjectKind:
    """``"cargo"`` if the directory has a ``Cargo.toml``, else ``"cmake"`` for a
    ``CMakeLists.txt``; a directory with both is a Cargo crate."""
    path = _project_dir(project_dir)
    if (path / "Cargo.toml").is_file():
        return "cargo"
    if (path / "CMakeLists.txt").is_file():
        return "cmake"
    raise PackageError(
        f"{str(path)!r} has neither a Cargo.toml nor a CMakeLists.txt; "
        f"a package is built from a Cargo crate or a CMake project"
    )


def _toml_package_table(path: Path) -> dict[str, str]:
    """The string fields of ``[package]`` in a TOML file ({} if the file is absent)."""
    if not path.is_file():
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(f"{str(path)!r} is not valid TOML: {exc}") from None
    package = doc.get("package", {})
    if not isinstance(package, dict):
        raise PackageError(f"{str(path)!r}: [package] must be a table")
    # Cargo's `version.workspace = true` and the like are tables: not a usable value here.
    return {k: v for k, v in package.items() if isinstance(v, str)}


_CMAKE_BRACKET_COMMENT = re.compile(r"#\[(=*)\[.*?\]\1\]", re.DOTALL)
_CMAKE_LINE_COMMENT = re.compile(r'("(?:[^"\\]|\\.)*")|#[^\n]*')
_CMAKE_PROJECT = re.compile(
    r'\bproject\s*\(((?:[^()"]|"(?:[^"\\]|\\.)*")*)\)', re.IGNORECASE | re.DOTALL
)
_CMAKE_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s"]+)')


def _cmake_project(path: Path) -> dict[str, str]:
    """Name, version and description from the first ``project(...)`` in a CMakeLists.txt."""
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PackageError(f"{str(path)!r} is not valid UTF-8: {exc}") from None
    text = _CMAKE_BRACKET_COMMENT.sub("", text)
    text = _CMAKE_LINE_COMMENT.sub(lambda m: m.group(1) or "", text)
    match = _CMAKE_PROJECT.search(text)
    if match is None:
        return {}
    args = [
        m.group(2) if m.group(2) is not None else re.sub(r"\\(.)", r"\1", m.group(1))
        for m in _CMAKE_ARG.finditer(match.group(1))
    ]
    found: dict[str, str] = {}
    if args:
        found["name"] = args[0]
    for keyword, key in (("VERSION", "version"), ("DESCRIPTION", "description")):
        for i, arg in enumerate(args[1:-1], start=1):
            if arg.upper() == keyword:
                found[key] = args[i + 1]
                break
    # `${...}` cannot be expanded without running CMake; treat it as not stated.
    return {k: v for k, v in found.items() if "${" not in v}


def read_identity(project_dir: str | os.PathLike[str]) -> Identity:
    """A project's package identity.

    Each of name, version and description comes from the first source that states it:
    ``package.toml`` ``[package]``, then ``Cargo.toml`` ``[package]``, then the first
    ``project(NAME VERSION x.y.z DESCRIPTION "...")`` in ``CMakeLists.txt``. Name and
    version must be found and be safe (see :func:`archive_name`).
    """
    path = _project_dir(project_dir)
    sources = (
        (MANIFEST_NAME, _toml_package_table(path / MANIFEST_NAME)),
        ("Cargo.toml", _toml_package_table(path / "Cargo.toml")),
        ("CMakeLists.txt", _cmake_project(path / "CMakeLists.txt")),
    )
    chosen: dict[str, tuple[str, str]] = {}
    for source, values in sources:
        for key in ("name", "version", "description"):
            if key in values and key not in chosen:
                chosen[key] = (source, values[key])
    missing = [key for key in ("name", "version") if key not in chosen]
    if missing:
        raise PackageError(
            f"cannot tell the package's {' and '.join(missing)} in {str(path)!r}: add "
            f'{MANIFEST_NAME} with [package] name = "..." and version = "..." (or state '
            f"them in Cargo.toml [package] or CMakeLists.txt project(NAME VERSION x.y.z))"
        )
    name_source, name = chosen["name"]
    version_source, version = chosen["version"]
    check_name(
        name,
        f"{name_source}: ",
        "[package] name" if name_source != "CMakeLists.txt" else "project() name",
    )
    check_version(
        version,
        f"{version_source}: ",
        "[package] version" if version_source != "CMakeLists.txt" else "project() VERSION",
    )
    return Identity(name=name, version=version, description=chosen.get("description", ("", ""))[1])
