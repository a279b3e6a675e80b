"""Building a project directory into a plugin library.

A project is a Cargo crate (``Cargo.toml``) or a CMake project (``CMakeLists.txt``); see
:func:`~.identity.project_kind`. :func:`build_project` runs the build tool and streams its
output line by line; :func:`locate_library` finds the built library without building.

Finding a CMake project's library never ``dlopen``\\ s anything in this process: candidates
come from CMake's file API, and the entry symbol is looked up in the ELF dynamic symbol table
(:func:`~.elf.exports_symbol`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from ..core.header import ENTRY_SYMBOL
from ..errors import BuildError, PackageError
from .elf import exports_symbol
from .identity import project_kind, read_identity
from .sdk import cmake_dir

__all__ = ["CMAKE_BUILD_DIR", "Echo", "build_project", "locate_library"]

#: The build directory of a CMake project, inside the project directory.
CMAKE_BUILD_DIR = "build"

_LIBRARY_TYPES = ("SHARED_LIBRARY", "MODULE_LIBRARY")

Echo = Callable[[str], None]


def _library_suffix() -> str:
    return ".dylib" if sys.platform == "darwin" else ".dll" if os.name == "nt" else ".so"


def _build_command_hint(project_dir: Path) -> str:
    return f"run `cloacinactl package build {shlex.quote(str(project_dir))}` first"


# --------------------------------------------------------------------------- running tools


def _cargo() -> str:
    """cargo on PATH, else rustup's default location (``$CARGO_HOME/bin``, ``~/.cargo/bin``)."""
    found = shutil.which("cargo")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    for candidate in (home / "bin" / "cargo", Path.home() / ".cargo" / "bin" / "cargo"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise BuildError(
        "cannot find `cargo` (not on PATH, nor in ~/.cargo/bin): install Rust with rustup "
        "(https://rustup.rs) to build Cargo crates"
    )


def _cmake() -> str:
    found = shutil.which("cmake")
    if found is None:
        raise BuildError("cannot find `cmake` on PATH: install CMake 3.18 or newer")
    return found


def _stream(
    cmd: list[str],
    *,
    label: str,
    project_dir: Path,
    echo: Echo,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run ``cmd`` in ``project_dir``, echoing its merged output line by line as it arrives.

    ``label`` names the step in the error raised when the tool fails (e.g. ``cargo build``).
    """
    tool = Path(cmd[0]).name
    echo(f"$ {shlex.join([tool, *cmd[1:]])}")
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=project_dir,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
    except OSError as exc:
        raise BuildError(
            f"cannot run `{tool}` to build {str(project_dir)!r}: {exc.strerror or exc}",
            directory=str(project_dir),
        ) from None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            echo(line.rstrip("\r\n"))
        status = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: do not leave the build running
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    if status != 0:
        raise BuildError(
            f"building {str(project_dir)!r} failed: `{label}` exited with status {status} "
            "(its output is above)",
            directory=str(project_dir),
        )


# --------------------------------------------------------------------------- cargo


def _cargo_build(project_dir: Path, echo: Echo) -> None:
    env = dict(os.environ)
    # catch_unwind needs unwinding panics: a panic must become a status, not abort the host.
    env["CARGO_PROFILE_RELEASE_PANIC"] = "unwind"
    cmd = [_cargo(), "build", "--release", "--lib"]
    cmd += ["--manifest-path", str(project_dir / "Cargo.toml")]
    _stream(cmd, label="cargo build", project_dir=project_dir, echo=echo, env=env)


def _cargo_library(project_dir: Path) -> Path:
    """Where ``cargo build --release`` puts the crate's cdylib (it may not exist yet)."""
    manifest = project_dir / "Cargo.toml"
    cmd = [_cargo(), "metadata", "--format-version", "1", "--no-deps"]
    cmd += ["--manifest-path", str(manifest)]
    try:
        proc = subprocess.run(
            cmd, cwd=project_dir, capture_output=True, stdin=subprocess.DEVNULL, check=False
        )
    except OSError as exc:
        raise BuildError(f"cannot run `cargo metadata`: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise BuildError(
            f"`cargo metadata` failed in {str(project_dir)!r} with exit status "
            f"{proc.returncode}: {stderr}",
            directory=str(project_dir),
        )
    meta: dict[str, Any] = orjson.loads(proc.stdout)
    wanted = manifest.resolve()
    package = next(
        (p for p in meta.get("packages", []) if Path(p["manifest_path"]).resolve() == wanted),
        None,
    )
    if package is None:
        raise BuildError(f"`cargo metadata` does not list the crate of {str(manifest)!r}")
    lib = next((t for t in package["targets"] if "cdylib" in t.get("kind", [])), None)
    if lib is None:
        raise BuildError(
            f"crate '{package['name']}' in {str(project_dir)!r} has no cdylib target: add "
            '[lib] crate-type = ["cdylib", "rlib"] to its Cargo.toml',
            directory=str(project_dir),
        )
    file_name = f"lib{lib['name'].replace('-', '_')}{_library_suffix()}"
    return Path(meta["target_directory"]) / "release" / file_name


# --------------------------------------------------------------------------- cmake


def _sdk_defines() -> list[str]:
    """``-DCloacina_DIR=`` of this install's SDK, so ``find_package(Cloacina)`` finds the SDK
    of the host that will load the plugin with nothing else set; none when this install
    carries no SDK (a project may not need it)."""
    try:
        return [f"-DCloacina_DIR={cmake_dir()}"]
    except PackageError:
        return []


def _cmake_build(project_dir: Path, echo: Echo) -> None:
    cmake = _cmake()
    build = project_dir / CMAKE_BUILD_DIR
    # Ask CMake's file API for the code model so the library can be found by target type.
    query = build / ".cmake" / "api" / "v1" / "query" / "codemodel-v2"
    query.parent.mkdir(parents=True, exist_ok=True)
    query.touch()
    configure = [cmake, "-S", str(project_dir), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"]
    configure += _sdk_defines()
    _stream(configure, label="cmake (configure)", project_dir=project_dir, echo=echo)
    _stream(
        [cmake, "--build", str(build), "--parallel"],
        label="cmake --build",
        project_dir=project_dir,
        echo=echo,
    )


def _file_api_libraries(build: Path) -> list[Path] | None:
    """Shared/module library artifacts per CMake's file API reply (None: no usable reply)."""
    reply = build / ".cmake" / "api" / "v1" / "reply"
    indexes = sorted(reply.glob("index-*.json"))
    if not indexes:
        return None
    try:
        index = orjson.loads(indexes[-1].read_bytes())
        codemodel_file = index["reply"]["codemodel-v2"]["jsonFile"]
        codemodel = orjson.loads((reply / codemodel_file).read_bytes())
        configs = codemodel["configurations"]
        config = next((c for c in configs if c.get("name") == "Release"), configs[0])
        found: list[Path] = []
        for target in config["targets"]:
            info = orjson.loads((reply / target["jsonFile"]).read_bytes())
            if info.get("type") not in _LIBRARY_TYPES:
                continue
            for artifact in info.get("artifacts", []):
                path = Path(artifact["path"])
                found.append(path if path.is_absolute() else build / path)
        return found
    except (OSError, KeyError, IndexError, TypeError, orjson.JSONDecodeError):
        return None


def _scanned_libraries(build: Path) -> list[Path]:
    suffix = _library_suffix()
    return sorted(
        p for p in build.rglob(f"*{suffix}") if p.is_file() and "CMakeFiles" not in p.parts
    )


def _normalized(name: str) -> str:
    stem = name.removesuffix(_library_suffix())
    return stem.removeprefix("lib").replace("-", "_").lower()


def _cmake_library(project_dir: Path) -> Path:
    build = project_dir / CMAKE_BUILD_DIR
    if not build.is_dir():
        raise BuildError(
            f"no built library found in {str(project_dir)!r} (no {CMAKE_BUILD_DIR}/ "
            f"directory); {_build_command_hint(project_dir)}",
            directory=str(project_dir),
        )
    candidates = _file_api_libraries(build)
    if candidates is None:
        candidates = _scanned_libraries(build)
    plugins = [p for p in candidates if p.is_file() and exports_symbol(p, ENTRY_SYMBOL)]
    if not plugins:
        raise BuildError(
            f"no built library found in {str(project_dir)!r}: no shared library under "
            f"{CMAKE_BUILD_DIR}/ exports '{ENTRY_SYMBOL}'; {_build_command_hint(project_dir)}",
            directory=str(project_dir),
        )
    if len(plugins) == 1:
        return plugins[0]
    name = _normalized(read_identity(project_dir).name)
    matching = [p for p in plugins if _normalized(p.name) == name]
    if len(matching) == 1:
        return matching[0]
    listed = ", ".join(repr(p.name) for p in plugins)
    raise BuildError(
        f"{str(project_dir)!r} builds several plugin libraries ({listed}) and none is named "
        f"after the package '{name}'; name the library target after the package",
        directory=str(project_dir),
    )


# --------------------------------------------------------------------------- public API


def build_project(project_dir: str | os.PathLike[str], *, echo: Echo) -> Path:
    """Build the crate or CMake project in ``project_dir`` and return the built library.

    Cargo crates: ``cargo build --release --lib`` with panics set to unwind. CMake projects:
    configure into ``project_dir/build`` (Release) and build in parallel. The build tool's
    output goes through ``echo`` line by line as it arrives. A failing build raises
    :class:`BuildError` naming the directory, the tool and its exit status.
    """
    path = Path(project_dir).absolute()
    kind = project_kind(path)
    if kind == "cargo":
        _cargo_build(path, echo)
    else:
        _cmake_build(path, echo)
    return locate_library(path)


def locate_library(project_dir: str | os.PathLike[str]) -> Path:
    """The library a previous :func:`build_project` built in ``project_dir`` (no building)."""
    path = Path(project_dir).absolute()
    if project_kind(path) == "cargo":
        library = _cargo_library(path)
        if not library.is_file():
            raise BuildError(
                f"no built library found in {str(path)!r} (expected {str(library)!r}); "
                f"{_build_command_hint(path)}",
                directory=str(path),
            )
        return library
    return _cmake_library(path)
