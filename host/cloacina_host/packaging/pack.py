"""Packing a built library into a ``.cloacina``: validate it in a child process
(:func:`~.probe.probe_library`), take its identity and declarations, write the archive."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from ..errors import PackageError
from ..types import PackageDecl
from .archive import read_library, write_archive
from .build import Echo, locate_library
from .elf import language_of
from .identity import ProjectKind, project_kind, read_identity
from .manifest import Manifest, archive_name, declarations_of
from .probe import DEFAULT_TIMEOUT, probe_library

__all__ = ["archive_library", "host_target", "pack_library", "pack_project"]

_LANGUAGE: dict[ProjectKind, str] = {"cargo": "rust", "cmake": "c"}


def host_target() -> str:
    """The platform triple of this machine, e.g. ``x86_64-unknown-linux-gnu``."""
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "i586": "i686"}.get(
        machine, machine or "unknown"
    )
    if sys.platform == "darwin":
        return f"{arch}-apple-darwin"
    if os.name == "nt":
        return f"{arch}-pc-windows-msvc"
    if sys.platform.startswith("linux"):
        libc, _ = platform.libc_ver()
        return f"{arch}-unknown-linux-{'gnu' if libc == 'glibc' else 'musl'}"
    return f"{arch}-unknown-{sys.platform}"


def pack_project(
    project_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    status: Echo | None = None,
) -> Path:
    """Validate ``project_dir``'s built library and write ``<name>-<version>.cloacina``.

    The library is opened in a child process first (:func:`probe_library`), so a broken one
    cannot crash this process. The project's identity (:func:`~.identity.read_identity`) must
    name the same package and version as the library declares. The archive goes to
    ``out_dir`` (default: the current directory); its path is returned. ``status`` receives
    one short line per step.
    """
    say = status or (lambda _line: None)
    path = Path(project_dir).absolute()
    kind = project_kind(path)
    identity = read_identity(path)
    library = locate_library(path)
    library_bytes = read_library(library, identity.name)
    say(f"Validating {library} in a child process")
    decl = probe_library(library, timeout=timeout)
    if (identity.name, identity.version) != (decl.name, decl.version):
        raise PackageError(
            f"{str(path)!r} says the package is '{identity.name}' {identity.version} "
            f"(package.toml, Cargo.toml or CMakeLists.txt) but its library {library.name!r} "
            f"declares '{decl.name}' {decl.version}; make them agree (edit the project's "
            "identity or the library's declared name/version and rebuild), then pack again",
            package=identity.name,
        )
    say(f"Writing {archive_name(decl.name, decl.version)}")
    return archive_library(
        library,
        decl,
        Path.cwd() if out_dir is None else out_dir,
        language=_LANGUAGE[kind],
        description=identity.description,
        data=library_bytes,
    )


def pack_library(
    library: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    language: str | None = None,
    description: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    status: Echo | None = None,
) -> Path:
    """Validate an already built ``library`` (built any way: CMake, cargo, ``cc -shared``) in a
    child process (:func:`probe_library`) and write its archive to ``out_dir`` (default: the
    current directory). No project directory is read: the name and version are the ones the
    library declares; ``language`` defaults to what built it (:func:`~.elf.language_of`)."""
    say = status or (lambda _line: None)
    path = Path(library)
    if not path.is_file():
        raise PackageError(f"library {str(path)!r} does not exist or is not a file")
    data = read_library(path, path.name)
    say(f"Validating {path} in a child process")
    decl = probe_library(path, timeout=timeout)
    say(f"Writing {archive_name(decl.name, decl.version)}")
    return archive_library(
        path,
        decl,
        Path.cwd() if out_dir is None else out_dir,
        language=language_of(path) if language is None else language,
        description=description,
        data=data,
    )


def archive_library(
    library: Path,
    decl: PackageDecl,
    out_dir: str | os.PathLike[str],
    *,
    language: str,
    description: str = "",
    data: bytes | None = None,
) -> Path:
    """Write the archive of a validated library whose declarations are ``decl``.

    The manifest takes its identity and declarations from ``decl``, the hash and size from
    the library's bytes (``data``, or read now), and this machine's target triple."""
    manifest = Manifest.for_library(
        read_library(library, decl.name) if data is None else data,
        name=decl.name,
        version=decl.version,
        description=description,
        library_file=library.name,
        abi_version=decl.abi_version,
        language=language,
        target=host_target(),
        declarations=declarations_of(decl),
    )
    # write_archive re-reads the library and refuses it if it changed since it was hashed.
    return write_archive(manifest, library, out_dir)
