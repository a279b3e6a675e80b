"""The tutorial's crates, taken verbatim from the tutorial text itself, build and pack with the
tutorial's own commands (`cloacinactl package build .`, `package pack .`) and run in the host.

The source files (both ``src/lib.rs``, ``build.rs``, ``package.toml``) and the ``Cargo.toml``
come out of ``tests/data/tutorial-cross-package-reactor-binding.txt``; only the dependency lines of
``Cargo.toml`` are pointed at our crates by path (plus ``serde`` with ``derive``, which the
subscriber's struct needs), exactly as the SDK's acceptance allows. The subscriber keeps the
tutorial's stand-in ``extract_ratio`` (``0.0``), so its signal is ``0.0``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloacina_host import Runtime
from cloacina_host.packaging.archive import read_archive
from rust_fixtures import cargo_path

ROOT = Path(__file__).resolve().parents[1]
#: The tutorial "Cross-Package Reactor Binding" as the user story tells it, kept verbatim in
#: the repository so this test needs nothing outside it.
SEED = ROOT / "tests" / "data" / "tutorial-cross-package-reactor-binding.txt"
SDK = ROOT / "plugins" / "sdk" / "rust"


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def blocks(text: str) -> dict[str, str]:
    """The crates' files, cut out of the tutorial text."""
    lines = text.splitlines()
    cargo_start = lines.index("[package]")
    cargo_end = next(i for i in range(cargo_start, len(lines)) if lines[i] == "fn main() {")
    lib = re.findall(r"use cloacina_workflow::\*;.*?cloacina::package!\(\);", text, re.S)
    identity = re.search(
        r"\[package\]\nname = \"pricing-publisher\"\nversion = \"0\.1\.0\"\n"
        r"description = [^\n]*\n",
        text,
    )
    assert len(lib) == 2 and identity is not None, "the tutorial text changed shape"
    return {
        "Cargo.toml": "\n".join(lines[cargo_start:cargo_end]) + "\n",
        "build.rs": "fn main() {\ncloacina_build::configure();\n}\n",
        "package.toml": identity.group(0),
        "publisher": lib[0] + "\n",
        "subscriber": lib[1] + "\n",
    }


def point_at_sdk(cargo_toml: str, name: str) -> str:
    """Only the dependency lines change: our crates by path, and serde with derive."""
    out = []
    for line in cargo_toml.replace('name = "pricing-publisher"', f'name = "{name}"').splitlines():
        crate, sep, value = line.partition(" = ")
        if sep and crate.startswith("cloacina-"):
            path = f'path = "{SDK / crate}"'
            if value.startswith("{"):
                line = f"{crate} = {{ {path}, {value[1:].strip()}"
            else:
                line = f"{crate} = {{ version = {value}, {path} }}"
        out.append(line)
        if line == "[dependencies]":
            out.append('serde = { version = "1", features = ["derive"] }')
    return "\n".join(out) + "\n"


@pytest.mark.slow
def test_tutorial_crates_verbatim(tmp_path: Path) -> None:
    _need(cargo_path() is not None, "cargo is not installed (install Rust with rustup)")
    files = blocks(SEED.read_text(encoding="utf-8"))
    libs = {}
    for name in ("pricing-publisher", "pricing-subscriber"):
        crate = tmp_path / name
        (crate / "src").mkdir(parents=True)
        (crate / "Cargo.toml").write_text(point_at_sdk(files["Cargo.toml"], name))
        (crate / "build.rs").write_text(files["build.rs"])
        (crate / "package.toml").write_text(
            files["package.toml"].replace("pricing-publisher", name)
        )
        (crate / "src" / "lib.rs").write_text(files[name.split("-")[1]])
        shutil.copy(ROOT / "plugins" / "Cargo.lock", crate / "Cargo.lock")  # same versions
        # Not the workspace's target directory: these crates have the examples' names, and
        # cargo would put their cdylibs over the examples' in target/release.
        env = {**os.environ, "CARGO_TARGET_DIR": str(ROOT / "plugins" / "target" / "verbatim")}
        # the tutorial's own commands, run in the crate directory
        for command in (["package", "build", "."], ["package", "pack", "."]):
            proc = subprocess.run(
                [sys.executable, "-m", "cloacina_host", *command],
                cwd=crate,
                capture_output=True,
                text=True,
                env=env,
            )
            assert proc.returncode == 0, proc.stderr[-4000:]
        assert proc.stdout == f"{name}-0.1.0.cloacina\n"
        archive = read_archive(crate / f"{name}-0.1.0.cloacina")
        assert archive.manifest.language == "rust"
        libs[name] = tmp_path / archive.manifest.library_file
        libs[name].write_bytes(archive.library)
    rt = Runtime("verbatim")
    try:
        rt.load(libs["pricing-publisher"])
        rt.load(libs["pricing-subscriber"])
        assert rt.registry.subscribers("PriceReactor") == ["price_consumer"]
        assert rt.push("raw_prices", {"symbol": "BTCUSD", "price": 42000}) == 1
        # the tutorial's stand-in business logic returns 0.0
        assert rt.outputs("price_consumer")[-1].outputs == {"publish": {"signal": 0.0}}
    finally:
        rt.close()
