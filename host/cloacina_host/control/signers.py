"""The keys a tenant trusts to sign its packages, and whether it accepts only signed ones.

An upload with a signature is verified whatever the policy (a wrong signature is never
stored); a tenant with ``require_signed`` refuses an upload without one. Removing a signer
refuses its future uploads; packages it signed that are already stored stay (nothing already
stored or loaded is lost), and their ``signer`` still names it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..errors import (
    NotFoundError,
    SignatureError,
    SignatureRequiredError,
    UntrustedSignerError,
)
from ..packaging.signing import Signature, key_id, load_public, public_pem, verify
from .schema import signers, tenant_settings, upsert
from .store import ConflictError, Store


@dataclass(frozen=True)
class Signer:
    tenant: str
    key_id: str
    name: str
    public_key: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "tenant": self.tenant,
            "public_key": self.public_key,
            "created_at": self.created_at,
        }


class SignerBooks:
    """Trusted signers and the signed-only setting, per tenant, in the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def add(self, tenant: str, name: str, pem: str) -> Signer:
        key = load_public(pem, "the signer's public key")
        kid = key_id(key)
        text = public_pem(key).decode()
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(signers.c.name).where(signers.c.tenant == tenant, signers.c.key_id == kid)
            ).scalar_one_or_none()
            if found is not None:
                raise ConflictError(
                    f"key {kid} is already a signer of tenant '{tenant}' (as '{found}')",
                    tenant=tenant,
                )
            now = time.time()
            conn.execute(
                signers.insert().values(
                    tenant=tenant, key_id=kid, name=name, public_key=text, created_at=now
                )
            )
        return Signer(tenant, kid, name, text, now)

    def list(self, tenant: str, conn: sa.Connection | None = None) -> list[Signer]:
        q = sa.select(signers).where(signers.c.tenant == tenant).order_by(signers.c.created_at)
        with self.store.reading(conn) as c:
            rows = c.execute(q).mappings().all()
        return [
            Signer(r["tenant"], r["key_id"], r["name"], r["public_key"], r["created_at"])
            for r in rows
        ]

    def remove(self, tenant: str, kid: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(
                signers.delete().where(signers.c.tenant == tenant, signers.c.key_id == kid)
            ).rowcount
        if not gone:
            raise NotFoundError(f"signer '{kid}' not found in tenant '{tenant}'", tenant=tenant)

    def required(self, tenant: str, conn: sa.Connection | None = None) -> bool:
        q = sa.select(tenant_settings.c.require_signed).where(tenant_settings.c.tenant == tenant)
        with self.store.reading(conn) as c:
            return bool(c.execute(q).scalar_one_or_none())

    def set_required(self, tenant: str, required: bool) -> None:
        with self.engine.begin() as conn:
            upsert(conn, tenant_settings, ("tenant",), tenant=tenant, require_signed=required)

    def check(
        self,
        tenant: str,
        package: str,
        archive: bytes,
        signature: bytes | None,
        conn: sa.Connection,
    ) -> str | None:
        """The key id that signed ``archive`` (None when unsigned and the tenant allows it);
        refuses a malformed or wrong signature, an untrusted key, or a missing signature
        where one is required, naming the package."""
        if signature is None:
            if self.required(tenant, conn):
                raise SignatureRequiredError(
                    f"tenant '{tenant}' accepts only signed packages and '{package}' is "
                    "unsigned: pack it with `cloacinactl package pack --sign KEY` and upload "
                    "it with its .sig file",
                    tenant=tenant,
                    package=package,
                )
            return None
        try:
            sig = Signature.from_json(signature)
        except SignatureError as exc:
            raise SignatureError(
                f"package '{package}': {exc}", tenant=tenant, package=package
            ) from None
        trusted = {s.key_id: s for s in self.list(tenant, conn)}
        signer = trusted.get(sig.key_id)
        if signer is None:
            raise UntrustedSignerError(
                f"package '{package}' is signed by key {sig.key_id}, which tenant '{tenant}' "
                "does not trust (add it with `cloacinactl signer add`)",
                tenant=tenant,
                package=package,
            )
        try:
            verify(archive, sig, load_public(signer.public_key))
        except SignatureError as exc:
            raise SignatureError(
                f"package '{package}': {exc} (signer '{signer.name}')",
                tenant=tenant,
                package=package,
            ) from None
        return signer.key_id

    def forget(self, tenant: str) -> None:
        """A deleted tenant's signers."""
        with self.engine.begin() as conn:
            conn.execute(signers.delete().where(signers.c.tenant == tenant))
