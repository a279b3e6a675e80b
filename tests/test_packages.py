"""The .cloacina package format: round trip, determinism, hostile archives, project identity."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloacina_host.errors import PackageError
from cloacina_host.packaging.archive import Limits, build_archive, read_archive, write_archive
from cloacina_host.packaging.identity import Identity, project_kind, read_identity
from cloacina_host.packaging.manifest import Manifest, archive_name, declarations_of, sha256_hex
from cloacina_host.types import (
    AccumulatorDecl,
    Criteria,
    GraphDecl,
    NodeDecl,
    PackageDecl,
    ReactorDecl,
)

LIB_NAME = "libpricing_publisher.so"
LIBRARY = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 16

DECL = PackageDecl(
    name="pricing-publisher",
    version="0.1.0",
    abi_version=1,
    reactors=(
        ReactorDecl(
            "PriceReactor", ("raw_prices", "normalized_prices"), criteria=Criteria.WHEN_ANY
        ),
    ),
    accumulators=(
        AccumulatorDecl("raw_prices", has_function=True),
        AccumulatorDecl("normalized_prices", config={"window": 5, "tags": ["a", "b"]}),
    ),
    graphs=(
        GraphDecl(
            "price_consumer",
            "PriceReactor",
            (
                NodeDecl("entry", inputs=("raw_prices",), routes=(("Up", "up"), ("Down", "down"))),
                NodeDecl("up"),
                NodeDecl("down"),
            ),
        ),
        GraphDecl("on_demand", None, (NodeDecl("only"),)),
    ),
)


def make_manifest(*, library: bytes = LIBRARY, **overrides: object) -> Manifest:
    fields: dict[str, object] = {
        "name": "pricing-publisher",
        "version": "0.1.0",
        "description": "Publishes a normalized price stream via a standalone reactor",
        "library_file": LIB_NAME,
        "sha256": sha256_hex(library),
        "abi_version": 1,
        "language": "rust",
        "target": "x86_64-unknown-linux-gnu",
        "size": len(library),
        "declarations": declarations_of(DECL),
    }
    fields.update(overrides)
    return Manifest(**fields)  # type: ignore[arg-type]


MANIFEST = make_manifest()
GOOD = build_archive(MANIFEST, LIBRARY)
GOOD_TAR = gzip.decompress(GOOD)
# The library's tar header follows the manifest's header and its data padded to 512 bytes.
LIB_HEADER = 512 + -(-len(MANIFEST.to_toml().encode()) // 512) * 512


# --------------------------------------------------------------------------- tar builders


def reg(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def make_tar(
    *members: tuple[tarfile.TarInfo, bytes | None], fmt: int = tarfile.GNU_FORMAT
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def manifest_member(manifest: Manifest = MANIFEST) -> tuple[tarfile.TarInfo, bytes | None]:
    return reg("package.toml", manifest.to_toml().encode())


def lib_member(name: str = LIB_NAME, data: bytes = LIBRARY) -> tuple[tarfile.TarInfo, bytes | None]:
    return reg(name, data)


# --------------------------------------------------------------------------- round trip


def test_round_trip_from_bytes() -> None:
    archive = read_archive(GOOD)
    assert archive.manifest == MANIFEST
    assert archive.library == LIBRARY
    assert archive.manifest.declarations["graphs"][1]["trigger"] is None
    assert archive.manifest.declarations["reactors"][0]["name"] == "PriceReactor"


def test_round_trip_through_disk(tmp_path: Path) -> None:
    lib_path = tmp_path / "target" / "release" / "libpricing_publisher.so"
    lib_path.parent.mkdir(parents=True)
    lib_path.write_bytes(LIBRARY)
    out = write_archive(MANIFEST, lib_path, tmp_path / "dist")
    assert out == tmp_path / "dist" / "pricing-publisher-0.1.0.cloacina"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp file left behind
    archive = read_archive(out)
    assert archive.manifest == MANIFEST
    assert archive.library == LIBRARY
    assert read_archive(str(out)).library == LIBRARY


def test_manifest_toml_round_trip_and_normalisation() -> None:
    m = make_manifest(sha256=sha256_hex(LIBRARY).upper())
    assert m.sha256 == sha256_hex(LIBRARY)
    text = m.to_toml()
    assert '[package]\nname = "pricing-publisher"' in text
    assert 'file = "libpricing_publisher.so"' in text
    assert "abi_version = 1" in text
    assert Manifest.from_toml(text) == m
    # declarations carry the library's declarations minus the identity fields
    assert "name" not in m.declarations
    assert "abi_version" not in m.declarations
    assert m.declarations["thread_safe"] is False
    assert m.declarations["accumulators"][1]["config"] == {"window": 5, "tags": ["a", "b"]}
    assert m.declarations["graphs"][0]["nodes"][0]["routes"] == {"Up": "up", "Down": "down"}


def test_manifest_defaults_empty_declaration_lists() -> None:
    m = make_manifest(declarations={})
    assert m.declarations == {"reactors": [], "accumulators": [], "graphs": []}
    assert Manifest.from_toml(m.to_toml()) == m


def test_archive_name() -> None:
    assert archive_name("pricing-publisher", "0.1.0") == "pricing-publisher-0.1.0.cloacina"
    assert MANIFEST.archive_name == "pricing-publisher-0.1.0.cloacina"
    with pytest.raises(PackageError, match="package version"):
        archive_name("x", "../1")
    with pytest.raises(PackageError, match="package name"):
        archive_name("a/b", "1")


# --------------------------------------------------------------------------- determinism


def test_same_inputs_give_identical_bytes(tmp_path: Path) -> None:
    lib_path = tmp_path / LIB_NAME
    lib_path.write_bytes(LIBRARY)
    first = write_archive(MANIFEST, lib_path, tmp_path / "a").read_bytes()
    os.utime(lib_path, (1_000_000, 1_000_000))  # the library's own mtime must not leak in
    second = write_archive(MANIFEST, lib_path, tmp_path / "b").read_bytes()
    assert first == second == GOOD == build_archive(make_manifest(), LIBRARY)


def test_archive_members_are_normalised() -> None:
    assert GOOD[4:8] == b"\0\0\0\0"  # gzip mtime
    with tarfile.open(fileobj=io.BytesIO(GOOD), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["package.toml", LIB_NAME]
    assert members[1].offset == LIB_HEADER
    for m in members:
        assert m.isreg()
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (0, 0, 0, "", "", 0o644)


def test_different_library_gives_different_archive() -> None:
    other = LIBRARY + b"\0"
    assert build_archive(make_manifest(library=other), other) != GOOD


# --------------------------------------------------------------------------- manifest validation


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"name": "../evil"}, "[package] name"),
        ({"name": ""}, "[package] name"),
        ({"name": "has space"}, "[package] name"),
        ({"name": "-rf"}, "[package] name"),
        ({"version": ""}, "[package] version"),
        ({"version": "1/2"}, "[package] version"),
        ({"description": 3}, "[package] description"),
        ({"library_file": "lib/libx.so"}, "[library] file"),
        ({"library_file": ".."}, "[library] file"),
        ({"library_file": "package.toml"}, "[library] file"),
        ({"library_file": ""}, "[library] file"),
        ({"sha256": "abc"}, "[library] sha256"),
        ({"sha256": "g" * 64}, "[library] sha256"),
        ({"abi_version": 0}, "[library] abi_version"),
        ({"abi_version": True}, "[library] abi_version"),
        ({"abi_version": "1"}, "[library] abi_version"),
        ({"language": "go"}, "[library] language"),
        ({"target": ""}, "[library] target"),
        ({"target": "x86 64"}, "[library] target"),
        ({"size": 0}, "[library] size"),
        ({"size": 1.5}, "[library] size"),
        ({"declarations": []}, "[declarations]"),
        ({"declarations": {"reactors": "PriceReactor"}}, "[declarations] reactors"),
        ({"declarations": {"graphs": [{"nodes": []}]}}, "[declarations] graphs[0]"),
        ({"declarations": {"graphs": [{"name": "g", "x": [1, None]}]}}, "null"),
    ],
)
def test_manifest_refuses_bad_fields(overrides: dict[str, Any], needle: str) -> None:
    with pytest.raises(PackageError) as info:
        make_manifest(**overrides)
    assert needle in str(info.value)
    assert "package.toml" in str(info.value)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t.replace('sha256 = "', 'sha256 = "0'), "[library] sha256"),
        (lambda t: t.replace("abi_version = 1\n", ""), "[library] abi_version is missing"),
        (lambda t: t.replace('name = "pricing-publisher"\n', ""), "[package] name is missing"),
        (lambda t: t.replace("[library]", "[lib]"), "no [library] table"),
        (lambda t: t.replace("[package]", "package = 1\n[pkg]"), "[package] must be a table"),
        (lambda t: t + "\n[package]\n", "not valid TOML"),
        (lambda t: t.replace('language = "rust"', 'language = "cobol"'), "[library] language"),
        (lambda t: t.replace("size = ", "size = -"), "[library] size"),
    ],
)
def test_from_toml_names_the_field(edit: Callable[[str], str], needle: str) -> None:
    with pytest.raises(PackageError) as info:
        Manifest.from_toml(edit(MANIFEST.to_toml()))
    assert needle in str(info.value)


def test_from_toml_ignores_unknown_keys() -> None:
    text = MANIFEST.to_toml().replace("[library]", "future = true\n\n[library]")
    assert Manifest.from_toml(text + "\n[signature]\nkey = 'x'\n") == MANIFEST


def test_manifest_with_uncarriable_value_is_refused() -> None:
    with pytest.raises(PackageError, match="set"):
        make_manifest(declarations={"reactors": [], "extra": {1, 2}})


# --------------------------------------------------------------------------- writer refusals


def test_writer_refuses_hash_mismatch(tmp_path: Path) -> None:
    lib_path = tmp_path / LIB_NAME
    lib_path.write_bytes(LIBRARY[:-1] + b"X")
    with pytest.raises(PackageError, match=r"\[library\] sha256 says"):
        write_archive(MANIFEST, lib_path, tmp_path / "out")
    assert not (tmp_path / "out" / MANIFEST.archive_name).exists()


def test_writer_refuses_size_mismatch_and_missing_library(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"\[library\] size says"):
        build_archive(MANIFEST, LIBRARY + b"x")
    with pytest.raises(PackageError, match="cannot read library"):
        write_archive(MANIFEST, tmp_path / "nope.so", tmp_path)


def test_writer_refuses_what_the_reader_would_refuse() -> None:
    with pytest.raises(PackageError, match="over the limit"):
        build_archive(MANIFEST, LIBRARY, Limits(max_member_bytes=100))
    with pytest.raises(PackageError, match=r"package\.toml would be"):
        build_archive(MANIFEST, LIBRARY, Limits(max_manifest_bytes=100))


# --------------------------------------------------------------------------- hostile archives


def refusal(data: bytes, limits: Limits | None = None) -> str:
    with pytest.raises(PackageError) as info:
        read_archive(data, limits)
    return str(info.value)


def _device(kind: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    info, _ = special("libpricing_publisher.so", kind)
    info.devmajor, info.devminor = 1, 3
    return info, None


HOSTILE: dict[str, tuple[bytes, list[str]]] = {
    "traversal": (
        gz(make_tar(manifest_member(), lib_member("../" + LIB_NAME))),
        ["'../libpricing_publisher.so'", "path traversal"],
    ),
    "traversal-deep": (
        gz(make_tar(manifest_member(), lib_member("a/../../etc/cron.d/x"))),
        ["'a/../../etc/cron.d/x'", "path traversal"],
    ),
    "absolute": (
        gz(make_tar(manifest_member(), lib_member("/etc/passwd"))),
        ["'/etc/passwd'", "absolute path"],
    ),
    "nested": (
        gz(make_tar(manifest_member(), lib_member("lib/" + LIB_NAME))),
        ["'lib/libpricing_publisher.so'", "not a bare file name"],
    ),
    "symlink": (
        gz(make_tar(manifest_member(), special(LIB_NAME, tarfile.SYMTYPE, "/etc/passwd"))),
        ["'libpricing_publisher.so'", "symbolic link", "/etc/passwd"],
    ),
    "hardlink": (
        gz(make_tar(manifest_member(), special(LIB_NAME, tarfile.LNKTYPE, "package.toml"))),
        ["'libpricing_publisher.so'", "hard link"],
    ),
    "char-device": (
        gz(make_tar(manifest_member(), _device(tarfile.CHRTYPE))),
        ["'libpricing_publisher.so'", "character device"],
    ),
    "block-device": (
        gz(make_tar(manifest_member(), _device(tarfile.BLKTYPE))),
        ["'libpricing_publisher.so'", "block device"],
    ),
    "fifo": (
        gz(make_tar(manifest_member(), special(LIB_NAME, tarfile.FIFOTYPE))),
        ["'libpricing_publisher.so'", "FIFO"],
    ),
    "directory": (
        gz(make_tar(special("lib", tarfile.DIRTYPE), manifest_member(), lib_member())),
        ["'lib'", "directory"],
    ),
    "extra-member": (
        gz(make_tar(manifest_member(), lib_member(), reg("README.md", b"hi"))),
        ["'README.md'", "unexpected extra member"],
    ),
    "duplicate-manifest": (
        gz(make_tar(manifest_member(), lib_member(), manifest_member())),
        ["'package.toml'", "more than once"],
    ),
    "duplicate-library": (
        gz(make_tar(manifest_member(), lib_member(), lib_member())),
        ["'libpricing_publisher.so'", "more than once"],
    ),
    "missing-manifest": (
        gz(make_tar(lib_member())),
        ["no package.toml"],
    ),
    "missing-library": (
        gz(make_tar(manifest_member())),
        ["no library", "'libpricing_publisher.so'"],
    ),
    "empty-tar": (
        gz(make_tar()),
        ["no package.toml"],
    ),
    "wrong-file-name": (
        gz(make_tar(manifest_member(), lib_member("libother.so"))),
        ["[library] file is 'libpricing_publisher.so'", "'libother.so'"],
    ),
    "hash-mismatch": (
        gz(make_tar(manifest_member(), lib_member(data=LIBRARY[:-1] + b"!"))),
        ["'libpricing_publisher.so'", "[library] sha256 says", "tampered"],
    ),
    "size-mismatch": (
        gz(make_tar(manifest_member(), lib_member(data=LIBRARY + b"!"))),
        ["'libpricing_publisher.so'", "[library] size says"],
    ),
    "bad-toml": (
        gz(make_tar(reg("package.toml", b"[package\nname = 1"), lib_member())),
        ["package.toml is not valid TOML"],
    ),
    "manifest-not-utf8": (
        gz(make_tar(reg("package.toml", b"\xff\xfe[package]"), lib_member())),
        ["package.toml is not valid UTF-8"],
    ),
    "bad-manifest-field": (
        gz(
            make_tar(
                reg("package.toml", MANIFEST.to_toml().replace('"rust"', '"go"').encode()),
                lib_member(),
            )
        ),
        ["[library] language"],
    ),
    "not-gzip-zip": (
        b"PK\x03\x04" + b"\0" * 100,
        ["not a .cloacina archive", "the file starts with b'PK"],
    ),
    "not-gzip-plain-tar": (make_tar(manifest_member(), lib_member()), ["not a .cloacina"]),
    "empty": (b"", ["not a .cloacina archive", "the file is empty"]),
    "gzip-not-tar": (gz(b"hello, this is not a tar file" * 40), ["truncated or corrupt"]),
    "truncated-half": (GOOD[: len(GOOD) // 2], ["truncated or corrupt"]),
    "truncated-trailer": (GOOD[:-4], ["truncated or corrupt"]),
    "truncated-header": (GOOD[:12], ["truncated or corrupt"]),
    "gzip-crc": (GOOD[:-8] + b"\0\0\0\0" + GOOD[-4:], ["corrupt", "CRC"]),
    "trailing-garbage": (GOOD + b"garbage!", ["truncated or corrupt"]),
    "data-after-tar-end": (
        gz(make_tar(manifest_member(), lib_member()) + b"smuggled" + b"\0" * 504),
        ["unexpected data after the end"],
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_refused(case: str) -> None:
    data, needles = HOSTILE[case]
    message = refusal(data)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_hostile_archives_are_built_as_intended() -> None:
    # Guard against the builders silently normalising names away (which would make the
    # refusal tests pass for the wrong reason).
    with tarfile.open(fileobj=io.BytesIO(HOSTILE["absolute"][0]), mode="r:gz") as tar:
        assert tar.getnames() == ["package.toml", "/etc/passwd"]
    with tarfile.open(fileobj=io.BytesIO(HOSTILE["symlink"][0]), mode="r:gz") as tar:
        assert tar.getmembers()[1].issym()


def test_pax_names_are_checked_too() -> None:
    long_name = "a" * 120 + "/../../evil.so"
    data = gz(make_tar(manifest_member(), lib_member(long_name), fmt=tarfile.PAX_FORMAT))
    assert "path traversal" in refusal(data)


def test_library_before_manifest_is_accepted() -> None:
    data = gz(make_tar(lib_member(), manifest_member()))
    archive = read_archive(data)
    assert archive.manifest == MANIFEST
    assert archive.library == LIBRARY


def test_oversized_library_is_refused_from_its_header() -> None:
    message = refusal(GOOD, Limits(max_member_bytes=1000))
    assert f"'{LIB_NAME}' is {len(LIBRARY)} bytes, over the limit of 1000" in message


def test_oversized_manifest_is_refused() -> None:
    message = refusal(GOOD, Limits(max_manifest_bytes=64))
    assert "'package.toml'" in message
    assert "over the limit of 64" in message


def test_decompression_bomb_total_limit() -> None:
    big = b"\0" * (4 * 1024 * 1024)
    bomb = gz(make_tar(manifest_member(make_manifest(library=big)), lib_member(data=big)))
    assert len(bomb) < 10_000
    message = refusal(bomb, Limits(max_total_bytes=1024 * 1024))
    assert "decompression bomb" in message
    assert "1048576 bytes" in message


def test_decompression_bomb_ratio_limit() -> None:
    big = b"\0" * (4 * 1024 * 1024)
    bomb = gz(make_tar(manifest_member(make_manifest(library=big)), lib_member(data=big)))
    message = refusal(bomb, Limits(max_ratio=50, ratio_grace_bytes=64 * 1024))
    assert "50 times its compressed size" in message
    # The same archive is fine when the limits allow it: the refusal is the limit's doing.
    assert read_archive(bomb, Limits(max_ratio=10_000)).library == big


def test_truncation_names_the_member_being_read() -> None:
    big = os.urandom(256 * 1024)  # incompressible, so half the archive is mid-library
    data = build_archive(make_manifest(library=big), big)
    message = refusal(data[: len(data) // 2])
    assert f"truncated or corrupt (while reading member '{LIB_NAME}')" in message


def test_missing_file_is_a_package_error(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="cannot read archive"):
        read_archive(tmp_path / "nope.cloacina")


def test_refusal_names_the_package_when_known() -> None:
    with pytest.raises(PackageError) as info:
        read_archive(HOSTILE["hash-mismatch"][0])
    assert info.value.names == {
        "package": "pricing-publisher",
        "member": LIB_NAME,
        "field": "[library] sha256",
    }
    assert info.value.code == "invalid_package"


# --------------------------------------------------------------------------- property

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=6
    ),
    cut=st.one_of(st.none(), st.integers(0, len(GOOD))),
)
def test_mutated_archive_reads_identically_or_is_refused(
    edits: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(GOOD)
    for pos, value in edits:
        data[pos] = value
    if cut is not None:
        del data[cut:]
    try:
        archive = read_archive(bytes(data), Limits(max_total_bytes=1024 * 1024))
    except PackageError as exc:
        assert str(exc)
        return
    assert archive.manifest == MANIFEST
    assert archive.library == LIBRARY


@FUZZ
@given(
    edits=st.lists(
        # Bias towards the two headers, where tar parsing (not gzip's CRC) is what stands guard.
        st.tuples(
            st.one_of(
                st.integers(0, 511),
                st.integers(LIB_HEADER, LIB_HEADER + 511),
                st.integers(0, len(GOOD_TAR) - 1),
            ),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_tar_inside_valid_gzip_is_consistent_or_refused(
    edits: list[tuple[int, int]],
) -> None:
    # Without gzip's CRC to catch the change, a read may succeed with edited content (the
    # manifest is not signed), but what it returns must still be self-consistent.
    data = bytearray(GOOD_TAR)
    for pos, value in edits:
        data[pos] = value
    try:
        archive = read_archive(gz(bytes(data)), Limits(max_total_bytes=1024 * 1024))
    except PackageError as exc:
        assert str(exc)
        return
    assert sha256_hex(archive.library) == archive.manifest.sha256
    assert len(archive.library) == archive.manifest.size


# --------------------------------------------------------------------------- project identity


CARGO = """\
[package]
name = "pricing-publisher"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib", "rlib"]
"""

PACKAGE_TOML = """\
[package]
name = "pricing-publisher"
version = "0.1.0"
description = "Publishes a normalized price stream via a standalone reactor"
"""

CMAKE = """\
cmake_minimum_required(VERSION 3.18)
# project(commented_out VERSION 9.9.9)
#[[ project(bracket_commented VERSION 8.8.8) ]]
project(c_publisher
        VERSION 1.2.3
        DESCRIPTION "A C publisher (with parens) # not a comment"
        LANGUAGES C)
add_library(c_publisher SHARED publisher.c)
"""


def write(dir_: Path, name: str, text: str) -> None:
    (dir_ / name).write_text(text, encoding="utf-8")


def test_identity_from_package_toml_wins(tmp_path: Path) -> None:
    write(tmp_path, "package.toml", PACKAGE_TOML)
    write(tmp_path, "Cargo.toml", CARGO.replace("0.1.0", "9.9.9").replace("pricing", "cargo"))
    assert read_identity(tmp_path) == Identity(
        "pricing-publisher", "0.1.0", "Publishes a normalized price stream via a standalone reactor"
    )


def test_identity_falls_back_field_by_field(tmp_path: Path) -> None:
    write(tmp_path, "package.toml", '[package]\ndescription = "from package.toml"\n')
    write(tmp_path, "Cargo.toml", CARGO.replace("edition", 'description = "from cargo"\nedition'))
    assert read_identity(tmp_path) == Identity("pricing-publisher", "0.1.0", "from package.toml")


def test_identity_from_cargo_only(tmp_path: Path) -> None:
    write(tmp_path, "Cargo.toml", CARGO)
    assert read_identity(tmp_path) == Identity("pricing-publisher", "0.1.0", "")


def test_identity_from_cmake(tmp_path: Path) -> None:
    write(tmp_path, "CMakeLists.txt", CMAKE)
    assert read_identity(tmp_path) == Identity(
        "c_publisher", "1.2.3", "A C publisher (with parens) # not a comment"
    )


def test_identity_from_cmake_lowercase_without_description(tmp_path: Path) -> None:
    write(tmp_path, "CMakeLists.txt", "PROJECT( tiny VERSION 0.2 LANGUAGES C )\n")
    assert read_identity(tmp_path) == Identity("tiny", "0.2", "")


def test_cmake_version_from_variable_is_not_guessed(tmp_path: Path) -> None:
    write(tmp_path, "CMakeLists.txt", "project(tiny VERSION ${TINY_VERSION})\n")
    with pytest.raises(PackageError, match="cannot tell the package's version"):
        read_identity(tmp_path)


def test_cargo_workspace_version_needs_package_toml(tmp_path: Path) -> None:
    write(tmp_path, "Cargo.toml", CARGO.replace('version = "0.1.0"', "version.workspace = true"))
    with pytest.raises(PackageError, match="cannot tell the package's version"):
        read_identity(tmp_path)
    write(tmp_path, "package.toml", '[package]\nversion = "0.3.0"\n')
    assert read_identity(tmp_path) == Identity("pricing-publisher", "0.3.0", "")


def test_identity_missing_everything(tmp_path: Path) -> None:
    with pytest.raises(PackageError) as info:
        read_identity(tmp_path)
    assert "name and version" in str(info.value)
    assert "package.toml" in str(info.value)


def test_identity_refuses_unsafe_name(tmp_path: Path) -> None:
    write(tmp_path, "Cargo.toml", CARGO.replace('"pricing-publisher"', '"../evil"'))
    with pytest.raises(PackageError, match=r"Cargo.toml: \[package\] name"):
        read_identity(tmp_path)


def test_identity_refuses_broken_package_toml(tmp_path: Path) -> None:
    write(tmp_path, "package.toml", "[package\n")
    write(tmp_path, "Cargo.toml", CARGO)
    with pytest.raises(PackageError, match=r"package\.toml' is not valid TOML"):
        read_identity(tmp_path)


def test_identity_of_a_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "Cargo.toml", CARGO)
    with pytest.raises(PackageError, match="is not a directory"):
        read_identity(tmp_path / "Cargo.toml")


def test_project_kind(tmp_path: Path) -> None:
    cargo, cmake, both, neither = (tmp_path / d for d in ("cargo", "cmake", "both", "neither"))
    for d in (cargo, cmake, both, neither):
        d.mkdir()
    write(cargo, "Cargo.toml", CARGO)
    write(cmake, "CMakeLists.txt", CMAKE)
    write(both, "Cargo.toml", CARGO)
    write(both, "CMakeLists.txt", CMAKE)
    write(neither, "package.toml", PACKAGE_TOML)
    assert project_kind(cargo) == "cargo"
    assert project_kind(cmake) == "cmake"
    assert project_kind(both) == "cargo"
    with pytest.raises(PackageError, match=r"neither a Cargo\.toml nor a CMakeLists\.txt"):
        project_kind(neither)
    with pytest.raises(PackageError, match="is not a directory"):
        project_kind(tmp_path / "missing")
