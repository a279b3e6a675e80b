"""Probing libraries in a child process, building projects, packing and inspecting archives:
``cloacina_host.probe``, ``cloacina_host.building`` and ``cloacinactl package ...``."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from cloacina_host.cli import main
from cloacina_host.core import loader
from cloacina_host.errors import BuildError, CloacinaError, LoadError
from cloacina_host.packaging.archive import read_archive
from cloacina_host.packaging.build import locate_library
from cloacina_host.packaging.elf import exports_symbol, language_of
from cloacina_host.packaging.pack import host_target
from cloacina_host.packaging.probe import probe_library
from cloacina_host.packaging.sdk import bundled_library
from cloacina_host.types import (
    AccumulatorDecl,
    AccumulatorKind,
    Criteria,
    GraphDecl,
    InputStrategy,
    NodeDecl,
    PackageDecl,
    ReactorDecl,
)
from skips import missing_tool

ROOT = Path(__file__).resolve().parents[1]
C_EXAMPLES = ROOT / "plugins" / "examples" / "c"
ARCHIVE = "pricing-publisher-0.1.0.cloacina"
GOOD = ["pricing-publisher", "pricing-subscriber", "test_multi", "test_failing", "test_hooks"]


def cloacinactl() -> list[str]:
    script = Path(sys.executable).parent / "cloacinactl"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cloacina_host"]


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cloacinactl(), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def in_process(path: Path) -> PackageDecl:
    plugin = loader.open_plugin(path)
    try:
        return plugin.decl
    finally:
        plugin.close()


# --------------------------------------------------------------------------- from_dict


def test_decl_round_trips_through_dict() -> None:
    decl = PackageDecl(
        name="everything",
        version="1.2.3",
        abi_version=1,
        thread_safe=True,
        reactors=(
            ReactorDecl("R", ("a", "b"), Criteria.WHEN_ALL, ("a", "b"), InputStrategy.SEQUENTIAL),
        ),
        accumulators=(
            AccumulatorDecl("a", AccumulatorKind.BATCH, {"size": 3, "nested": {"x": [1]}}, True),
            AccumulatorDecl("b", AccumulatorKind.POLLING),
        ),
        graphs=(
            GraphDecl(
                "g",
                "R",
                (
                    NodeDecl("entry", ("a",), routes=(("Up", "up"), ("Down", "down"))),
                    NodeDecl("up", (), ("sink",)),
                    NodeDecl("down"),
                    NodeDecl("sink", ("b",)),
                ),
            ),
            GraphDecl("free", None, (NodeDecl("only", ("a",)),), has_fused=True),
        ),
    )
    d = decl.to_dict()
    back = PackageDecl.from_dict(orjson.loads(orjson.dumps(d)))
    assert back == decl
    assert back.to_dict() == d


def test_decl_from_dict_refuses_garbage() -> None:
    d = PackageDecl("p", "1", 1, reactors=(ReactorDecl("R", ("a",)),)).to_dict()
    d["reactors"][0]["criteria"] = "sometimes"
    with pytest.raises(ValueError, match="unknown Criteria 'sometimes'"):
        PackageDecl.from_dict(d)
    with pytest.raises(KeyError):
        PackageDecl.from_dict({"name": "p"})


# --------------------------------------------------------------------------- probe


@pytest.mark.parametrize("name", GOOD)
def test_probe_reads_the_same_declarations_as_in_process(
    c_plugins: dict[str, Path], name: str
) -> None:
    probed = probe_library(c_plugins[name])
    local = in_process(c_plugins[name])
    assert probed.to_dict() == local.to_dict()
    # to_dict carries neither has_init nor whether criteria accumulators were implied, but
    # what a reactor promises its subscribers survives the trip.
    assert [r.contract() for r in probed.reactors] == [r.contract() for r in local.reactors]
    assert probed.graphs == local.graphs


def test_probe_of_the_pricing_examples_equals_in_process(c_plugins: dict[str, Path]) -> None:
    for name in ("pricing-publisher", "pricing-subscriber"):
        assert probe_library(c_plugins[name]) == in_process(c_plugins[name])


def _outcome(call: object) -> tuple[str, str]:
    assert callable(call)
    try:
        decl = call()
    except CloacinaError as exc:
        return type(exc).__name__, exc.message
    assert isinstance(decl, PackageDecl)
    return "ok", orjson.dumps(decl.to_dict()).decode()


def test_probe_refuses_broken_libraries_like_the_loader(c_plugins: dict[str, Path]) -> None:
    broken = sorted(name for name in c_plugins if name.startswith("broken_"))
    assert len(broken) >= 15
    refused = 0
    for name in broken:
        path = c_plugins[name]
        local = _outcome(lambda path=path: in_process(path))
        probed = _outcome(lambda path=path: probe_library(path))
        assert probed == local, name
        refused += local[0] != "ok"
    # Tenant-level problems (duplicate names, bindings) only show when loading into a runtime.
    assert refused >= 13


def test_probe_keeps_the_error_class_and_names(c_plugins: dict[str, Path]) -> None:
    from cloacina_host import AbiError, PluginCallError, TopologyError

    with pytest.raises(AbiError, match="does not export 'cloacina_plugin_entry'"):
        probe_library(c_plugins["broken_no_entry"])
    with pytest.raises(TopologyError, match="cycle detected") as topo:
        probe_library(c_plugins["broken_cycle"])
    assert topo.value.code == "invalid_topology"
    with pytest.raises(PluginCallError, match="init refused: no license") as init:
        probe_library(c_plugins["broken_init_fails"])
    assert init.value.status == 2  # plugin_error


def test_probe_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="does not exist or is not a file"):
        probe_library(tmp_path / "nope.so")


def test_a_library_that_segfaults_on_load_only_crashes_the_probe(
    c_plugins: dict[str, Path],
) -> None:
    path = c_plugins["crash_on_load"]
    with pytest.raises(LoadError) as err:
        probe_library(path)
    assert str(err.value) == (
        f"library '{path}' crashed the probe process while loading (SIGSEGV); it cannot be loaded"
    )
    # Still here, and the probe still works.
    assert probe_library(c_plugins["pricing-publisher"]).name == "pricing-publisher"


def test_a_library_that_hangs_on_load_times_out(c_plugins: dict[str, Path]) -> None:
    with pytest.raises(LoadError, match=r"did not finish loading within 1\.5s"):
        probe_library(c_plugins["hang_on_load"], timeout=1.5)


def test_exports_symbol_reads_the_elf_dynamic_symbols(c_plugins: dict[str, Path]) -> None:
    assert exports_symbol(c_plugins["pricing-publisher"], "cloacina_plugin_entry")
    assert not exports_symbol(c_plugins["broken_no_entry"], "cloacina_plugin_entry")
    # Hidden (non-exported) functions are not symbols of the library's interface.
    assert not exports_symbol(c_plugins["pricing-publisher"], "require_price")


# --------------------------------------------------------------------------- build + pack


def copy_c_example(dest: Path, name: str = "pricing-publisher") -> Path:
    """The example as a user would have it outside the repository (CMake include beside it)."""
    shutil.copy(C_EXAMPLES / "cloacina_example.cmake", dest / "cloacina_example.cmake")
    project = dest / name
    shutil.copytree(C_EXAMPLES / name, project, ignore=shutil.ignore_patterns("build"))
    return project


@pytest.fixture(scope="module")
def built_example(tmp_path_factory: pytest.TempPathFactory, c_build: Path) -> Path:
    """The C pricing-publisher copied out of the repo and built with `package build .`."""
    project = copy_c_example(tmp_path_factory.mktemp("example"))
    proc = run_cli("package", "build", ".", cwd=project, env={"CLOACINA_ROOT": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    # Progress and the build tool's own output stream to stderr; stdout is the library.
    assert "cmake --build" in proc.stderr
    assert "Built target pricing_publisher" in proc.stderr
    assert proc.stdout.strip() == str(project / "build" / "libpricing_publisher.so")
    return project


def test_tutorial_build_then_pack_in_the_project_dir(built_example: Path, tmp_path: Path) -> None:
    project = tmp_path / "pricing-publisher"
    shutil.copytree(built_example, project)
    proc = run_cli("package", "pack", ".", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ARCHIVE + "\n"
    assert "Validating" in proc.stderr

    archive = read_archive(project / ARCHIVE)
    manifest = archive.manifest
    library = project / "build" / "libpricing_publisher.so"
    assert manifest.sha256 == hashlib.sha256(library.read_bytes()).hexdigest()
    assert manifest.library_file == "libpricing_publisher.so"
    assert manifest.size == library.stat().st_size
    assert (manifest.name, manifest.version, manifest.language) == (
        "pricing-publisher",
        "0.1.0",
        "c",
    )
    assert manifest.description.startswith("Publishes a normalized price stream")
    assert manifest.target == host_target()
    assert manifest.abi_version == 1
    assert [r["name"] for r in manifest.declarations["reactors"]] == ["PriceReactor"]
    assert [a["name"] for a in manifest.declarations["accumulators"]] == [
        "raw_prices",
        "normalized_prices",
    ]
    assert manifest.declarations["graphs"] == []


def test_pack_with_out_dir_and_inspect(built_example: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "dist"
    result = runner.invoke(main, ["package", "pack", str(built_example), "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ARCHIVE + "\n"
    archive = out / ARCHIVE
    manifest = read_archive(archive).manifest

    table = runner.invoke(main, ["package", "inspect", str(archive)], env={"COLUMNS": "100"})
    assert table.exit_code == 0, table.output
    text = table.stdout
    for expected in (
        "pricing-publisher 0.1.0",
        "libpricing_publisher.so",
        manifest.sha256,
        "x86_64" if "x86_64" in manifest.target else manifest.target,
        "Reactors",
        "PriceReactor",
        "when_any(raw_prices, normalized_prices)",
        "Accumulators",
        "passthrough",
        "Graphs: none",
    ):
        assert expected in text, expected
    assert max(len(line) for line in text.splitlines()) <= 100

    as_json = runner.invoke(main, ["package", "inspect", str(archive), "-o", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert orjson.loads(as_json.stdout) == manifest.to_dict()


def test_inspect_shows_graph_nodes(c_plugins: dict[str, Path], tmp_path: Path) -> None:
    project = copy_c_example(tmp_path, "pricing-subscriber")
    # Reuse the session's build of the subscriber instead of building it again.
    build = project / "build"
    build.mkdir()
    shutil.copy(c_plugins["pricing-subscriber"], build / "libpricing_subscriber.so")
    runner = CliRunner()
    result = runner.invoke(main, ["package", "pack", str(project), "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = runner.invoke(main, ["package", "inspect", str(tmp_path / result.stdout.strip())])
    assert table.exit_code == 0, table.output
    assert "Reactors: none" in table.stdout
    assert "price_consumer" in table.stdout
    assert "PriceReactor" in table.stdout  # the trigger


@pytest.mark.parametrize(
    ("field", "value"), [("version", "0.2.0"), ("name", "pricing-publisher-renamed")]
)
def test_pack_refuses_an_identity_the_library_does_not_declare(
    built_example: Path, tmp_path: Path, field: str, value: str
) -> None:
    project = tmp_path / "p"
    shutil.copytree(built_example, project)
    identity = {"name": "pricing-publisher", "version": "0.1.0", field: value}
    (project / "package.toml").write_text(
        f'[package]\nname = "{identity["name"]}"\nversion = "{identity["version"]}"\n'
    )
    result = CliRunner().invoke(main, ["package", "pack", str(project), "--out-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert f"says the package is '{identity['name']}' {identity['version']}" in result.stderr
    assert "declares 'pricing-publisher' 0.1.0" in result.stderr
    assert "make them agree" in result.stderr
    assert not list(tmp_path.glob("*.cloacina"))


def test_pack_before_build_says_to_build(tmp_path: Path) -> None:
    project = copy_c_example(tmp_path)
    with pytest.raises(
        BuildError, match=r"no built library found in .*run `cloacinactl package build"
    ):
        locate_library(project)
    result = CliRunner().invoke(main, ["package", "pack", str(project)])
    assert result.exit_code == 1
    assert "Error: no built library found in" in result.stderr


def test_pack_of_a_directory_that_is_no_project(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["package", "pack", str(tmp_path)])
    assert result.exit_code == 1
    assert "has neither a Cargo.toml nor a CMakeLists.txt" in result.stderr


def write_cmake_project(directory: Path, name: str, source: str) -> Path:
    directory.mkdir()
    (directory / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\n"
        f"project({name} VERSION 0.1.0 LANGUAGES C)\n"
        f"add_library(lib{name} SHARED plugin.c)\n"
        f'set_target_properties(lib{name} PROPERTIES PREFIX "")\n'
        f'target_include_directories(lib{name} PRIVATE "{ROOT}/abi" "{ROOT}/plugins/sdk/c")\n'
    )
    (directory / "plugin.c").write_text(source)
    return directory


@pytest.mark.usefixtures("c_build")
def test_build_failure_shows_the_compiler_error_and_exits_1(tmp_path: Path) -> None:
    project = write_cmake_project(tmp_path / "bad", "bad", "int broken( {\n")
    result = CliRunner().invoke(main, ["package", "build", str(project)])
    assert result.exit_code == 1
    assert "plugin.c" in result.stderr and "error" in result.stderr  # the compiler's own text
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"Error: building '{project}' failed: `cmake --build` exited with status"
    )


@pytest.mark.usefixtures("c_build")
def test_pack_of_a_library_that_crashes_on_load_does_not_crash_the_cli(tmp_path: Path) -> None:
    source = (ROOT / "tests" / "plugins" / "crash_on_load.c").read_text()
    project = write_cmake_project(tmp_path / "crash-on-load", "crash-on-load", source)
    built = run_cli("package", "build", str(project), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    packed = run_cli("package", "pack", str(project), cwd=tmp_path)
    assert packed.returncode == 1
    assert packed.stdout == ""
    assert packed.stderr.strip().endswith(
        "crashed the probe process while loading (SIGSEGV); it cannot be loaded"
    )
    assert not list(tmp_path.glob("*.cloacina"))


# --------------------------------------------------------------------------- Rust


@pytest.mark.slow
def test_build_and_pack_the_rust_publisher(tmp_path: Path) -> None:
    from cloacina_host.packaging.build import _cargo  # the lookup build and pack use

    try:
        _cargo()
    except BuildError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(f"SKIPPING the Rust build test: {exc}")
    crate = ROOT / "plugins" / "examples" / "rust" / "pricing-publisher"
    built = run_cli("package", "build", str(crate), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "Finished" in built.stderr
    packed = run_cli("package", "pack", str(crate), "--out-dir", str(tmp_path), cwd=tmp_path)
    assert packed.returncode == 0, packed.stderr
    assert packed.stdout == ARCHIVE + "\n"
    manifest = read_archive(tmp_path / ARCHIVE).manifest
    assert manifest.language == "rust"
    assert manifest.library_file == "libpricing_publisher.so"
    assert [r["name"] for r in manifest.declarations["reactors"]] == ["PriceReactor"]


MISSPELT = """#include "cloacina_sdk.h"
CLOACINA_PACKAGE("misspelt", "0.1.0", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR("R", CLOACINA_WHEN_ANY, CLOACINA_LATEST,
        CLOACINA_LIST("prices"), CLOACINA_NONE)),
    CLOACINA_ACCUMULATORS(CLOACINA_ACCUMULATOR("prices", CLOACINA_ACC_BATCH,
        "{\\"max_bufer_size\\": 2}", NULL)),
    CLOACINA_NO_GRAPHS)
"""


@pytest.mark.usefixtures("c_build")
def test_a_bad_accumulator_config_is_refused_by_inspect_lib_and_pack(tmp_path: Path) -> None:
    project = write_cmake_project(tmp_path / "misspelt", "misspelt", MISSPELT)
    built = run_cli("package", "build", str(project), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    want = (
        "package 'misspelt': batch accumulator 'prices' has unknown config key(s) "
        "'max_bufer_size' (did you mean 'max_buffer_size'?)"
    )
    (library,) = (project / "build").glob("libmisspelt*.so")
    inspected = run_cli("inspect-lib", str(library), cwd=tmp_path)
    assert inspected.returncode == 1 and want in inspected.stderr, inspected.stderr
    packed = run_cli("package", "pack", str(project), cwd=tmp_path)
    assert packed.returncode == 1 and packed.stdout == ""
    assert want in packed.stderr, packed.stderr
    assert not list(tmp_path.glob("*.cloacina"))


def test_pack_sign_writes_a_signature_of_the_archive(built_example: Path, tmp_path: Path) -> None:
    from cloacina_host.packaging.signing import Signature, load_public, verify

    runner = CliRunner()
    keygen = runner.invoke(main, ["signer", "keygen", "--out", str(tmp_path / "k.pem")])
    assert keygen.exit_code == 0, keygen.output
    public = load_public(Path(keygen.stdout.strip()).read_bytes())
    out = tmp_path / "out"
    result = runner.invoke(
        main,
        [
            "package",
            "pack",
            str(built_example),
            "--out-dir",
            str(out),
            "--sign",
            str(tmp_path / "k.pem"),
        ],
    )
    assert result.exit_code == 0, result.output
    archive = out / result.stdout.strip()
    sig = Signature.from_json((out / (archive.name + ".sig")).read_bytes())
    verify(archive.read_bytes(), sig, public)
    again = runner.invoke(main, ["signer", "keygen", "--out", str(tmp_path / "k.pem")])
    assert again.exit_code != 0 and "exists" in again.output  # never overwrites a key


# --------------------------------------------------------------------------- pack --library


def test_pack_library_packs_a_library_without_a_project(
    c_plugins: dict[str, Path], tmp_path: Path
) -> None:
    lib = c_plugins["pricing-publisher"]
    proc = run_cli(
        "package", "pack", "--library", str(lib), "--description", "by hand",
        "--out-dir", str(tmp_path / "dist"), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ARCHIVE + "\n"
    manifest = read_archive(tmp_path / "dist" / ARCHIVE).manifest
    assert (manifest.name, manifest.version) == ("pricing-publisher", "0.1.0")
    assert manifest.description == "by hand"
    assert manifest.language == "c"
    assert manifest.library_file == lib.name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["some-dir", "--library", "LIB"], "give a project DIRECTORY or --library FILE, not both"),
        (["--language", "rust"], "--language and --description go with --library"),
    ],
)
def test_pack_library_usage_errors(
    c_plugins: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "some-dir").mkdir()
    args = [str(c_plugins["pricing-publisher"]) if a == "LIB" else a for a in args]
    proc = run_cli("package", "pack", *args, cwd=tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not list(tmp_path.glob("*.cloacina"))


def test_language_of_reads_who_built_the_library(
    c_plugins: dict[str, Path], tmp_path: Path
) -> None:
    assert language_of(c_plugins["pricing-publisher"]) == "c"
    if shutil.which("cc") is None:
        missing_tool("no C compiler (cc)")
    # rustc leaves "rustc version …" in .comment; a library whose .comment says so is Rust's.
    source = tmp_path / "rustish.c"
    comment = '.section .comment\\n.string \\"rustc version 1.85.0\\"\\n.text'
    source.write_text(f'__asm__("{comment}");\n')
    lib = tmp_path / "librustish.so"
    subprocess.run(["cc", "-shared", "-fPIC", str(source), "-o", str(lib)], check=True)
    assert language_of(lib) == "rust"
    (tmp_path / "not-elf.so").write_bytes(b"just bytes")
    assert language_of(tmp_path / "not-elf.so") == "c"


def test_a_missing_bundled_library_is_named() -> None:
    with pytest.raises(CloacinaError, match=r"bundles no 'libnothing\.so'.*pass its path"):
        bundled_library("libnothing.so")
