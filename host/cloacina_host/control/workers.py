"""What the control plane keeps about tenants' workers: quarantined packages (the package
whose call crashed or hung a worker, kept out until re-uploaded or retried), and each
tenant's worker settings (its call deadline). Tables of the store's database."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from .status import State
from .store import Store, metadata

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # crashed | hung
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

tenant_settings = sa.Table(
    "tenant_settings",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("call_deadline_seconds", sa.Float, nullable=True),
)


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
        metadata.create_all(self.engine, tables=[quarantine, tenant_settings])

    def quarantine(
        self, tenant: str, name: str, version: str, sha256: str, state: State, reason: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                quarantine.delete().where(quarantine.c.tenant == tenant, quarantine.c.name == name)
            )
            conn.execute(
                quarantine.insert().values(
                    tenant=tenant,
                    name=name,
                    version=version,
                    sha256=sha256,
                    state=state.value,
                    reason=reason,
                    at=time.time(),
                )
            )

    def release(self, tenant: str, name: str) -> bool:
        """Let a package load again; whether it was quarantined."""
        with self.engine.begin() as conn:
            q = quarantine.delete().where(quarantine.c.tenant == tenant, quarantine.c.name == name)
            return bool(conn.execute(q).rowcount)

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
            conn.execute(tenant_settings.delete().where(tenant_settings.c.tenant == tenant))
            if seconds is not None:
                conn.execute(
                    tenant_settings.insert().values(tenant=tenant, call_deadline_seconds=seconds)
                )

    def forget(self, tenant: str) -> None:
        """A deleted tenant's rows."""
        with self.engine.begin() as conn:
            conn.execute(quarantine.delete().where(quarantine.c.tenant == tenant))
            conn.execute(tenant_settings.delete().where(tenant_settings.c.tenant == tenant))
