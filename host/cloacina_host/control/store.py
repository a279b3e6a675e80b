"""Durable state: tenants, API keys, stored packages and their load status.

SQLAlchemy Core over SQLite by default (``<data>/cloacina.db``) and PostgreSQL by URL;
the same code path serves both. Keys are stored only as SHA-256 hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import CloacinaError, InvalidInputError, NotFoundError
from ..log import get_logger
from ..packaging.manifest import Manifest
from .datadir import private_database, private_dir, sqlite_url
from .migrate import lock_start, upgrade
from .schema import api_keys, package_status, packages, tenants, upsert
from .status import PackageStatus, State

log = get_logger()

ROLES = ("read", "write", "admin")
KEY_PREFIX = "clk_"
MAX_TENANT_DESCRIPTION = 1024  # characters
#: The PostgreSQL NOTIFY channel of desired-state changes.
CHANNEL = "cloacina_changes"


class ConflictError(CloacinaError):
    """A stored thing already exists in a conflicting form."""

    code = "conflict"


class StoreUnavailableError(CloacinaError):
    """The database cannot be used any more: its SQLite file was deleted or replaced."""

    code = "database_unavailable"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    tenant: str | None
    role: str
    is_admin: bool
    prefix: str
    created_at: float
    revoked_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "tenant": self.tenant,
            "role": self.role,
            "is_admin": self.is_admin,
            "prefix": self.prefix,
            "created_at": self.created_at,
            "revoked": self.revoked_at is not None,
        }


@dataclass(frozen=True)
class PackageRow:
    id: str
    tenant: str
    name: str
    version: str
    sha256: str
    description: str
    manifest: Manifest
    created_at: float
    signer: str | None = None  # the key id that signed the stored archive

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "description": self.description,
            "created_at": self.created_at,
            "signer": self.signer,
            "declarations": self.manifest.declarations,
        }


class Store:
    """All durable state of one host (daemon or server)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        if url.startswith("postgresql") and importlib.util.find_spec("psycopg") is None:
            raise CloacinaError(
                "a postgresql:// database URL needs the PostgreSQL driver psycopg, which is "
                "not installed: pip install cloacina_host[postgres]"
            )
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.url = url
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        #: the SQLite file and its identity when opened (None for PostgreSQL or in memory)
        self.path: Path | None = None
        database = sa.engine.make_url(url).database
        if url.startswith("sqlite") and database and database != ":memory:":
            self.path = Path(database).absolute()
            self._identity = private_database(self.path)
        self.engine: Engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        if self.path is not None:
            # every read and write begins a transaction: none may go to an unlinked file,
            # and no new connection may create an empty database in a deleted one's place
            sa.event.listen(self.engine, "do_connect", self._check_file)
            sa.event.listen(self.engine, "begin", self._check_file)
        if migrate:
            try:
                self.upgrade()
            except BaseException:
                self.engine.dispose()
                raise

    @classmethod
    def for_data_dir(cls, data_dir: Path, url: str | None = None, *, migrate: bool = True) -> Store:
        private_dir(Path(data_dir))
        return cls(url or sqlite_url(Path(data_dir)), migrate=migrate)

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate the schema to this code's (docs/deploy.md#schema-migrations); returns the
        revision before and now. An unreachable database is a :class:`StoreUnavailableError`
        naming it, a newer one a :class:`SchemaError`."""
        try:
            before, now = upgrade(self.engine)
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise StoreUnavailableError(
                f"cannot open the database {self.redacted_url}: {reason}"
            ) from None
        if before is not None and before != now:
            log.info("schema_upgraded", database=self.redacted_url, old=before, new=now)
        return before, now

    def close(self) -> None:
        self.engine.dispose()

    @property
    def redacted_url(self) -> str:
        """The database URL without its password, for logs."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _check_file(self, *_event: Any) -> None:
        """Refuse the transaction when the SQLite file is no longer the one opened: SQLite
        would go on reading and acknowledging writes into the unlinked file."""
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            happened = "deleted"
        else:
            if (st.st_dev, st.st_ino) == self._identity:
                return
            happened = "replaced by another file"
        raise StoreUnavailableError(
            f"the database file '{self.path}' was {happened} while this process had it "
            "open; restart the server (or daemon) to open the database again"
        )

    # ------------------------------------------------------------------ tenants

    def create_tenant(self, name: str, description: str = "") -> dict[str, Any]:
        if not name or not all(c.isalnum() or c in "-_" for c in name) or len(name) > 64:
            raise InvalidInputError(
                f"tenant name {name!r} is invalid: use 1-64 letters, digits, '-' or '_'"
            )
        if len(description) > MAX_TENANT_DESCRIPTION:
            raise InvalidInputError(
                f"the description of tenant '{name}' has {len(description)} characters; "
                f"the limit is {MAX_TENANT_DESCRIPTION}",
                tenant=name,
            )
        with self.engine.begin() as conn:
            if conn.execute(sa.select(tenants.c.name).where(tenants.c.name == name)).first():
                raise ConflictError(f"tenant '{name}' already exists", tenant=name)
            row = {"name": name, "description": description, "created_at": time.time()}
            conn.execute(tenants.insert().values(**row))
        return row

    def list_tenants(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(tenants).order_by(tenants.c.name)).mappings().all()
        return [dict(r) for r in rows]

    def tenant_exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            q = sa.select(tenants.c.name).where(tenants.c.name == name)
            return conn.execute(q).first() is not None

    def delete_tenant(self, name: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(tenants.delete().where(tenants.c.name == name)).rowcount == 0:
                raise NotFoundError(f"tenant '{name}' not found", tenant=name)
            now = time.time()
            conn.execute(
                api_keys.update()
                .where(api_keys.c.tenant == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            conn.execute(packages.delete().where(packages.c.tenant == name))
            conn.execute(package_status.delete().where(package_status.c.tenant == name))

    # ------------------------------------------------------------------ keys

    def create_key(
        self,
        name: str,
        role: str,
        tenant: str | None,
        *,
        is_admin: bool = False,
        plaintext: str | None = None,
    ) -> tuple[KeyRecord, str]:
        """Store a new key; returns its record and the plaintext (shown once)."""
        made = self._create_key(name, role, tenant, is_admin, plaintext, only_if_none=False)
        assert made is not None
        return made

    def create_first_key(self, plaintext: str) -> bool:
        """The bootstrap key: a platform admin key created only while the store has no key
        at all, decided under the start-up lock, so however many replicas start at once,
        exactly one creates it. Whether this call did."""
        made = self._create_key("bootstrap", "admin", None, True, plaintext, only_if_none=True)
        return made is not None

    def _create_key(
        self,
        name: str,
        role: str,
        tenant: str | None,
        is_admin: bool,
        plaintext: str | None,
        *,
        only_if_none: bool,
    ) -> tuple[KeyRecord, str] | None:
        if role not in ROLES:
            raise InvalidInputError(f"role {role!r} is invalid: use one of {', '.join(ROLES)}")
        if tenant is not None and not self.tenant_exists(tenant):
            raise NotFoundError(f"tenant '{tenant}' not found", tenant=tenant)
        key = plaintext or new_key()
        record = KeyRecord(
            str(uuid.uuid4()), name, tenant, role, is_admin, key[:8], time.time(), None
        )
        with self.engine.begin() as conn:
            if only_if_none:
                lock_start(conn)
                if conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one():
                    return None
            conn.execute(
                api_keys.insert().values(
                    id=record.id,
                    name=name,
                    tenant=tenant,
                    role=role,
                    is_admin=is_admin,
                    key_hash=hash_key(key),
                    prefix=record.prefix,
                    created_at=record.created_at,
                    revoked_at=None,
                )
            )
        return record, key

    def count_keys(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one())

    def list_keys(self, tenant: str | None = None) -> list[KeyRecord]:
        q = sa.select(api_keys).order_by(api_keys.c.created_at)
        if tenant is not None:
            q = q.where(api_keys.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(q).mappings()]

    def lookup_key(self, plaintext: str) -> KeyRecord | None:
        """The live key with this plaintext, or None (unknown or revoked)."""
        q = sa.select(api_keys).where(
            api_keys.c.key_hash == hash_key(plaintext), api_keys.c.revoked_at.is_(None)
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        return _key(row) if row else None

    def revoke_key(self, key_id: str, tenant: str | None = None) -> KeyRecord:
        q = api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        if tenant is not None:
            q = q.where(api_keys.c.tenant == tenant)
        with self.engine.begin() as conn:
            if conn.execute(q.values(revoked_at=time.time())).rowcount == 0:
                raise NotFoundError(f"key '{key_id}' not found", key=key_id)
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings()
            return _key(row.one())

    # ------------------------------------------------------------------ packages

    def add_package(
        self,
        tenant: str,
        manifest: Manifest,
        archive: bytes,
        conn: sa.Connection | None = None,
        signer: str | None = None,
    ) -> PackageRow:
        """Store an uploaded package. The same name+version with other content is refused;
        the same content again is an idempotent re-upload (which records a ``signer`` the
        first upload lacked). ``conn``: a :meth:`decision`."""
        with self._within(conn) as c:
            existing = (
                c.execute(
                    sa.select(packages.c.id, packages.c.sha256).where(
                        packages.c.tenant == tenant,
                        packages.c.name == manifest.name,
                        packages.c.version == manifest.version,
                    )
                )
                .mappings()
                .first()
            )
            if existing is not None and existing["sha256"] != manifest.sha256:
                raise ConflictError(
                    f"package '{manifest.name}' version {manifest.version} is already "
                    f"stored in tenant '{tenant}' with other content; bump the version",
                    tenant=tenant,
                    package=manifest.name,
                )
            if existing is None:
                c.execute(
                    packages.insert().values(
                        id=str(uuid.uuid4()),
                        tenant=tenant,
                        name=manifest.name,
                        version=manifest.version,
                        sha256=manifest.sha256,
                        description=manifest.description,
                        manifest=manifest.to_toml(),
                        archive=archive,
                        created_at=time.time(),
                        signer=signer,
                    )
                )
            elif signer is not None:
                c.execute(
                    packages.update()
                    .where(packages.c.id == existing["id"])
                    .values(signer=signer, archive=archive)
                )
            row = self.find_package(tenant, f"{manifest.name}@{manifest.version}", c)
        assert row is not None
        return row

    def list_packages(self, tenant: str, conn: sa.Connection | None = None) -> list[PackageRow]:
        q = (
            sa.select(*[c for c in packages.c if c.name != "archive"])
            .where(packages.c.tenant == tenant)
            .order_by(packages.c.created_at, packages.c.id)
        )
        with self.reading(conn) as c:
            return [_package(r) for r in c.execute(q).mappings()]

    def find_package(
        self, tenant: str, ref: str, conn: sa.Connection | None = None
    ) -> PackageRow | None:
        """A package by id, ``name@version``, or name (its newest version)."""
        rows = self.list_packages(tenant, conn)
        for row in rows:
            if ref in (row.id, f"{row.name}@{row.version}"):
                return row
        named = [r for r in rows if r.name == ref]
        return named[-1] if named else None

    def package_archive(self, package_id: str) -> bytes:
        with self.engine.connect() as conn:
            data = conn.execute(
                sa.select(packages.c.archive).where(packages.c.id == package_id)
            ).scalar_one_or_none()
        if data is None:
            raise NotFoundError(f"package '{package_id}' not found", package=package_id)
        return bytes(data)

    def delete_package(
        self, tenant: str, package_id: str, conn: sa.Connection | None = None
    ) -> None:
        with self._within(conn) as c:
            q = packages.delete().where(packages.c.tenant == tenant, packages.c.id == package_id)
            if c.execute(q).rowcount == 0:
                raise NotFoundError(f"package '{package_id}' not found", package=package_id)

    # ------------------------------------------------------------------ status

    def write_status(self, tenant: str, replica: str, statuses: Iterable[PackageStatus]) -> None:
        """This replica's load status of the tenant's packages (after every reconcile pass):
        one upsert per package, and this replica's rows of packages it no longer has go."""
        now = time.time()
        names = []
        with self.engine.begin() as conn:
            for s in statuses:
                names.append(s.name)
                upsert(
                    conn,
                    package_status,
                    ("tenant", "name", "replica"),
                    tenant=tenant,
                    name=s.name,
                    replica=replica,
                    version=s.version,
                    sha256=s.sha256,
                    status=s.state.value,
                    reason=s.reason,
                    reactors=orjson.dumps(s.reactors).decode(),
                    graphs=orjson.dumps(s.graphs).decode(),
                    updated_at=now,
                )
            conn.execute(
                package_status.delete().where(
                    package_status.c.tenant == tenant,
                    package_status.c.replica == replica,
                    package_status.c.name.not_in(names),
                )
            )

    def read_status(self, tenant: str) -> list[tuple[str, PackageStatus]]:
        """Every replica's load status rows of the tenant: (replica, status), by name."""
        q = (
            sa.select(package_status)
            .where(package_status.c.tenant == tenant)
            .order_by(package_status.c.name, package_status.c.replica)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            (
                r["replica"],
                PackageStatus(
                    r["name"],
                    r["version"],
                    r["sha256"],
                    State(r["status"]),
                    r["reason"],
                    tuple(orjson.loads(r["reactors"])),
                    tuple(orjson.loads(r["graphs"])),
                ),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ decisions

    @contextlib.contextmanager
    def decision(self, tenant: str) -> Iterator[sa.Connection]:
        """A transaction holding the tenant's lock: an upload, a delete and the guard are
        each decided in one, on the stored truth, so every replica decides alike
        (PostgreSQL: an advisory lock for the transaction; SQLite: one process, a lock per
        tenant, and the same code path)."""
        with self._tenant_lock(tenant), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                key = sa.func.hashtext(sa.literal(f"cloacina:tenant:{tenant}"))
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            yield conn

    def notify(self, conn: sa.Connection, tenant: str, replica: str) -> None:
        """Wake every replica up to reconcile ``tenant`` once ``conn``'s transaction commits
        (PostgreSQL ``NOTIFY``; nothing on SQLite, where one process does everything)."""
        if conn.dialect.name == "postgresql":
            payload = orjson.dumps({"tenant": tenant, "replica": replica}).decode()
            conn.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))

    def _tenant_lock(self, tenant: str) -> threading.Lock:
        with self._locks_lock:
            lock = self._locks.get(tenant)
            if lock is None:
                lock = self._locks[tenant] = threading.Lock()
            return lock

    @contextlib.contextmanager
    def _within(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        """``conn`` (a transaction of the caller's), else a transaction of our own."""
        if conn is not None:
            yield conn
            return
        with self.engine.begin() as own:
            yield own

    @contextlib.contextmanager
    def reading(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        """``conn`` (the caller's, e.g. a :meth:`decision`), else a connection of our own."""
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as own:
            yield own


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # the CLI reads while the daemon writes
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _key(row: Any) -> KeyRecord:
    return KeyRecord(
        row["id"],
        row["name"],
        row["tenant"],
        row["role"],
        bool(row["is_admin"]),
        row["prefix"],
        row["created_at"],
        row["revoked_at"],
    )


def _package(row: Any) -> PackageRow:
    return PackageRow(
        row["id"],
        row["tenant"],
        row["name"],
        row["version"],
        row["sha256"],
        row["description"],
        Manifest.from_toml(row["manifest"]),
        row["created_at"],
        row.get("signer"),
    )
