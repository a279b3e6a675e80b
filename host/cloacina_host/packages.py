"""The ``.cloacina`` package format: a manifest plus one compiled library in a gzip'd tar.

An archive holds exactly two regular files at its top level: ``package.toml`` (the
:class:`Manifest`) and the shared library it names. Writing is deterministic, so the same
inputs give byte-identical archives. Reading treats the archive as hostile: it streams the
tar through a counting decompressor, never touches the disk, never calls ``extractall``, and
refuses anything but the two expected members with a :class:`PackageError` that names the
member or field at fault. ``docs/package-format.md`` describes the format for humans.

This module also reads a project directory's identity (``package.toml``, else ``Cargo.toml``,
else ``CMakeLists.txt``) and tells a Cargo crate from a CMake project. It does no building,
no loading and no FFI.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import os
import re
import tarfile
import tempfile
import tomllib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import tomli_w

from .errors import PackageError
from .types import PackageDecl

__all__ = [
    "ARCHIVE_SUFFIX",
    "LANGUAGES",
    "MANIFEST_NAME",
    "Identity",
    "Limits",
    "Manifest",
    "PackageArchive",
    "ProjectKind",
    "archive_name",
    "build_archive",
    "declarations_of",
    "project_kind",
    "read_archive",
    "read_identity",
    "sha256_hex",
    "write_archive",
]

#: The manifest's member name inside an archive (and the identity file in a project).
MANIFEST_NAME = "package.toml"
#: The file name suffix of a package archive.
ARCHIVE_SUFFIX = ".cloacina"
#: The languages a library may be written in.
LANGUAGES = ("rust", "c")

MiB = 1024 * 1024

# A name or version ends up in file names and URLs: letters, digits and ``._-`` (plus ``+``
# for semver build metadata in versions), starting with a letter or digit so it can never be
# ``.``, ``..``, a hidden file or an option.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}")
_TARGET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")

_READ_CHUNK = 1 * MiB


@dataclass(frozen=True)
class Limits:
    """Bounds applied while reading an untrusted archive.

    Every size is in bytes of *decompressed* data. ``max_total_bytes`` bounds the whole tar
    stream (headers and padding included); ``max_ratio`` bounds decompressed bytes per
    compressed byte once more than ``ratio_grace_bytes`` have been produced (small archives are
    mostly tar padding and compress far better than any library).
    """

    max_member_bytes: int = 256 * MiB
    max_manifest_bytes: int = 1 * MiB
    max_total_bytes: int = 260 * MiB
    max_ratio: int = 100
    ratio_grace_bytes: int = 4 * MiB


def sha256_hex(data: bytes) -> str:
    """The lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _short(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut so a hostile value cannot flood an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_name(value: object, where: str, field: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise PackageError(
            f"{where}{field} must be 1-128 characters of letters, digits, '.', '_' or '-' "
            f"starting with a letter or digit, got {_short(value)}",
            field=field,
        )
    return value


def _check_version(value: object, where: str, field: str) -> str:
    if not isinstance(value, str) or not _VERSION_RE.fullmatch(value):
        raise PackageError(
            f"{where}{field} must be a non-empty version of letters, digits, '.', '_', '+' "
            f"or '-' starting with a letter or digit (e.g. '0.1.0'), got {_short(value)}",
            field=field,
        )
    return value


def archive_name(name: str, version: str) -> str:
    """The file name of a package's archive: ``<name>-<version>.cloacina``."""
    _check_name(name, "", "package name")
    _check_version(version, "", "package version")
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
                    f"package.toml: {where} has a non-string key {_short(k)}", field=where
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
            f"package.toml: [declarations] must be a table, got {_short(value)}",
            field="declarations",
        )
    decls: dict[str, Any] = _toml_value(value, "[declarations]")
    for key in _DECL_LISTS:
        entries = decls.setdefault(key, [])
        if not isinstance(entries, list):
            raise PackageError(
                f"package.toml: [declarations] {key} must be a list of tables, "
                f"got {_short(entries)}",
                field=f"declarations.{key}",
            )
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise PackageError(
                    f"package.toml: [declarations] {key}[{i}] must be a table with a string "
                    f"'name', got {_short(entry)}",
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
        _check_name(self.name, "package.toml: ", "[package] name")
        _check_version(self.version, "package.toml: ", "[package] version")
        if not isinstance(self.description, str):
            raise PackageError(
                f"package.toml: [package] description must be a string, "
                f"got {_short(self.description)}",
                field="[package] description",
            )
        _check_library_file(self.library_file, "[library] file")
        if not isinstance(self.sha256, str) or not _SHA256_RE.fullmatch(self.sha256):
            raise PackageError(
                f"package.toml: [library] sha256 must be 64 hexadecimal characters, "
                f"got {_short(self.sha256)}",
                field="[library] sha256",
            )
        object.__setattr__(self, "sha256", self.sha256.lower())
        if type(self.abi_version) is not int or self.abi_version < 1:
            raise PackageError(
                f"package.toml: [library] abi_version must be a positive integer, "
                f"got {_short(self.abi_version)}",
                field="[library] abi_version",
            )
        if self.language not in LANGUAGES:
            raise PackageError(
                f"package.toml: [library] language must be one of {', '.join(LANGUAGES)}, "
                f"got {_short(self.language)}",
                field="[library] language",
            )
        if not isinstance(self.target, str) or not _TARGET_RE.fullmatch(self.target):
            raise PackageError(
                f"package.toml: [library] target must be a platform triple such as "
                f"'x86_64-unknown-linux-gnu', got {_short(self.target)}",
                field="[library] target",
            )
        if type(self.size) is not int or self.size < 1:
            raise PackageError(
                f"package.toml: [library] size must be a positive integer (bytes), "
                f"got {_short(self.size)}",
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
            f"'-'; no directories, no '..'; not {MANIFEST_NAME!r}), got {_short(value)}",
            field=what,
        )
    return value


# --------------------------------------------------------------------------- writing


def build_archive(manifest: Manifest, library: bytes, limits: Limits | None = None) -> bytes:
    """The ``.cloacina`` archive bytes for ``manifest`` and its library's bytes.

    Deterministic: ``package.toml`` first, then the library; mtime 0, uid/gid 0, no owner
    names, mode 0644, ustar format, gzip with mtime 0 and no file name. Refuses a library
    whose size or SHA-256 differ from the manifest's, and anything ``read_archive`` with the
    same ``limits`` would refuse for size.
    """
    limits = limits or Limits()
    if len(library) != manifest.size:
        raise PackageError(
            f"library {manifest.library_file!r} is {len(library)} bytes but the manifest's "
            f"[library] size says {manifest.size}",
            package=manifest.name,
            field="[library] size",
        )
    digest = sha256_hex(library)
    if digest != manifest.sha256:
        raise PackageError(
            f"library {manifest.library_file!r} has sha256 {digest} but the manifest's "
            f"[library] sha256 says {manifest.sha256}",
            package=manifest.name,
            field="[library] sha256",
        )
    manifest_bytes = manifest.to_toml().encode("utf-8")
    if len(manifest_bytes) > limits.max_manifest_bytes:
        raise PackageError(
            f"package.toml would be {len(manifest_bytes)} bytes, over the limit of "
            f"{limits.max_manifest_bytes}",
            package=manifest.name,
            member=MANIFEST_NAME,
        )
    if len(library) > limits.max_member_bytes:
        raise PackageError(
            f"library {manifest.library_file!r} is {len(library)} bytes, over the limit of "
            f"{limits.max_member_bytes}",
            package=manifest.name,
            member=manifest.library_file,
        )

    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member_name, data in (
            (MANIFEST_NAME, manifest_bytes),
            (manifest.library_file, library),
        ):
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
    gz_buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz_buf, compresslevel=9, mtime=0) as gz:
        gz.write(tar_buf.getvalue())
    return gz_buf.getvalue()


def read_library(path: str | os.PathLike[str], package: str) -> bytes:
    """A built library's bytes, or a PackageError naming the file."""
    path = Path(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PackageError(
            f"cannot read library {str(path)!r}: {exc.strerror or exc}", package=package
        ) from None


def write_archive(
    manifest: Manifest,
    library_path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    limits: Limits | None = None,
) -> Path:
    """Write ``<dest_dir>/<name>-<version>.cloacina`` and return its path.

    The library is read from ``library_path`` and stored under ``manifest.library_file``.
    ``dest_dir`` is created if needed; the file is written to a temporary name and renamed,
    so a reader never sees half an archive.
    """
    data = build_archive(manifest, read_library(library_path, manifest.name), limits)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / manifest.archive_name
    fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{manifest.archive_name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class PackageArchive:
    """A verified archive: its manifest and the library's bytes (hash and size checked)."""

    manifest: Manifest
    library: bytes = field(repr=False)


class _CountingInflater(io.RawIOBase):
    """Decompresses gzip on demand, refusing once the total or the ratio limit is passed."""

    def __init__(self, raw: IO[bytes], compressed_size: int, limits: Limits) -> None:
        super().__init__()
        self._gz = gzip.GzipFile(fileobj=raw, mode="rb")
        self._limits = limits
        self._allowed_by_ratio = max(limits.ratio_grace_bytes, limits.max_ratio * compressed_size)
        self.total = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        chunks: list[bytes] = []
        remaining = -1 if size is None or size < 0 else size
        while remaining != 0:
            want = _READ_CHUNK if remaining < 0 else min(remaining, _READ_CHUNK)
            chunk = self._gz.read(want)
            if not chunk:
                break
            self._count(len(chunk))
            chunks.append(chunk)
            if remaining > 0:
                remaining -= len(chunk)
        return b"".join(chunks)

    def _count(self, n: int) -> None:
        self.total += n
        if self.total > self._limits.max_total_bytes:
            raise PackageError(
                f"archive decompresses to more than {self._limits.max_total_bytes} bytes; "
                f"refusing it as a possible decompression bomb",
                field="max_total_bytes",
            )
        if self.total > self._allowed_by_ratio:
            raise PackageError(
                f"archive decompresses to more than {self._limits.max_ratio} times its "
                f"compressed size; refusing it as a possible decompression bomb",
                field="max_ratio",
            )

    def close(self) -> None:
        self._gz.close()
        super().close()


_TYPE_NAMES = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.DIRTYPE: "a directory",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


def _check_member(member: tarfile.TarInfo) -> None:
    """Refuse any member that is not a regular file with a bare, safe name."""
    name = member.name
    shown = _short(name)
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise PackageError(
            f"archive member {shown} has an absolute path; only bare file names are allowed",
            member=name,
        )
    parts = re.split(r"[/\\]", name)
    if ".." in parts:
        raise PackageError(
            f"archive member {shown} contains '..' (path traversal); refusing the archive",
            member=name,
        )
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        kind = _TYPE_NAMES.get(member.type, f"of unsupported type {member.type!r}")
        detail = f" to {_short(member.linkname)}" if member.issym() or member.islnk() else ""
        raise PackageError(
            f"archive member {shown} is {kind}{detail}; only regular files are allowed",
            member=name,
        )
    if len(parts) != 1 or name in ("", ".") or "\0" in name:
        raise PackageError(
            f"archive member {shown} is not a bare file name at the archive's top level",
            member=name,
        )


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    if member.size > limit:
        raise PackageError(
            f"archive member {_short(member.name)} is {member.size} bytes, over the limit "
            f"of {limit}",
            member=member.name,
        )
    f = tar.extractfile(member)
    if f is None:  # pragma: no cover - only regular files reach here
        raise PackageError(f"archive member {_short(member.name)} has no data", member=member.name)
    chunks: list[bytes] = []
    got = 0
    while got < member.size:
        chunk = f.read(min(_READ_CHUNK, member.size - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got != member.size:
        raise PackageError(
            f"archive member {_short(member.name)} is truncated ({got} of {member.size} bytes)",
            member=member.name,
        )
    return b"".join(chunks)


def read_archive(
    source: str | os.PathLike[str] | bytes, limits: Limits | None = None
) -> PackageArchive:
    """Read and verify an untrusted ``.cloacina`` archive from a path or from bytes.

    Returns the manifest and the library bytes once the library's name, size and SHA-256
    match the manifest. Anything else raises :class:`PackageError` naming the member or
    field at fault. Nothing is written to disk.
    """
    limits = limits or Limits()
    raw: IO[bytes]
    if isinstance(source, bytes):
        raw = io.BytesIO(source)
        compressed_size = len(source)
    else:
        path = Path(source)
        try:
            raw = path.open("rb")
            compressed_size = os.fstat(raw.fileno()).st_size
        except OSError as exc:
            raise PackageError(
                f"cannot read archive {str(path)!r}: {exc.strerror or exc}"
            ) from None
    with raw:
        return _read_stream(raw, compressed_size, limits)


def _read_stream(raw: IO[bytes], compressed_size: int, limits: Limits) -> PackageArchive:
    magic = raw.read(2)
    if magic != b"\x1f\x8b":
        what = "is empty" if not magic else f"starts with {magic!r}, not the gzip magic 1f 8b"
        raise PackageError(f"not a .cloacina archive (a gzip-compressed tar): the file {what}")
    raw.seek(0)

    manifest_bytes: bytes | None = None
    library_name: str | None = None
    library: bytes | None = None
    inflater = _CountingInflater(raw, compressed_size, limits)
    # Where a corrupt stream broke, so its error can name the member.
    where = "before any member could be read"
    try:
        with tarfile.open(fileobj=inflater, mode="r|") as tar:
            seen: set[str] = set()
            for member in tar:
                _check_member(member)
                if member.name in seen:
                    raise PackageError(
                        f"archive member {_short(member.name)} appears more than once",
                        member=member.name,
                    )
                seen.add(member.name)
                where = f"while reading member {_short(member.name)}"
                if member.name == MANIFEST_NAME:
                    manifest_bytes = _read_member(tar, member, limits.max_manifest_bytes)
                elif library_name is None:
                    library_name = member.name
                    library = _read_member(tar, member, limits.max_member_bytes)
                else:
                    raise PackageError(
                        f"archive has an unexpected extra member {_short(member.name)} "
                        f"(besides the library {library_name!r}); an archive holds only "
                        f"{MANIFEST_NAME} and one library",
                        member=member.name,
                    )
                where = f"after member {_short(member.name)}"
        # Read to the end: this checks the gzip CRC and length, and catches a truncated
        # stream or data hidden after the tar's end-of-archive marker.
        where = "after the end of the tar"
        while rest := inflater.read(_READ_CHUNK):
            if rest.strip(b"\0"):
                raise PackageError("archive has unexpected data after the end of the tar")
    except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError, UnicodeError) as exc:
        raise PackageError(f"archive is truncated or corrupt ({where}): {exc}") from None
    finally:
        inflater.close()

    if manifest_bytes is None:
        raise PackageError(f"archive has no {MANIFEST_NAME}", member=MANIFEST_NAME)
    try:
        text = manifest_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PackageError(
            f"{MANIFEST_NAME} is not valid UTF-8: {exc.reason} at byte {exc.start}",
            member=MANIFEST_NAME,
        ) from None
    manifest = Manifest.from_toml(text)
    if library is None or library_name is None:
        raise PackageError(
            f"archive has no library: {MANIFEST_NAME} names {manifest.library_file!r} "
            f"but there is no such member",
            package=manifest.name,
            member=manifest.library_file,
        )
    if library_name != manifest.library_file:
        raise PackageError(
            f"{MANIFEST_NAME} [library] file is {manifest.library_file!r} but the archive's "
            f"library member is {_short(library_name)}",
            package=manifest.name,
            member=library_name,
            field="[library] file",
        )
    if len(library) != manifest.size:
        raise PackageError(
            f"library {library_name!r} is {len(library)} bytes but {MANIFEST_NAME} "
            f"[library] size says {manifest.size}",
            package=manifest.name,
            member=library_name,
            field="[library] size",
        )
    digest = sha256_hex(library)
    if digest != manifest.sha256:
        raise PackageError(
            f"library {library_name!r} has sha256 {digest} but {MANIFEST_NAME} [library] "
            f"sha256 says {manifest.sha256}; the archive is corrupt or was tampered with",
            package=manifest.name,
            member=library_name,
            field="[library] sha256",
        )
    return PackageArchive(manifest=manifest, library=library)


# --------------------------------------------------------------------------- projects

ProjectKind = Literal["cargo", "cmake"]


@dataclass(frozen=True)
class Identity:
    """A package's identity as its project directory states it."""

    name: str
    version: str
    description: str = ""


def _project_dir(project_dir: str | os.PathLike[str]) -> Path:
    path = Path(project_dir)
    if not path.is_dir():
        raise PackageError(f"{str(path)!r} is not a directory")
    return path


def project_kind(project_dir: str | os.PathLike[str]) -> ProjectKind:
    """``"cargo"`` if the directory has a ``Cargo.toml``, else ``"cmake"`` for a
    ``CMakeLists.txt``; a directory with both is a Cargo crate."""
    path = _project_dir(project_dir)
    if (path / "Cargo.toml").is_file():
        return "cargo"
    if (path / "CMakeLists.txt").is_file():
        return "cmake"
    raise PackageError(
        f"{str(path)!r} has neither a Cargo.toml nor a CMakeLists.txt; "
        f"a package is built from a Cargo crate or a CMake project"
    )


def _toml_package_table(path: Path) -> dict[str, str]:
    """The string fields of ``[package]`` in a TOML file ({} if the file is absent)."""
    if not path.is_file():
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(f"{str(path)!r} is not valid TOML: {exc}") from None
    package = doc.get("package", {})
    if not isinstance(package, dict):
        raise PackageError(f"{str(path)!r}: [package] must be a table")
    # Cargo's `version.workspace = true` and the like are tables: not a usable value here.
    return {k: v for k, v in package.items() if isinstance(v, str)}


_CMAKE_BRACKET_COMMENT = re.compile(r"#\[(=*)\[.*?\]\1\]", re.DOTALL)
_CMAKE_LINE_COMMENT = re.compile(r'("(?:[^"\\]|\\.)*")|#[^\n]*')
_CMAKE_PROJECT = re.compile(
    r'\bproject\s*\(((?:[^()"]|"(?:[^"\\]|\\.)*")*)\)', re.IGNORECASE | re.DOTALL
)
_CMAKE_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s"]+)')


def _cmake_project(path: Path) -> dict[str, str]:
    """Name, version and description from the first ``project(...)`` in a CMakeLists.txt."""
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PackageError(f"{str(path)!r} is not valid UTF-8: {exc}") from None
    text = _CMAKE_BRACKET_COMMENT.sub("", text)
    text = _CMAKE_LINE_COMMENT.sub(lambda m: m.group(1) or "", text)
    match = _CMAKE_PROJECT.search(text)
    if match is None:
        return {}
    args = [
        m.group(2) if m.group(2) is not None else re.sub(r"\\(.)", r"\1", m.group(1))
        for m in _CMAKE_ARG.finditer(match.group(1))
    ]
    found: dict[str, str] = {}
    if args:
        found["name"] = args[0]
    for keyword, key in (("VERSION", "version"), ("DESCRIPTION", "description")):
        for i, arg in enumerate(args[1:-1], start=1):
            if arg.upper() == keyword:
                found[key] = args[i + 1]
                break
    # `${...}` cannot be expanded without running CMake; treat it as not stated.
    return {k: v for k, v in found.items() if "${" not in v}


def read_identity(project_dir: str | os.PathLike[str]) -> Identity:
    """A project's package identity.

    Each of name, version and description comes from the first source that states it:
    ``package.toml`` ``[package]``, then ``Cargo.toml`` ``[package]``, then the first
    ``project(NAME VERSION x.y.z DESCRIPTION "...")`` in ``CMakeLists.txt``. Name and
    version must be found and be safe (see :func:`archive_name`).
    """
    path = _project_dir(project_dir)
    sources = (
        (MANIFEST_NAME, _toml_package_table(path / MANIFEST_NAME)),
        ("Cargo.toml", _toml_package_table(path / "Cargo.toml")),
        ("CMakeLists.txt", _cmake_project(path / "CMakeLists.txt")),
    )
    chosen: dict[str, tuple[str, str]] = {}
    for source, values in sources:
        for key in ("name", "version", "description"):
            if key in values and key not in chosen:
                chosen[key] = (source, values[key])
    missing = [key for key in ("name", "version") if key not in chosen]
    if missing:
        raise PackageError(
            f"cannot tell the package's {' and '.join(missing)} in {str(path)!r}: add "
            f'{MANIFEST_NAME} with [package] name = "..." and version = "..." (or state '
            f"them in Cargo.toml [package] or CMakeLists.txt project(NAME VERSION x.y.z))"
        )
    name_source, name = chosen["name"]
    version_source, version = chosen["version"]
    _check_name(
        name,
        f"{name_source}: ",
        "[package] name" if name_source != "CMakeLists.txt" else "project() name",
    )
    _check_version(
        version,
        f"{version_source}: ",
        "[package] version" if version_source != "CMakeLists.txt" else "project() VERSION",
    )
    return Identity(name=name, version=version, description=chosen.get("description", ("", ""))[1])
