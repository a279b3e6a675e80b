"""Durable state: tenants, API keys, stored packages and their load status.

SQLAlchemy Core over SQLite by default (``<data>/cloacina.db``) and PostgreSQL by URL;
the same code path serves both. Keys are stored only as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from ..errors import CloacinaError, InvalidInputError, NotFoundError
from ..packaging.manifest import Manifest
from .status import PackageStatus, State

log = structlog.get_logger("cloacina")

ROLES = ("read", "write", "admin")
KEY_PREFIX = "clk_"
MAX_TENANT_DESCRIPTION = 1024  # characters

metadata = sa.MetaData()

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=True),  # NULL: platform key
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

packages = sa.Table(
    "packages",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("archive", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("tenant", "name", "version", name="uq_package_version"),
)

package_status = sa.Table(
    "package_status",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("reactors", sa.Text, nullable=False, default="[]"),
    sa.Column("graphs", sa.Text, nullable=False, default="[]"),
    sa.Column("updated_at", sa.Float, nullable=False),
)


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "description": self.description,
            "created_at": self.created_at,
            "declarations": self.manifest.declarations,
        }


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{Path(data_dir) / 'cloacina.db'}"


def private_dir(path: Path) -> Path:
    """Make ``path`` (and its parents) a directory only its owner may enter: a new one is
    created with mode 0700, an existing one loses its group and other bits (with a warning;
    one it cannot change is used as it is, with a warning)."""
    path = Path(path)
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise
        _tighten(path, 0o077, "data_dir")
    else:
        os.chmod(path, 0o700)  # whatever the umask
    return path


def _tighten(path: Path, loose: int, what: str) -> None:
    """Clear the ``loose`` permission bits of an existing ``path``, warning when any was set."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & loose:
        return
    try:
        os.chmod(path, mode & ~loose)
    except OSError as exc:
        log.warning(f"{what}_not_private", path=str(path), mode=oct(mode), error=str(exc))
    else:
        log.warning(f"{what}_tightened", path=str(path), mode=oct(mode), now=oct(mode & ~loose))


def _private_database(path: Path) -> tuple[int, int]:
    """Create the SQLite file with mode 0600 before SQLite does (its ``-wal`` and ``-shm``
    files take the database's mode); tighten an existing one and its companions. Returns
    the file's identity, ``(st_dev, st_ino)``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            _tighten(file, 0o177, "database_file")
    return st.st_dev, st.st_ino


class Store:
    """All durable state of one host (daemon or server)."""

    def __init__(self, url: str) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.url = url
        #: the SQLite file and its identity when opened (None for PostgreSQL or in memory)
        self.path: Path | None = None
        database = sa.engine.make_url(url).database
        if url.startswith("sqlite") and database and database != ":memory:":
            self.path = Path(database).absolute()
            self._identity = _private_database(self.path)
        self.engine: Engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        if self.path is not None:
            # every read and write begins a transaction: none may go to an unlinked file,
            # and no new connection may create an empty database in a deleted one's place
            sa.event.listen(self.engine, "do_connect", self._check_file)
            sa.event.listen(self.engine, "begin", self._check_file)
        metadata.create_all(self.engine)

    @classmethod
    def for_data_dir(cls, data_dir: Path, url: str | None = None) -> Store:
        private_dir(Path(data_dir))
        return cls(url or sqlite_url(Path(data_dir)))

    def close(self) -> None:
        self.engine.dispose()

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
        if role not in ROLES:
            raise InvalidInputError(f"role {role!r} is invalid: use one of {', '.join(ROLES)}")
        if tenant is not None and not self.tenant_exists(tenant):
            raise NotFoundError(f"tenant '{tenant}' not found", tenant=tenant)
        key = plaintext or new_key()
        record = KeyRecord(
            str(uuid.uuid4()), name, tenant, role, is_admin, key[:8], time.time(), None
        )
        with self.engine.begin() as conn:
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

    def add_package(self, tenant: str, manifest: Manifest, archive: bytes) -> PackageRow:
        """Store an uploaded package. The same name+version with other content is refused."""
        with self.engine.begin() as conn:
            existing = (
                conn.execute(
                    sa.select(packages.c.id, packages.c.sha256).where(
                        packages.c.tenant == tenant,
                        packages.c.name == manifest.name,
                        packages.c.version == manifest.version,
                    )
                )
                .mappings()
                .first()
            )
            if existing is not None:
                if existing["sha256"] == manifest.sha256:
                    pass  # idempotent re-upload
                else:
                    raise ConflictError(
                        f"package '{manifest.name}' version {manifest.version} is already "
                        f"stored in tenant '{tenant}' with other content; bump the version",
                        tenant=tenant,
                        package=manifest.name,
                    )
            else:
                conn.execute(
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
                    )
                )
        row = self.find_package(tenant, f"{manifest.name}@{manifest.version}")
        assert row is not None
        return row

    def list_packages(self, tenant: str) -> list[PackageRow]:
        q = (
            sa.select(*[c for c in packages.c if c.name != "archive"])
            .where(packages.c.tenant == tenant)
            .order_by(packages.c.created_at)
        )
        with self.engine.connect() as conn:
            return [_package(r) for r in conn.execute(q).mappings()]

    def find_package(self, tenant: str, ref: str) -> PackageRow | None:
        """A package by id, ``name@version``, or name (its newest version)."""
        rows = self.list_packages(tenant)
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

    def delete_package(self, tenant: str, package_id: str) -> None:
        with self.engine.begin() as conn:
            q = packages.delete().where(packages.c.tenant == tenant, packages.c.id == package_id)
            if conn.execute(q).rowcount == 0:
                raise NotFoundError(f"package '{package_id}' not found", package=package_id)

    # ------------------------------------------------------------------ status

    def write_status(self, tenant: str, statuses: Iterable[PackageStatus]) -> None:
        """Replace the tenant's load status rows (written after every reconcile pass)."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(package_status.delete().where(package_status.c.tenant == tenant))
            for s in statuses:
                conn.execute(
                    package_status.insert().values(
                        tenant=tenant,
                        name=s.name,
                        version=s.version,
                        sha256=s.sha256,
                        status=s.state.value,
                        reason=s.reason,
                        reactors=orjson.dumps(s.reactors).decode(),
                        graphs=orjson.dumps(s.graphs).decode(),
                        updated_at=now,
                    )
                )

    def read_status(self, tenant: str) -> list[PackageStatus]:
        """The tenant's load status rows, by package name."""
        q = (
            sa.select(package_status)
            .where(package_status.c.tenant == tenant)
            .order_by(package_status.c.name)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            PackageStatus(
                r["name"],
                r["version"],
                r["sha256"],
                State(r["status"]),
                r["reason"],
                tuple(orjson.loads(r["reactors"])),
                tuple(orjson.loads(r["graphs"])),
            )
            for r in rows
        ]


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
    )
