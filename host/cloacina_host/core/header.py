"""The ABI header (``abi/cloacina_plugin.h``) as the one source of truth: its cffi block and
the constants it defines. No cffi here; :mod:`.ffi` parses the block, and the packaging
side reads the entry symbol from here without loading cffi."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from ..errors import LoadError

__all__ = [
    "ABI_VERSION",
    "CDEF",
    "CONSTANTS",
    "ENTRY_SYMBOL",
    "FLAG_THREAD_SAFE",
    "MAGIC",
    "cdef_source",
    "header_path",
]

_CDEF_BEGIN = "/* CLOACINA_CDEF_BEGIN */"
_CDEF_END = "/* CLOACINA_CDEF_END */"


def header_path() -> Path:
    """The ABI header: inside the installed package, else the source tree's ``abi/``."""
    shipped = resources.files("cloacina_host").joinpath("include", "cloacina_plugin.h")
    if shipped.is_file():
        return Path(str(shipped))
    source = Path(__file__).resolve().parents[3] / "abi" / "cloacina_plugin.h"
    if source.is_file():
        return source
    raise LoadError(
        f"ABI header not found (looked in {shipped} and {source}); reinstall cloacina-host"
    )


def cdef_source(text: str) -> str:
    """The marked block of the header that cffi parses."""
    try:
        start = text.index(_CDEF_BEGIN) + len(_CDEF_BEGIN)
        end = text.index(_CDEF_END, start)
    except ValueError as exc:
        raise LoadError("ABI header has no CLOACINA_CDEF_BEGIN/END block") from exc
    return text[start:end]


def _numbers(source: str) -> dict[str, int]:
    return {
        m[1]: int(m[2], 0) for m in re.finditer(r"#define\s+(\w+)\s+(\d+|0x[0-9a-fA-F]+)", source)
    }


def _strings(source: str) -> dict[str, str]:
    return {m[1]: m[2] for m in re.finditer(r'#define\s+(\w+)\s+"([^"\\]*)"', source)}


_TEXT = header_path().read_text(encoding="utf-8")
#: The block cffi's ``cdef`` reads.
CDEF = cdef_source(_TEXT)
#: Every numeric ``#define`` of that block.
CONSTANTS = _numbers(CDEF)
_STRINGS = _strings(_TEXT)

ABI_VERSION = CONSTANTS["CLOACINA_ABI_VERSION"]
FLAG_THREAD_SAFE = CONSTANTS["CLOACINA_FLAG_THREAD_SAFE"]
#: The descriptor's first 8 bytes after its size (``CLOACINA_MAGIC``).
MAGIC = _STRINGS["CLOACINA_MAGIC"].encode("ascii")
#: The one symbol a plugin exports (``CLOACINA_ENTRY_SYMBOL``).
ENTRY_SYMBOL = _STRINGS["CLOACINA_ENTRY_SYMBOL"]
