"""The manifest of a ``.cloacina`` package (``package.toml``): the package's identity, its
library's file name, hash, size and ABI, and the declarations read from the library.

Names and versions end up in file names and URLs, so they are checked here, once, for every
place that makes or reads one. ``docs/package-format.md`` describes the format for humans.
"""

from __future__ import annotations

import copy
import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import tomli_w

from ..errors import PackageError
from ..types import PackageDecl

__all__ = [
    "ARCHIVE_SUFFIX",
    "LANGUAGES",
    "MANIFEST_NAME",
    "Manifest",
    "archive_name",
    "check_name",
    "check_version",
    "declarations_of",
    "sha256_hex",
    "shorten",
]

#: The manifest's member name inside an archive (and the identity file in a project).
MANIFEST_NAME = "package.toml"
#: The file name suffix of a package archive.
ARCHIVE_SUFFIX = ".cloacina"
#: The languages a library may be written in.
LANGUAGES = ("rust", "c")

# A name or version ends up in file names and URLs: letters, digits and ``._-`` (plus ``+``
# for semver build metadata in versions), starting with a letter or digit so it can never be
# ``.``, ``..``, a hidden file or an option.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}")
_TARGET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


def sha256_hex(data: bytes) -> str:
    """The lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def shorten(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut so a hostile value cannot flood an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_name(value: object, where: str, field: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise PackageError(
            f"{where}{field} must be 1-128 characters of letters, digits, '.', '_' or '-' "
            f"starting with a letter or digit, got {shorten(value)}",
            field=field,
        )
    return value


def check_version(value: object, where: str, field: str) -> str:
    if not isinstance(value, str) or not _VERSION_RE.fullmatch(value):
        raise PackageError(
            f"{where}{field} must be a non-empty version of letters, digits, '.', '_', '+' "
            f"or '-' starting with a letter or digit (e.g. '0.1.0'), got {shorten(value)}",
            field=field,
        )
    return value


def archive_name(name: str, version: str) -> str:
    """The file name of a package's archive: ``<name>-<version>.cloacina``."""
    check_name(name, "", "package name")
    check_version(version, "", "package version")
    return f"{name}-{version}{ARCHIVE_SUFFIX}"


# --------------------------------------------------------------------------- declarations

_DECL_LISTS = ("reactors", "accumulators", "graphs")


def declarations_of(decl: PackageDecl) -> dict[str, Any]:
    """The ``[declarations]`` table for a library's :class:`PackageDecl`.

    That is ``decl.to_dict()`` without ``name``, ``version`` (in ``[package]``) and
    ``abi_version`` (in ``[library]``).
    """
    d = decl.to_dict()
    for key in ("name", "version", "abi_version"):
        d.pop(key, None)
    return d


def _toml_value(value: object, where: str) -> Any:
    """A deep copy of ``value`` restricted to what TOML can carry; ``None`` keys are dropped."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise PackageError(
                    f"package.toml: {where} has a non-string key {shorten(k)}", field=where
                )
            if v is not None:  # TOML has no null: an absent key reads back as None
                out[k] = _toml_value(v, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        items: list[Any] = []
        for i, v in enumerate(value):
            if v is None:
                raise PackageError(
                    f"package.toml: {where}[{i}] is null, which TOML cannot represent",
                    field=where,
                )
            items.append(_toml_value(v, f"{where}[{i}]"))
        return items
    if isinstance(value, str | bool | int | float):
        return value
    raise PackageError(
        f"package.toml: {where} holds a {type(value).__name__}, which a manifest cannot carry",
        field=where,
    )


def _normalize_declarations(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PackageError(
            f"package.toml: [declarations] must be a table, got {shorten(value)}",
            field="declarations",
        )
    decls: dict[str, Any] = _toml_value(value, "[declarations]")
    for key in _DECL_LISTS:
        entries = decls.setdefault(key, [])
        if not isinstance(entries, list):
            raise PackageError(
                f"package.toml: [declarations] {key} must be a list of tables, "
                f"got {shorten(entries)}",
                field=f"declarations.{key}",
            )
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise PackageError(
                    f"package.toml: [declarations] {key}[{i}] must be a table with a string "
                    f"'name', got {shorten(entry)}",
                    field=f"declarations.{key}",
                )
    for graph in decls["graphs"]:
        # A trigger-less graph's trigger is None, which TOML writes by leaving the key out.
        graph.setdefault("trigger", None)
    return decls


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Manifest:
    """The contents of an archive's ``package.toml``; validated when constructed.

    ``sha256`` is stored lowercase. ``declarations`` always has ``reactors``,
    ``accumulators`` and ``graphs`` lists; each graph has a ``trigger`` (``None`` for a
    trigger-less graph). ``None`` values elsewhere are dropped, since TOML cannot hold them.
    """

    name: str
    version: str
    library_file: str
    sha256: str
    abi_version: int
    language: str
    target: str
    size: int
    description: str = ""
    declarations: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        check_name(self.name, "package.toml: ", "[package] name")
        check_version(self.version, "package.toml: ", "[package] version")
        if not isinstance(self.description, str):
            raise PackageError(
                f"package.toml: [package] description must be a string, "
                f"got {shorten(self.description)}",
                field="[package] description",
            )
        _check_library_file(self.library_file, "[library] file")
        if not isinstance(self.sha256, str) or not _SHA256_RE.fullmatch(self.sha256):
            raise PackageError(
                f"package.toml: [library] sha256 must be 64 hexadecimal characters, "
                f"got {shorten(self.sha256)}",
                field="[library] sha256",
            )
        object.__setattr__(self, "sha256", self.sha256.lower())
        if type(self.abi_version) is not int or self.abi_version < 1:
            raise PackageError(
                f"package.toml: [library] abi_version must be a positive integer, "
                f"got {shorten(self.abi_version)}",
                field="[library] abi_version",
            )
        if self.language not in LANGUAGES:
            raise PackageError(
                f"package.toml: [library] language must be one of {', '.join(LANGUAGES)}, "
                f"got {shorten(self.language)}",
                field="[library] language",
            )
        if not isinstance(self.target, str) or not _TARGET_RE.fullmatch(self.target):
            raise PackageError(
                f"package.toml: [library] target must be a platform triple such as "
                f"'x86_64-unknown-linux-gnu', got {shorten(self.target)}",
                field="[library] target",
            )
        if type(self.size) is not int or self.size < 1:
            raise PackageError(
                f"package.toml: [library] size must be a positive integer (bytes), "
                f"got {shorten(self.size)}",
                field="[library] size",
            )
        object.__setattr__(self, "declarations", _normalize_declarations(self.declarations))

    @property
    def archive_name(self) -> str:
        """``<name>-<version>.cloacina``."""
        return archive_name(self.name, self.version)

    @classmethod
    def for_library(
        cls,
        library: bytes,
        *,
        name: str,
        version: str,
        library_file: str,
        abi_version: int,
        language: str,
        target: str,
        description: str = "",
        declarations: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """A manifest for ``library`` (its bytes), computing its SHA-256 and size."""
        return cls(
            name=name,
            version=version,
            description=description,
            library_file=library_file,
            sha256=sha256_hex(library),
            abi_version=abi_version,
            language=language,
            target=target,
            size=len(library),
            declarations=dict(declarations or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest as ``package.toml``'s tables; unlike TOML it keeps ``trigger: None``."""
        return {
            "package": {
                "name": self.name,
                "version": self.version,
                "description": self.description,
            },
            "library": {
                "file": self.library_file,
                "sha256": self.sha256,
                "abi_version": self.abi_version,
                "language": self.language,
                "target": self.target,
                "size": self.size,
            },
            "declarations": copy.deepcopy(self.declarations),
        }

    def to_toml(self) -> str:
        """The manifest as ``package.toml`` text."""
        doc = self.to_dict()
        doc["declarations"] = _toml_value(self.declarations, "[declarations]")
        return tomli_w.dumps(doc)

    @classmethod
    def from_toml(cls, text: str) -> Manifest:
        """Parse and validate ``package.toml`` text; unknown keys are ignored."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PackageError(
                f"package.toml is not valid TOML: {exc}", member=MANIFEST_NAME
            ) from None
        package = _table(doc, "package")
        library = _table(doc, "library")
        declarations = doc.get("declarations", {})
        return cls(
            name=_required(package, "package", "name"),
            version=_required(package, "package", "version"),
            description=package.get("description", ""),
            library_file=_required(library, "library", "file"),
            sha256=_required(library, "library", "sha256"),
            abi_version=_required(library, "library", "abi_version"),
            language=_required(library, "library", "language"),
            target=_required(library, "library", "target"),
            size=_required(library, "library", "size"),
            declarations=declarations,
        )


def _table(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = doc.get(name)
    if table is None:
        raise PackageError(f"package.toml has no [{name}] table", field=f"[{name}]")
    if not isinstance(table, Mapping):
        raise PackageError(f"package.toml: [{name}] must be a table", field=f"[{name}]")
    return table


def _required(table: Mapping[str, Any], section: str, key: str) -> Any:
    if key not in table:
        raise PackageError(
            f"package.toml: [{section}] {key} is missing", field=f"[{section}] {key}"
        )
    return table[key]


def _check_library_file(value: object, what: str) -> str:
    if (
        not isinstance(value, str)
        or not _FILE_RE.fullmatch(value)
        or value == MANIFEST_NAME
        or ".." in value
    ):
        raise PackageError(
            f"package.toml: {what} must be a bare file name (letters, digits, '.', '_', '+', "
            f"'-'; no directories, no '..'; not {MANIFEST_NAME!r}), got {shorten(value)}",
            field=what,
        )
    return value
