"""The ``.cloacina`` archive: a manifest plus one compiled library in a gzip'd tar.

An archive holds exactly two regular files at its top level: ``package.toml`` (the
:class:`~.manifest.Manifest`) and the shared library it names. Writing is deterministic, so
the same inputs give byte-identical archives. Reading treats the archive as hostile: it
streams the tar through a counting decompressor, never touches the disk, never calls
``extractall``, and refuses anything but the two expected members with a
:class:`PackageError` that names the member or field at fault. Both directions check the
library against its manifest with one function, :func:`check_library`.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..errors import PackageError
from .manifest import MANIFEST_NAME, Manifest, sha256_hex, shorten

__all__ = [
    "Limits",
    "PackageArchive",
    "build_archive",
    "check_library",
    "read_archive",
    "read_library",
    "write_archive",
]

MiB = 1024 * 1024
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


# --------------------------------------------------------------------------- writing
def check_library(
    manifest: Manifest,
    library: bytes,
    says: str,
    *,
    member: str | None = None,
    tampered: str = "",
) -> None:
    """Refuse ``library`` unless its size and SHA-256 are the ones ``manifest`` states.

    ``says`` names the manifest in the message ("the manifest's", "package.toml");
    ``member`` is the archive member being checked, if any; ``tampered`` ends the hash
    mismatch's sentence."""
    if len(library) != manifest.size:
        raise PackageError(
            f"library {manifest.library_file!r} is {len(library)} bytes but {says} "
            f"[library] size says {manifest.size}",
            package=manifest.name,
            member=member,
            field="[library] size",
        )
    digest = sha256_hex(library)
    if digest != manifest.sha256:
        raise PackageError(
            f"library {manifest.library_file!r} has sha256 {digest} but {says} [library] "
            f"sha256 says {manifest.sha256}{tampered}",
            package=manifest.name,
            member=member,
            field="[library] sha256",
        )


def build_archive(manifest: Manifest, library: bytes, limits: Limits | None = None) -> bytes:
    """The ``.cloacina`` archive bytes for ``manifest`` and its library's bytes.

    Deterministic: ``package.toml`` first, then the library; mtime 0, uid/gid 0, no owner
    names, mode 0644, ustar format, gzip with mtime 0 and no file name. Refuses a library
    whose size or SHA-256 differ from the manifest's, and anything ``read_archive`` with the
    same ``limits`` would refuse for size.
    """
    limits = limits or Limits()
    check_library(manifest, library, "the manifest's")
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
    shown = shorten(name)
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
        detail = f" to {shorten(member.linkname)}" if member.issym() or member.islnk() else ""
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
            f"archive member {shorten(member.name)} is {member.size} bytes, over the limit "
            f"of {limit}",
            member=member.name,
        )
    f = tar.extractfile(member)
    if f is None:  # pragma: no cover - only regular files reach here
        raise PackageError(f"archive member {shorten(member.name)} has no data", member=member.name)
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
            f"archive member {shorten(member.name)} is truncated ({got} of {member.size} bytes)",
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


def _read_members(
    raw: IO[bytes], compressed_size: int, limits: Limits
) -> tuple[bytes | None, str | None, bytes | None]:
    """Stream the tar: the manifest's bytes, the library member's name and bytes."""
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
                        f"archive member {shorten(member.name)} appears more than once",
                        member=member.name,
                    )
                seen.add(member.name)
                where = f"while reading member {shorten(member.name)}"
                if member.name == MANIFEST_NAME:
                    manifest_bytes = _read_member(tar, member, limits.max_manifest_bytes)
                elif library_name is None:
                    library_name = member.name
                    library = _read_member(tar, member, limits.max_member_bytes)
                else:
                    raise PackageError(
                        f"archive has an unexpected extra member {shorten(member.name)} "
                        f"(besides the library {library_name!r}); an archive holds only "
                        f"{MANIFEST_NAME} and one library",
                        member=member.name,
                    )
                where = f"after member {shorten(member.name)}"
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

    return manifest_bytes, library_name, library


def _read_stream(raw: IO[bytes], compressed_size: int, limits: Limits) -> PackageArchive:
    manifest_bytes, library_name, library = _read_members(raw, compressed_size, limits)
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
            f"library member is {shorten(library_name)}",
            package=manifest.name,
            member=library_name,
            field="[library] file",
        )
    check_library(
        manifest,
        library,
        MANIFEST_NAME,
        member=library_name,
        tampered="; the archive is corrupt or was tampered with",
    )
    return PackageArchive(manifest=manifest, library=library)
