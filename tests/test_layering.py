"""Dependencies run one way, between the layers and inside them; only core/ffi names cffi;
only server and cli name their frameworks; the pure modules stay pure."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "host" / "cloacina_host"

# Each unit's layer (a top-level module or a subpackage); a unit may import only from layers
# strictly below it. This is the picture of docs/architecture.md.
LAYERS: dict[str, int] = {
    "errors": 0,
    "types": 0,
    "log": 1,
    "spawn": 1,
    "core": 2,
    "packaging": 3,
    "isolation": 4,
    "control": 5,
    "events": 6,
    "server": 7,
    "cli": 8,
    "__init__": 9,
    "__main__": 9,
}
# Inside a subpackage, each module's layer: a module imports only siblings strictly below it.
# Subpackages not listed (server, cli) are flat.
INNER: dict[str, dict[str, int]] = {
    "core": {
        "__init__": 0,
        "header": 0,
        "graph": 0,
        "registry": 0,
        "configs": 0,
        "ffi": 1,
        "descriptor": 2,
        "loader": 3,
        "executor": 3,
        "accumulator": 3,
        "reactor": 4,
        "records": 4,
        "replace": 5,
        "runtime": 6,
        "host": 7,
        "views": 7,
    },
    "isolation": {
        "__init__": 0,
        "sandbox": 0,
        "slots": 0,
        "tenant": 0,
        "protocol": 0,
        "settings": 0,
        "local": 1,
        "process": 1,
        "worker": 2,
        "supervisor": 2,
        "remote": 3,
    },
    "packaging": {
        "__init__": 0,
        "manifest": 0,
        "elf": 0,
        "probe": 0,
        "signing": 0,
        "sdk": 0,
        "archive": 1,
        "identity": 1,
        "build": 2,
        "pack": 3,
    },
    "control": {
        "__init__": 0,
        "status": 0,
        "schema": 0,
        "datadir": 0,
        "migrate": 0,
        "topology": 0,
        "store": 1,
        "reconciler": 1,
        "workers": 2,
        "replicas": 2,
        "tickets": 2,
        "signers": 2,  # beside tickets: reads the store's tables
        "plane": 3,
        "daemon": 4,
    },
    "events": {
        "__init__": 0,
        "naming": 0,
        "snapshot": 0,
        "ownership": 0,
        "hub": 0,
        "plane": 1,
        "broker": 1,
        "owner": 2,
        "jetstream": 3,
    },
}
# Third-party names only these modules may import ("unit" or "unit/module").
ONLY = {
    "cffi": {"core/ffi"},
    "fastapi": {"server"},
    "starlette": {"server"},
    "uvicorn": {"server"},
    "click": {"cli"},
    "typer": {"cli"},
    "httpx": {"cli/client"},
    "sqlalchemy": {
        "control/schema",
        "control/migrate",
        "control/store",
        "control/workers",
        "control/replicas",
        "control/tickets",
        "control/signers",
    },
    "alembic": {"control/migrate"},
    "psycopg": {"control/replicas"},
    "elftools": {"packaging/elf"},
    "msgpack": {"isolation/protocol", "events/snapshot"},
    "nats": {"events/broker"},
    "cryptography": {"packaging/signing"},
    "yaml": {"cli/tables"},
    "pydantic": {"server"},  # request bodies and the OpenAPI answer models (server/models)
    "jsonschema": set(),  # a dev dependency: only tests/test_openapi.py checks answers with it
}
# Pure modules: no I/O, no FFI; they import only the shared base.
PURE = {
    "core/graph",
    "core/registry",
    "core/configs",
    "control/status",
    "control/topology",
    "events/naming",
    "events/ownership",
    "types",
    "errors",
}


def unit(path: Path) -> str:
    """A module's unit: its stem, or the subpackage it belongs to (``server/edge.py`` -> server).
    A ``__main__`` module, wherever it is, is an entry point that nothing imports
    (``python -m cloacina_host.server`` runs the CLI's ``cloacina-server``): the top layer."""
    rel = path.relative_to(PKG)
    if path.stem == "__main__":
        return "__main__"
    return rel.parts[0] if len(rel.parts) > 1 else path.stem


def where(path: Path) -> str:
    """``unit/module`` for a module of a subpackage, else the unit."""
    rel = path.relative_to(PKG)
    return f"{rel.parts[0]}/{path.stem}" if len(rel.parts) > 1 else path.stem


MIGRATIONS = PKG / "control" / "migrations"


def sources() -> list[Path]:
    """The package's modules; Alembic's scripts (control/migrations) are checked on their own."""
    return sorted(p for p in PKG.rglob("*.py") if MIGRATIONS not in p.parents)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports inside ``if TYPE_CHECKING:`` blocks (they never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    lines.add(inner.lineno)
    return lines


def imports(path: Path) -> set[str]:
    """What ``path`` imports: ``.unit`` for another unit of the package, ``:module`` for a
    sibling in the same subpackage, else the top-level third-party name."""
    inner = len(path.relative_to(PKG).parts) > 1
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if inner and node.level == 1:  # a sibling: from .x import y / from . import x
                    names = [node.module] if node.module else [a.name for a in node.names]
                    found.update(":" + n.split(".")[0] for n in names)
                    continue
                if node.module:
                    found.add("." + node.module.split(".")[0])
                else:  # only names that are units of the package
                    found.update(
                        "." + a.name
                        for a in node.names
                        if (PKG / f"{a.name}.py").exists() or (PKG / a.name).is_dir()
                    )
            elif node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
    return found


def test_every_module_has_a_layer() -> None:
    units = {unit(p) for p in sources()}
    assert units <= set(LAYERS), f"give these modules a layer: {units - set(LAYERS)}"
    for name, layers in INNER.items():
        modules = {p.stem for p in (PKG / name).glob("*.py")}
        assert modules == set(layers), f"{name}/: layer these modules {modules ^ set(layers)}"


def test_dependency_direction() -> None:
    for path in sources():
        me, mine = unit(path), LAYERS[unit(path)]
        for name in imports(path):
            if name.startswith("."):
                other = name[1:]
                assert LAYERS[other] < mine, f"{where(path)} (layer {mine}) imports {other}"
            elif name.startswith(":"):
                layers = INNER.get(me)
                if layers is not None:
                    sibling = name[1:]
                    assert layers[sibling] < layers[path.stem], (
                        f"{where(path)} imports {me}/{sibling}, which is not below it"
                    )
            elif name in ONLY:
                assert me in ONLY[name] or where(path) in ONLY[name], (
                    f"only {ONLY[name]} may import {name} ({where(path)} does)"
                )


def test_pure_modules_import_only_the_base() -> None:
    for path in sources():
        if where(path) not in PURE:
            continue
        for name in imports(path):
            if name.startswith((".", ":")):
                assert name[1:] in {"errors", "types"}, f"{where(path)} is pure but imports {name}"
            else:
                assert name in {"__future__", "dataclasses", "enum", "graphlib", "typing"} | {
                    "hashlib",
                    "re",
                    "difflib",
                    "json",
                    "collections",
                }, f"{where(path)} is pure but imports {name}"


def test_migrations_name_only_alembic_and_sqlalchemy() -> None:
    """A migration is history: it must not import the package, whose schema moves on."""
    scripts = sorted(MIGRATIONS.rglob("*.py"))
    assert scripts, "no migration scripts found"
    for path in scripts:
        for name in imports(path):
            assert name in {"__future__", "alembic", "sqlalchemy"}, (
                f"{path.relative_to(PKG)} imports {name}"
            )


def _requirement_name(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_library_is_declared() -> None:
    """A library the package imports is a dependency of its own in pyproject.toml (not only
    something another dependency happens to bring), or of an extra: psycopg is [postgres]."""
    project = tomllib.loads((PKG.parents[1] / "pyproject.toml").read_text())["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    extras = {_requirement_name(r) for r in project["optional-dependencies"]["postgres"]}
    distributions = importlib.metadata.packages_distributions()
    imported = {
        name
        for path in sources()
        for name in imports(path)
        if not name.startswith((".", ":")) and name not in sys.stdlib_module_names
    }
    assert imported, "no third-party import found"
    for name in sorted(imported):
        dists = {_requirement_name(d) for d in distributions.get(name, [])}
        assert dists, f"{name} is imported but not installed"
        if name == "psycopg":  # imported only on PostgreSQL (control/replicas, lazily)
            assert dists & extras, "psycopg must be the [postgres] extra"
            assert not dists & declared, "psycopg must not be a base dependency"
            continue
        assert dists & declared, f"{name} is imported but {sorted(dists)} is not declared"
