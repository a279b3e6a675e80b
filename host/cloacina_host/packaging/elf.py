"""Reading a library's exported symbols from the file, without loading it (pyelftools)."""

from __future__ import annotations

from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

__all__ = ["exports_symbol", "language_of"]

_EXPORTED_BINDINGS = ("STB_GLOBAL", "STB_WEAK")
_EXPORTED_VISIBILITY = ("STV_DEFAULT", "STV_PROTECTED")


def exports_symbol(path: Path, symbol: str) -> bool:
    """Whether the library at ``path`` exports ``symbol`` (read from the file, never loaded).

    For ELF files: a defined, global or weak symbol of default or protected visibility in a
    dynamic symbol table. Other formats fall back to looking for the name in the file.
    """
    with Path(path).open("rb") as f:
        if f.read(4) != b"\x7fELF":
            f.seek(0)
            return symbol.encode() in f.read()
        f.seek(0)
        try:
            for section in ELFFile(f).iter_sections("SHT_DYNSYM"):
                assert isinstance(section, SymbolTableSection)
                for sym in section.get_symbol_by_name(symbol) or ():
                    if (
                        sym["st_shndx"] != "SHN_UNDEF"
                        and sym["st_info"]["bind"] in _EXPORTED_BINDINGS
                        and sym["st_other"]["visibility"] in _EXPORTED_VISIBILITY
                    ):
                        return True
        except (ELFError, ValueError, KeyError, OSError):
            return False
    return False


def language_of(path: Path) -> str:
    """``"rust"`` if rustc built the library (its ``.comment`` section says ``rustc version``),
    else ``"c"``; read from the file, never loaded."""
    with Path(path).open("rb") as f:
        if f.read(4) != b"\x7fELF":
            return "c"
        f.seek(0)
        try:
            comment = ELFFile(f).get_section_by_name(".comment")
            data = b"" if comment is None else comment.data()
        except (ELFError, ValueError, KeyError, OSError):
            return "c"
    return "rust" if b"rustc version" in data else "c"
