"""Schema migrations: a database the first release made (tables, no Alembic revision) opens
under this release with everything it stored, on SQLite and on PostgreSQL; a database newer
than the code is refused by name; ``cloacinactl db upgrade`` migrates on its own; and a
server started on an upgraded data directory runs the packages stored before."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cloacina_host.cli import main
from cloacina_host.control.datadir import sqlite_url
from cloacina_host.control.migrate import SchemaError, head
from cloacina_host.control.store import Store
from cloacina_host.packaging.archive import read_archive
from server_fixtures import BOOT, Server

# The first release's tables, as its store made them with create_all (frozen here on
# purpose: this is the history a migration starts from, not today's schema).
FIRST = sa.MetaData()
sa.Table(
    "tenants",
    FIRST,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)
sa.Table(
    "api_keys",
    FIRST,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=True),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)
sa.Table(
    "packages",
    FIRST,
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
sa.Table(
    "package_status",
    FIRST,
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

TENANT_KEY = "clk_first-release-tenant-key"


def engine_of(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def first_release_database(url: str, archives: list[Path]) -> None:
    """What the first release left behind: a tenant, a platform key (the tests' bootstrap
    key), a tenant key, the stored packages and their status rows."""
    engine = engine_of(url)
    now = time.time()
    try:
        FIRST.create_all(engine)
        t = FIRST.tables
        with engine.begin() as conn:
            conn.execute(t["tenants"].insert().values(name="acme", description="", created_at=now))
            for tenant, plaintext, role in ((None, BOOT, "admin"), ("acme", TENANT_KEY, "write")):
                conn.execute(
                    t["api_keys"]
                    .insert()
                    .values(
                        id=str(uuid.uuid4()),
                        name="old",
                        tenant=tenant,
                        role=role,
                        is_admin=role == "admin",
                        key_hash=hashlib.sha256(plaintext.encode()).hexdigest(),
                        prefix=plaintext[:12],
                        created_at=now,
                    )
                )
            for n, path in enumerate(archives):  # stored in this order
                data = path.read_bytes()
                m = read_archive(data).manifest
                conn.execute(
                    t["packages"]
                    .insert()
                    .values(
                        id=str(uuid.uuid4()),
                        tenant="acme",
                        name=m.name,
                        version=m.version,
                        sha256=m.sha256,
                        description=m.description,
                        manifest=m.to_toml(),
                        archive=data,
                        created_at=now + n,
                    )
                )
                conn.execute(
                    t["package_status"]
                    .insert()
                    .values(
                        tenant="acme",
                        name=m.name,
                        version=m.version,
                        sha256=m.sha256,
                        status="loaded",
                        updated_at=now,
                    )
                )
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        (tmp_path / "data").mkdir(mode=0o700)
        yield sqlite_url(tmp_path / "data")
    else:
        yield str(request.getfixturevalue("database"))


def revision_of(url: str) -> list[str]:
    engine = engine_of(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def test_a_first_release_database_opens_with_everything_it_stored(
    old_url: str, c_archives: dict[str, Path]
) -> None:
    archives = [c_archives["pricing-publisher"], c_archives["pricing-subscriber"]]
    first_release_database(old_url, archives)
    store = Store(old_url)
    try:
        assert revision_of(old_url) == [head()]
        assert [t["name"] for t in store.list_tenants()] == ["acme"]
        assert store.lookup_key(TENANT_KEY) is not None
        assert store.lookup_key(BOOT) is not None
        rows = store.list_packages("acme")
        assert [r.name for r in rows] == ["pricing-publisher", "pricing-subscriber"]
        assert [store.package_archive(r.id) for r in rows] == [a.read_bytes() for a in archives]
        # the old one-row status is not carried over: each replica reports its own
        assert store.read_status("acme") == []
    finally:
        store.close()
    again = Store(old_url)  # opening an up-to-date database changes nothing
    again.close()
    assert revision_of(old_url) == [head()]


def test_a_database_newer_than_the_code_is_refused_by_name(old_url: str) -> None:
    Store(old_url).close()
    engine = engine_of(old_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaError) as refused:
        Store(old_url)
    assert "at revision '9999', which this cloacina-host does not know" in str(refused.value)
    assert f"its newest is '{head()}'" in str(refused.value)


def test_db_upgrade_migrates_and_then_says_it_is_up_to_date(
    tmp_path: Path, c_archives: dict[str, Path]
) -> None:
    data = tmp_path / "home"
    data.mkdir(mode=0o700)
    first_release_database(sqlite_url(data), [c_archives["pricing-publisher"]])
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade", "--data-dir", str(data)])
    assert first.exit_code == 0, first.output
    assert first.stdout == f"OK: the schema was upgraded from revision 0001 to {head()}\n"
    second = runner.invoke(main, ["db", "upgrade", "--data-dir", str(data)])
    assert second.stdout == f"OK: the schema is up to date (revision {head()})\n"


def test_db_upgrade_refuses_an_unreachable_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["db", "upgrade", "--database-url", "postgresql://nobody@127.0.0.1:1/none"]
    )
    assert result.exit_code != 0
    assert result.stderr.startswith(
        "Error: cannot open the database postgresql+psycopg://nobody@127.0.0.1:1/none: "
    ), result.stderr


def test_a_server_on_an_upgraded_data_dir_runs_what_was_stored(
    tmp_path: Path, c_archives: dict[str, Path]
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    archives = [c_archives["pricing-publisher"], c_archives["pricing-subscriber"]]
    first_release_database(sqlite_url(data), archives)
    srv = Server(data).start()
    try:
        items = srv.packages("acme", TENANT_KEY)
        assert {n: i["status"] for n, i in items.items()} == {
            "pricing-publisher": "loaded",
            "pricing-subscriber": "loaded",
        }
        fired = srv.ok(
            "POST", "/v1/tenants/acme/accumulators/raw_prices/events", TENANT_KEY, json={"price": 1}
        )
        assert fired["fires"] == 1
    finally:
        srv.stop()
