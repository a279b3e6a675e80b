"""Signed packages: Ed25519 signatures over a ``.cloacina`` archive's SHA-256 (the
``cryptography`` library), kept beside the archive in a detached ``<archive>.sig`` file.

A signature file is one JSON object ``{"format": "cloacina-signature-1", "algorithm":
"ed25519", "key_id", "sha256", "signature"}``: ``sha256`` is the archive's digest, ``key_id``
the signer's fingerprint (the first 16 hex digits of the SHA-256 of its raw public key) and
``signature`` the base64 Ed25519 signature of ``cloacina-package-signature-1\\0<sha256>``
(the prefix keeps the key from signing anything else by accident). Keys are PEM files: the
private one PKCS#8 (``cloacinactl signer keygen`` writes it mode 0600), the public one
SubjectPublicKeyInfo, which is what a tenant trusts (``cloacinactl signer add``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import SignatureError

FORMAT = "cloacina-signature-1"
SIG_SUFFIX = ".sig"
_DOMAIN = b"cloacina-package-signature-1\0"
MAX_SIGNATURE_BYTES = 4096


@dataclass(frozen=True)
class Signature:
    """A detached signature of one archive."""

    key_id: str
    sha256: str
    signature: bytes

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT,
            "algorithm": "ed25519",
            "key_id": self.key_id,
            "sha256": self.sha256,
            "signature": base64.b64encode(self.signature).decode(),
        }
        return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Signature:
        """Parse a signature file; :class:`SignatureError` naming what is wrong."""
        if len(data) > MAX_SIGNATURE_BYTES:
            raise SignatureError(f"the signature is {len(data)} bytes; a signature file is small")
        try:
            body: Any = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SignatureError(f"the signature is not JSON ({exc})") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise SignatureError(f'the signature is not a {FORMAT} file (its "format" differs)')
        if body.get("algorithm") != "ed25519":
            raise SignatureError(f"unsupported signature algorithm {body.get('algorithm')!r}")
        fields = {k: body.get(k) for k in ("key_id", "sha256", "signature")}
        if not all(isinstance(v, str) and v for v in fields.values()):
            raise SignatureError("the signature lacks key_id, sha256 or signature")
        try:
            raw = base64.b64decode(str(fields["signature"]), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("the signature's 'signature' is not base64") from None
        return cls(str(fields["key_id"]), str(fields["sha256"]), raw)


def _message(sha256: str) -> bytes:
    return _DOMAIN + sha256.encode()


def generate_key() -> tuple[bytes, bytes]:
    """A new key pair: (private PEM, PKCS#8 unencrypted; public PEM)."""
    private = Ed25519PrivateKey.generate()
    return (
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        public_pem(private.public_key()),
    )


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private(pem: bytes, where: str = "the signing key") -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{where} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{where} is not an Ed25519 key")
    return key


def load_public(pem: bytes | str, where: str = "the public key") -> Ed25519PublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{where} is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{where} is not an Ed25519 key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """A public key's fingerprint: 16 hex digits of the SHA-256 of its raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(archive: bytes, private: Ed25519PrivateKey) -> Signature:
    digest = hashlib.sha256(archive).hexdigest()
    return Signature(key_id(private.public_key()), digest, private.sign(_message(digest)))


def verify(archive: bytes, signature: Signature, public: Ed25519PublicKey) -> None:
    """Refuse unless ``signature`` is ``public``'s signature of exactly ``archive``."""
    digest = hashlib.sha256(archive).hexdigest()
    if signature.sha256 != digest:
        raise SignatureError(
            f"the signature is for an archive with sha256 {signature.sha256}, not this one "
            f"({digest}): the archive was changed after signing, or it is another archive's "
            "signature"
        )
    if key_id(public) != signature.key_id:
        raise SignatureError(f"the signature names key {signature.key_id}, not this key")
    try:
        public.verify(signature.signature, _message(digest))
    except InvalidSignature:
        raise SignatureError(f"the signature does not verify with key {signature.key_id}") from None
