"""``-o yaml|id`` beside ``table|json``: YAML is the JSON's data, ``id`` the identifiers one a
line (the ``id`` of packages and keys, the ``name`` of tenants, reactors and graphs, the
``key_id`` of signers), against a real server."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from cloacina_host.cli.tables import identifiers, render
from server_fixtures import BOOT, Cli, Server


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


def test_render_and_identifiers() -> None:
    items = [{"id": "a1", "name": "pub"}, {"id": "b2", "name": "sub"}]
    assert render(items, "id") == "a1\nb2\n"
    assert yaml.safe_load(render(items, "yaml")) == items
    assert orjson.loads(render(items, "json")) == items
    assert render({"key_id": "k1", "id": "x", "name": "n"}, "id") == "k1\n"
    mixed = {"reactors": [{"name": "PriceReactor"}], "graphs": [{"name": "price_consumer"}]}
    assert identifiers(mixed) == ["PriceReactor", "price_consumer"]
    assert identifiers([{"fire": 3, "outputs": {}}]) == ["3"]
    assert render([], "id") == ""


def test_yaml_and_id_outputs(
    server: Server, cli: Cli, c_archives: dict[str, Path], tmp_path: Path
) -> None:
    tenant, key = server.tenant()
    remote = ["--server", server.url, "--key", key, "--tenant", tenant]
    for name in ("pricing-publisher", "pricing-subscriber"):
        assert server.upload(tenant, key, c_archives[name]).json()["status"] == "loaded"

    def out(*args: str) -> str:
        return cli.ok(*args, *remote)

    packages = orjson.loads(out("package", "list", "-o", "json"))
    assert yaml.safe_load(out("package", "list", "-o", "yaml")) == packages
    ids = out("package", "list", "-o", "id").splitlines()
    assert sorted(ids) == sorted(p["id"] for p in packages) and len(ids) == 2

    assert out("graph", "list", "-o", "id").splitlines() == ["PriceReactor", "price_consumer"]
    status = orjson.loads(out("graph", "status", "PriceReactor", "-o", "json"))
    assert yaml.safe_load(out("graph", "status", "PriceReactor", "-o", "yaml")) == status
    assert out("graph", "status", "PriceReactor", "-o", "id") == "PriceReactor\n"
    # -o on the group works too
    assert cli.ok("-o", "id", "graph", "status", "price_consumer", *remote) == "price_consumer\n"

    keys = orjson.loads(out("key", "list", "-o", "json"))
    assert out("key", "list", "-o", "id").splitlines() == [k["id"] for k in keys]

    tenants = cli.ok("tenant", "list", "--server", server.url, "--key", BOOT, "-o", "id")
    assert tenant in tenants.splitlines()

    public = cli.ok("signer", "keygen", "--out", str(tmp_path / "k.pem")).strip()
    added = orjson.loads(out("signer", "add", "release", public, "-o", "json"))
    assert out("signer", "list", "-o", "id") == f"{added['key_id']}\n"

    # not every command has identifiers to print: a clear usage error, exit 1
    refused = cli("graph", "topology", "-o", "id", *remote)
    assert refused.returncode == 1 and "-o id does not apply to graph topology" in refused.stderr
    topo = yaml.safe_load(out("graph", "topology", "-o", "yaml"))
    assert topo == orjson.loads(out("graph", "topology", "--format", "json"))
