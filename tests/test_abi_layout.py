"""The ABI as cffi reads it from the header equals the C compiler's layout."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from cloacina_host.core import ffi, header

ROOT = Path(__file__).resolve().parents[1]


def test_cffi_layout_matches_c_probe(c_build: Path) -> None:
    probe = json.loads(
        subprocess.run(
            [str(c_build / "abi_probe")], capture_output=True, text=True, check=True
        ).stdout
    )
    assert probe["layout"] == ffi.layout()
    assert probe["abi_version"] == header.ABI_VERSION


def test_version_constants_agree() -> None:
    text = (ROOT / "abi" / "cloacina_plugin.h").read_text()
    (version,) = re.findall(r"#define CLOACINA_ABI_VERSION (\d+)", text)
    assert header.ABI_VERSION == int(version) == 1
    rust = ROOT / "plugins" / "sdk" / "rust" / "cloacina-workflow-plugin" / "src"
    if rust.is_dir():
        sources = "\n".join(p.read_text() for p in rust.rglob("*.rs"))
        found = re.findall(r"ABI_VERSION\s*:\s*u32\s*=\s*(\d+)", sources)
        assert found and {int(v) for v in found} == {header.ABI_VERSION}


def test_magic_and_entry_symbol_come_from_the_header() -> None:
    text = (ROOT / "abi" / "cloacina_plugin.h").read_text()
    assert f'#define CLOACINA_MAGIC "{header.MAGIC.decode()}"' in text
    assert f'#define CLOACINA_ENTRY_SYMBOL "{header.ENTRY_SYMBOL}"' in text
    assert header.MAGIC == b"CLOACINA" and header.ENTRY_SYMBOL == "cloacina_plugin_entry"


def test_status_and_enum_constants_match_python_enums() -> None:
    from cloacina_host.types import AccumulatorKind, Criteria, InputStrategy, Status

    c = header.CONSTANTS
    assert {s.name: s.value for s in Status} == {
        k.removeprefix("CLOACINA_STATUS_"): v
        for k, v in c.items()
        if k.startswith("CLOACINA_STATUS_")
    }
    assert {k.name: k.value for k in AccumulatorKind} == {
        k.removeprefix("CLOACINA_ACC_"): v for k, v in c.items() if k.startswith("CLOACINA_ACC_")
    }
    assert (
        c["CLOACINA_WHEN_ANY"] == Criteria.WHEN_ANY and c["CLOACINA_WHEN_ALL"] == Criteria.WHEN_ALL
    )
    assert c["CLOACINA_LATEST"] == InputStrategy.LATEST
    assert c["CLOACINA_SEQUENTIAL"] == InputStrategy.SEQUENTIAL
