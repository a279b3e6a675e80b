"""Session fixtures for the Rust SDK: the example crates in plugins/examples/rust are
built once per test session (``cargo build --release --locked``) and handed out by
package name. Imported by conftest.py (``from rust_fixtures import *``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["cargo_path", "rust_mirror_layout", "rust_plugins"]

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = ROOT / "plugins"
RUST_EXAMPLES = (
    "pricing-publisher",
    "pricing-subscriber",
    "routing-publisher",
    "routing-subscriber",
    "panicky",
    "stream-ticker",
)


def _missing(reason: str) -> None:
    """Loud skip locally; in CI (CI set) a missing toolchain is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"CI cannot run the Rust plugin tests: {reason}")
    pytest.skip(f"SKIPPING Rust plugin tests: {reason}")


def cargo_path() -> str | None:
    """cargo on PATH, else rustup's default location."""
    found = shutil.which("cargo")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    candidate = home / "bin" / "cargo"
    return str(candidate) if candidate.is_file() else None


def _cargo(args: list[str]) -> None:
    cargo = cargo_path()
    if cargo is None:
        _missing("`cargo` is not installed (install Rust with rustup)")
        return
    proc = subprocess.run(
        [cargo, *args], cwd=WORKSPACE, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"`cargo {' '.join(args)}` failed in {WORKSPACE}:\n{proc.stderr[-6000:]}")


@pytest.fixture(scope="session")
def rust_plugins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Package name -> path of the release cdylib of every Rust example.

    The libraries are copied out of the target directory, which every Rust build of the
    session shares: the tutorial's verbatim crates have the same names and are built into
    it too."""
    packages = [arg for name in RUST_EXAMPLES for arg in ("-p", name)]
    _cargo(["build", "--release", "--locked", *packages])
    target = WORKSPACE / os.environ.get("CARGO_TARGET_DIR", "target")
    dest = tmp_path_factory.mktemp("rust-plugins")
    libs: dict[str, Path] = {}
    for name in RUST_EXAMPLES:
        so = target / "release" / f"lib{name.replace('-', '_')}.so"
        if not so.is_file():
            pytest.fail(f"cargo reported success but {so} does not exist")
        libs[name] = Path(shutil.copy2(so, dest / so.name))
    return libs


@pytest.fixture(scope="session")
def rust_mirror_layout() -> dict[str, dict[str, int]]:
    """Sizes and offsets of the Rust repr(C) mirror, as ``ffi.layout()`` shapes them."""
    cargo = cargo_path()
    if cargo is None:
        _missing("`cargo` is not installed (install Rust with rustup)")
    args = ["run", "--quiet", "--release", "--locked", "-p", "cloacina-workflow-plugin"]
    proc = subprocess.run(
        [str(cargo), *args, "--example", "abi_layout"],
        cwd=WORKSPACE,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"the abi_layout example failed:\n{proc.stderr[-6000:]}")
    layout: dict[str, dict[str, int]] = json.loads(proc.stdout)
    return layout
