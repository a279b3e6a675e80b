"""The wheel alone is a plugin author's kit: built once, installed into a fresh venv outside the
repository, it finds its SDK, builds and packs a copied C example, packs a library built by
hand and runs the demo on the libraries it bundles; it carries the console's static files and the
documentation pages' assets with their licences."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from skips import missing_tool

ROOT = Path(__file__).resolve().parents[1]
C_EXAMPLES = ROOT / "plugins" / "examples" / "c"

pytestmark = pytest.mark.slow

# A plugin built with nothing but a compiler and the installed headers.
HAND_BUILT_C = r"""
#include "cloacina_sdk.h"

CLOACINA_PACKAGE("hand-built", "0.2.0", CLOACINA_FLAG_THREAD_SAFE,
    CLOACINA_REACTORS(CLOACINA_REACTOR("HandReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST,
                                       CLOACINA_LIST("ticks"), CLOACINA_NONE)),
    CLOACINA_NO_ACCUMULATORS,
    CLOACINA_NO_GRAPHS)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("cloacina_host-*.whl")
    return built


@dataclass(frozen=True)
class FreshVenv:
    """A venv outside the repository holding only the wheel (and its dependencies)."""

    root: Path
    work: Path  # a scratch directory outside the repository, the commands' cwd

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a user who activated the venv: nothing points at the repo."""
        keep = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
        path = [p for p in keep.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))]
        return {**keep, "PATH": os.pathsep.join([str(self.bin), *path]), **extra}

    def run(
        self, *cmd: str, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(cmd),
            cwd=cwd or self.work,
            env=self.env(**env),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *cmd: str, cwd: Path | None = None, **env: str) -> str:
        proc = self.run(*cmd, cwd=cwd, **env)
        assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}{proc.stderr}"
        return proc.stdout

    def ctl(self, *args: str, cwd: Path | None = None) -> str:
        return self.ok(str(self.bin / "cloacinactl"), *args, cwd=cwd)

    def copy_example(self, name: str, dest: str) -> Path:
        """A C example copied out of the repository on its own (no cloacina_example.cmake)."""
        project = self.work / dest
        shutil.copytree(C_EXAMPLES / name, project, ignore=shutil.ignore_patterns("build"))
        return project


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    base = tmp_path_factory.mktemp("fresh")
    assert ROOT not in base.parents
    root = base / "venv"
    venv.create(root, with_pip=True)
    work = base / "work"
    work.mkdir()
    env = FreshVenv(root, work)
    env.ok(str(root / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel))
    return env


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "cloacina_host/core/ffi.py",
        "cloacina_host/include/cloacina_plugin.h",
        "cloacina_host/include/cloacina_sdk.h",
        "cloacina_host/cmake/CloacinaConfig.cmake",
        "cloacina_host/cmake/CloacinaConfigVersion.cmake",
        "cloacina_host/pkgconfig/cloacina.pc",
        "cloacina_host/plugins/libpricing_publisher.so",
        "cloacina_host/plugins/libpricing_subscriber.so",
        "cloacina_host/server/console.py",
        "cloacina_host/server/console/index.html",
        "cloacina_host/server/console/app.js",
        "cloacina_host/server/console/app.css",
        "cloacina_host/server/console/favicon.svg",
        "cloacina_host/server/console/vendor/dagre.min.js",
        "cloacina_host/server/console/vendor/dagre.LICENSE",
        # /docs and /redoc are served from these (no CDN), with their licences
        "cloacina_host/server/docs_assets/swagger-ui-bundle.js",
        "cloacina_host/server/docs_assets/swagger-ui.css",
        "cloacina_host/server/docs_assets/redoc.standalone.js",
        "cloacina_host/server/docs_assets/swagger-ui-dist.LICENSE",
        "cloacina_host/server/docs_assets/swagger-ui-dist.NOTICE",
        "cloacina_host/server/docs_assets/redoc.LICENSE",
    ):
        assert expected in names, expected
    entry_points = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith("entry_points.txt")))
        .decode()
    )
    assert "cloacinactl = cloacina_host.cli:main" in entry_points


def test_bundled_libraries_need_only_libc(wheel: Path, tmp_path: Path) -> None:
    # cJSON is compiled into them (plugins/examples/c/vendor): nothing for auditwheel to graft,
    # which the host could not find anyway (it dlopens a unique copy in a scratch directory).
    archive = zipfile.ZipFile(wheel)
    libs = [n for n in archive.namelist() if n.startswith("cloacina_host/plugins/")]
    assert libs
    for name in libs:
        path = tmp_path / Path(name).name
        path.write_bytes(archive.read(name))
        with path.open("rb") as f:
            dynamic = ELFFile(f).get_section_by_name(".dynamic")
            assert isinstance(dynamic, DynamicSection)
            needed = [t.needed for t in dynamic.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
        assert needed == ["libc.so.6"], (name, needed)


def test_auditwheel_gives_a_manylinux_tag(wheel: Path, tmp_path: Path) -> None:
    auditwheel = Path(sys.executable).parent / "auditwheel"
    if not auditwheel.is_file():
        missing_tool("auditwheel is not installed (it is a dev dependency: scripts/setup.sh)")
    env = {**os.environ, "PATH": f"{auditwheel.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [str(auditwheel), "repair", "--wheel-dir", str(tmp_path), str(wheel)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (repaired,) = tmp_path.glob("cloacina_host-*.whl")
    assert "-py3-none-manylinux" in repaired.name
    assert not any(".libs/" in n for n in zipfile.ZipFile(repaired).namelist())  # no grafts


def test_wheel_metadata_is_what_an_index_wants(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assert "cloacina_host/py.typed" in names
    (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert "Apache License" in archive.read(licence).decode()
    metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    lines = metadata.splitlines()
    assert "Classifier: License :: OSI Approved :: Apache Software License" in lines
    assert "Provides-Extra: postgres" in lines
    # psycopg comes only with the [postgres] extra (and dev, which the tests install).
    psycopg = [line for line in lines if line.startswith("Requires-Dist: psycopg")]
    assert psycopg and all("extra ==" in line for line in psycopg)
    assert any('extra == "postgres"' in line for line in psycopg)
    for imported in ("starlette", "pydantic", "anyio", "fastapi", "cffi"):
        assert any(line.startswith(f"Requires-Dist: {imported}") for line in lines), imported


def test_sdk_dirs_point_into_the_installed_package(fresh: FreshVenv) -> None:
    site = next((fresh.root / "lib").glob("python3*/site-packages"))
    package = site / "cloacina_host"
    assert fresh.ctl("sdk", "path").strip() == str(package)
    include = Path(fresh.ctl("sdk", "include").strip())
    assert include == package / "include"
    assert (include / "cloacina_plugin.h").is_file() and (include / "cloacina_sdk.h").is_file()
    assert Path(fresh.ctl("sdk", "cmake").strip()) == package / "cmake"
    assert Path(fresh.ctl("sdk", "pkgconfig").strip()) == package / "pkgconfig"
    python = str(fresh.bin / "python")
    printed = fresh.ok(python, "-c", "import cloacina_host; print(cloacina_host.get_include())")
    assert printed.strip() == str(include)


def test_find_package_builds_a_copied_example(fresh: FreshVenv) -> None:
    if shutil.which("cmake") is None:
        missing_tool("cmake is not installed")
    project = fresh.copy_example("pricing-subscriber", "find-package")
    cmake_dir = fresh.ctl("sdk", "cmake").strip()
    build = project / "out"
    fresh.ok("cmake", "-S", str(project), "-B", str(build), f"-DCloacina_DIR={cmake_dir}")
    fresh.ok("cmake", "--build", str(build))
    assert (build / "libpricing_subscriber.so").is_file()
    # CMAKE_PREFIX_PATH set to the SDK's directory finds the same config.
    other = project / "out-prefix"
    prefix = fresh.ctl("sdk", "path").strip()
    fresh.ok("cmake", "-S", str(project), "-B", str(other), f"-DCMAKE_PREFIX_PATH={prefix}")
    cache = (other / "CMakeCache.txt").read_text()
    assert f"Cloacina_DIR:PATH={cmake_dir}" in cache


def test_package_build_and_pack_a_copied_example(fresh: FreshVenv) -> None:
    if shutil.which("cmake") is None:
        missing_tool("cmake is not installed")
    project = fresh.copy_example("pricing-publisher", "pricing-publisher")
    built = Path(fresh.ctl("package", "build", ".", cwd=project).strip())
    assert built == project / "build" / "libpricing_publisher.so"
    assert fresh.ctl("package", "pack", ".", cwd=project) == "pricing-publisher-0.1.0.cloacina\n"
    manifest = orjson.loads(
        fresh.ctl(
            "package", "inspect", "-o", "json", "pricing-publisher-0.1.0.cloacina", cwd=project
        )
    )
    assert (manifest["package"]["name"], manifest["package"]["version"]) == (
        "pricing-publisher",
        "0.1.0",
    )


def test_a_hand_built_library_packs_with_library(fresh: FreshVenv) -> None:
    if shutil.which("cc") is None:
        missing_tool("no C compiler (cc)")
    source = fresh.work / "plugin.c"
    source.write_text(HAND_BUILT_C)
    include = fresh.ctl("sdk", "include").strip()
    lib = fresh.work / "libx.so"
    fresh.ok("cc", "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(lib))
    out = fresh.work / "dist"
    printed = fresh.ctl("package", "pack", "--library", str(lib), "--out-dir", str(out))
    assert printed == "hand-built-0.2.0.cloacina\n"
    manifest = orjson.loads(
        fresh.ctl("package", "inspect", "-o", "json", str(out / "hand-built-0.2.0.cloacina"))
    )
    assert manifest["package"]["name"] == "hand-built"
    assert manifest["library"]["file"] == "libx.so"
    assert manifest["library"]["language"] == "c"
    assert [r["name"] for r in manifest["declarations"]["reactors"]] == ["HandReactor"]


def test_demo_runs_on_the_bundled_libraries(fresh: FreshVenv) -> None:
    printed = fresh.ctl("demo")
    assert "OK: loaded pricing-publisher 0.1.0" in printed
    assert "demo finished: every step behaved as the tutorial says" in printed


def test_pkg_config_finds_the_sdk(fresh: FreshVenv) -> None:
    if shutil.which("pkg-config") is None:
        missing_tool("pkg-config is not installed (apt pkg-config)")
    pc_dir = fresh.ctl("sdk", "pkgconfig").strip()
    include = fresh.ctl("sdk", "include").strip()
    cflags = fresh.ok("pkg-config", "--cflags", "cloacina", PKG_CONFIG_PATH=pc_dir)
    assert Path(cflags.strip().removeprefix("-I")).resolve() == Path(include).resolve()
