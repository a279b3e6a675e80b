"""Signed packages: Ed25519 over the archive's digest, trusted signers per tenant, and a
tenant that accepts only signed packages — refusals for unsigned, tampered, wrongly signed
and revoked-signer uploads, each named; what was stored before stays."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import httpx
import orjson
import pytest

from cloacina_host.errors import SignatureError
from cloacina_host.packaging.signing import (
    Signature,
    generate_key,
    key_id,
    load_private,
    load_public,
    sign,
    verify,
)
from server_fixtures import BOOT, Cli, Server, assert_error

ARCHIVE = b"pretend this is a .cloacina archive" * 10


def test_a_signature_verifies_only_its_archive_with_its_key() -> None:
    private_pem, public_pem = generate_key()
    private, public = load_private(private_pem), load_public(public_pem)
    sig = sign(ARCHIVE, private)
    assert sig.key_id == key_id(public) and len(sig.key_id) == 16
    verify(ARCHIVE, Signature.from_json(sig.to_json()), public)  # round trip through the file

    with pytest.raises(SignatureError, match="the archive was changed after signing"):
        verify(ARCHIVE + b"x", sig, public)
    other = load_public(generate_key()[1])
    with pytest.raises(SignatureError, match=f"names key {sig.key_id}, not this key"):
        verify(ARCHIVE, sig, other)
    forged = Signature(sig.key_id, sig.sha256, bytes(64))
    with pytest.raises(SignatureError, match="does not verify"):
        verify(ARCHIVE, forged, public)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "is not a cloacina-signature-1 file"),
        (b'{"format": "cloacina-signature-1", "algorithm": "rsa"}', "unsupported"),
        (
            b'{"format": "cloacina-signature-1", "algorithm": "ed25519", "key_id": "k"}',
            "lacks key_id, sha256 or signature",
        ),
        (
            b'{"format": "cloacina-signature-1", "algorithm": "ed25519", "key_id": "k", '
            b'"sha256": "s", "signature": "!!"}',
            "not base64",
        ),
        (b" " * 5000, "a signature file is small"),
    ],
)
def test_malformed_signature_files_are_named(data: bytes, text: str) -> None:
    with pytest.raises(SignatureError, match=text):
        Signature.from_json(data)


def test_keys_must_be_ed25519_pem() -> None:
    with pytest.raises(SignatureError, match="is not an unencrypted PEM private key"):
        load_private(b"nope", "key k.pem")
    with pytest.raises(SignatureError, match="is not a PEM public key"):
        load_public("nope")


def upload(srv: Server, tenant: str, key: str, archive: Path, sig: bytes | None) -> httpx.Response:
    files: dict[str, tuple[str, bytes]] = {"file": (archive.name, archive.read_bytes())}
    if sig is not None:
        files["signature"] = (archive.name + ".sig", sig)
    return srv.request("POST", f"/v1/tenants/{tenant}/packages", key, files=files)


def test_a_signed_only_tenant(server: Server, c_archives: dict[str, Path], tmp_path: Path) -> None:
    tenant, admin = server.tenant()
    cli = Cli(tmp_path / "home")
    common = ["--server", server.url, "--key", admin, "--tenant", tenant]
    for name in ("pricing-publisher", "pricing-subscriber", "test_auditor"):
        shutil.copy(c_archives[name], tmp_path / c_archives[name].name)
    pub, sub, auditor = (
        tmp_path / c_archives[n].name
        for n in ("pricing-publisher", "pricing-subscriber", "test_auditor")
    )

    # an unsigned package before the tenant requires signing: stored, no signer
    assert upload(server, tenant, admin, auditor, None).status_code == 201

    # a key pair, the public half trusted by the tenant
    pub_file = Path(cli.ok("signer", "keygen", "--out", str(tmp_path / "ci.pem")).strip())
    assert (tmp_path / "ci.pem").stat().st_mode & 0o777 == 0o600
    assert "OK: signer ci added" in cli.ok("signer", "add", "ci", str(pub_file), *common)
    (trusted,) = cli.json("signer", "list", *common)["items"]
    assert trusted["name"] == "ci"
    kid = trusted["key_id"]
    assert kid == key_id(load_public(pub_file.read_bytes()))

    # signed-only, set by the platform admin
    out = cli.ok("tenant", "set", tenant, "--require-signed", "--server", server.url, "--key", BOOT)
    assert out.startswith(f"OK: tenant {tenant}: only signed packages")
    assert cli.json("signer", "list", *common)["require_signed"] is True

    # unsigned: refused by name, nothing stored
    refused = upload(server, tenant, admin, sub, None)
    assert_error(refused, 400, "signature_required", f"tenant '{tenant}' accepts only signed")
    assert "'pricing-subscriber' is unsigned" in refused.json()["error"]
    proc = cli("package", "upload", str(sub), *common)
    assert proc.returncode != 0 and "accepts only signed packages" in proc.stderr

    # signed with the trusted key: `package sign` writes the .sig, upload sends it along
    assert cli.ok("package", "sign", str(pub), "--key", str(tmp_path / "ci.pem")).strip() == (
        pub.name + ".sig"
    )
    uploaded = cli.ok("package", "upload", str(pub), *common)
    assert "status: loaded" in uploaded and f"signer: {kid}" in uploaded
    listed = server.packages(tenant, admin)
    assert listed["pricing-publisher"]["signer"] == kid
    assert listed["pricing-auditor"]["signer"] is None  # stored before: kept as it was

    # the publisher's signature on the subscriber's archive: another archive's signature
    pub_sig = (tmp_path / (pub.name + ".sig")).read_bytes()
    wrong = upload(server, tenant, admin, sub, pub_sig)
    assert_error(wrong, 400, "bad_signature", "package 'pricing-subscriber': the signature is for")
    # a tampered signature
    body = orjson.loads(pub_sig)
    raw = bytearray(base64.b64decode(body["signature"]))
    raw[0] ^= 0xFF
    body["signature"] = base64.b64encode(bytes(raw)).decode()
    tampered = upload(server, tenant, admin, pub, orjson.dumps(body))
    assert_error(tampered, 400, "bad_signature", "does not verify with key")
    # a key the tenant does not trust
    stranger_pem, _ = generate_key()
    (tmp_path / "stranger.pem").write_bytes(stranger_pem)
    stranger = sign(sub.read_bytes(), load_private(stranger_pem)).to_json()
    untrusted = upload(server, tenant, admin, sub, stranger)
    assert_error(untrusted, 400, "untrusted_signer", "which tenant")
    assert set(server.packages(tenant, admin)) == {"pricing-publisher", "pricing-auditor"}

    # the signer removed: its next upload is refused; what it signed stays loaded
    cli.ok("package", "sign", str(sub), "--key", str(tmp_path / "ci.pem"))
    cli.ok("signer", "remove", kid, *common)
    revoked = cli("package", "upload", str(sub), *common)
    assert revoked.returncode != 0 and f"signed by key {kid}" in revoked.stderr
    assert server.packages(tenant, admin)["pricing-publisher"]["status"] == "loaded"

    # a reader cannot add signers; unsigned allowed again
    reader = server.key(tenant, "read", admin)["key"]
    refused_add = server.request(
        "POST",
        f"/v1/tenants/{tenant}/signers",
        reader,
        json={"name": "x", "public_key": pub_file.read_text()},
    )
    assert_error(refused_add, 403, "forbidden")
    cli.ok("tenant", "set", tenant, "--allow-unsigned", "--server", server.url, "--key", BOOT)
    (tmp_path / (sub.name + ".sig")).unlink()
    assert "status: loaded" in cli.ok("package", "upload", str(sub), *common)
