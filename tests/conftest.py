"""Session fixtures: the real C plugins (examples, test plugins, broken corpus) are
built once per test session with CMake into a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloacina_host import Host, Runtime
from nats_fixtures import nats_server  # noqa: F401  (one NATS JetStream per session)
from pg_fixtures import database, postgres  # noqa: F401  (one PostgreSQL per session)
from server_fixtures import server  # noqa: F401  (the shared cloacina-server process)
from skips import missing_tool

ROOT = Path(__file__).resolve().parents[1]

if (Path(__file__).parent / "rust_fixtures.py").exists():  # the Rust SDK's session fixtures
    from rust_fixtures import *  # noqa: F403


@pytest.fixture(scope="session")
def c_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("cmake", "cc"):
        if shutil.which(tool) is None:
            missing_tool(f"'{tool}' is not installed: cannot build the C test plugins")
    build = tmp_path_factory.mktemp("c-plugins")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    for cmd in (
        [
            "cmake",
            "-S",
            str(ROOT / "tests" / "plugins"),
            "-B",
            str(build),
            *gen,
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
        ],
        ["cmake", "--build", str(build), "--parallel", "2"],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            missing_tool(f"building the C test plugins failed:\n{proc.stdout}\n{proc.stderr}")
    return build


@pytest.fixture(scope="session")
def c_plugins(c_build: Path) -> dict[str, Path]:
    """name -> path of every C plugin: examples by package name, the rest by target."""
    libs: dict[str, Path] = {}
    for so in c_build.rglob("*.so"):
        stem = so.name.removeprefix("lib").removesuffix(".so")
        libs[stem] = so
    libs["pricing-publisher"] = libs["pricing_publisher"]
    libs["pricing-subscriber"] = libs["pricing_subscriber"]
    return libs


@pytest.fixture
def host() -> Iterator[Host]:
    h = Host()
    yield h
    h.close()


@pytest.fixture
def rt(host: Host) -> Runtime:
    return host.runtime("acme")


@pytest.fixture
def pricing(rt: Runtime, c_plugins: dict[str, Path]) -> Runtime:
    """A runtime with the tutorial's C publisher and subscriber loaded."""
    rt.load(c_plugins["pricing-publisher"])
    rt.load(c_plugins["pricing-subscriber"])
    return rt


def pack_library(library: Path, dest: Path) -> Path:
    """A real ``.cloacina`` archive of a built C library (the manifest read from the library)."""
    from cloacina_host.packaging.pack import pack_library as pack

    return pack(library, dest, language="c", description=f"{library.stem} (test)")


@pytest.fixture(scope="session")
def c_archives(
    c_plugins: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Archives of the tutorial pair (and friends), keyed like ``c_plugins``."""
    dest = tmp_path_factory.mktemp("archives")
    names = ["pricing-publisher", "pricing-subscriber", "publisher_v2", "test_auditor"]
    return {n: pack_library(c_plugins[n], dest / n) for n in names}
