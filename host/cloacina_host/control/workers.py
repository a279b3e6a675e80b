"""What the control plane keeps about tenants' workers: quarantined packages (the package
whose call crashed or hung a worker, kept out until re-uploaded or retried; every replica
keeps it out), and each tenant's worker settings (its call deadline)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from .schema import quarantine, tenant_settings, upsert
from .status import State
from .store import Store


@dataclass(frozen=True)
class Quarantined:
    """A package version kept out of its tenant's worker, and why."""

    name: str
    version: str
    sha256: str
    state: State
    reason: str
    at: float


class WorkerBooks:
    """Quarantine and worker settings, in the store's database."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def quarantine(
        self, tenant: str, name: str, version: str, sha256: str, state: State, reason: str
    ) -> None:
        with self.engine.begin() as conn:
            upsert(
                conn,
                quarantine,
                ("tenant", "name"),
                tenant=tenant,
                name=name,
                version=version,
                sha256=sha256,
                state=state.value,
                reason=reason,
                at=time.time(),
            )

    def release(self, tenant: str, name: str, conn: sa.Connection | None = None) -> bool:
        """Let a package load again; whether it was quarantined."""
        q = quarantine.delete().where(quarantine.c.tenant == tenant, quarantine.c.name == name)
        if conn is not None:
            return bool(conn.execute(q).rowcount)
        with self.engine.begin() as own:
            return bool(own.execute(q).rowcount)

    def quarantined(self, tenant: str) -> dict[str, Quarantined]:
        q = sa.select(quarantine).where(quarantine.c.tenant == tenant)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return {
            r["name"]: Quarantined(
                r["name"], r["version"], r["sha256"], State(r["state"]), r["reason"], r["at"]
            )
            for r in rows
        }

    def call_deadline(self, tenant: str) -> float | None:
        q = sa.select(tenant_settings.c.call_deadline_seconds).where(
            tenant_settings.c.tenant == tenant
        )
        with self.engine.connect() as conn:
            value = conn.execute(q).scalar_one_or_none()
        return None if value is None else float(value)

    def set_call_deadline(self, tenant: str, seconds: float | None) -> None:
        with self.engine.begin() as conn:
            upsert(
                conn,
                tenant_settings,
                ("tenant",),
                tenant=tenant,
                call_deadline_seconds=seconds,
            )

    def forget(self, tenant: str) -> None:
        """A deleted tenant's rows."""
        with self.engine.begin() as conn:
            conn.execute(quarantine.delete().where(quarantine.c.tenant == tenant))
            conn.execute(tenant_settings.delete().where(tenant_settings.c.tenant == tenant))
