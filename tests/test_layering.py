"""Dependencies run one way; only ffi names cffi; only server/cli name their frameworks."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "host" / "cloacina_host"

# Each module's layer; a module may import only from layers strictly below it.
LAYERS: dict[str, int] = {
    "errors": 0,
    "types": 0,
    "ffi": 1,
    "log": 1,
    "profiles": 1,
    "client": 1,
    "graph": 2,
    "registry": 2,
    "packages": 2,
    "loader": 3,
    "executor": 3,
    "store": 3,
    "render": 3,
    "reactor": 4,
    "probe": 4,
    "runtime": 5,
    "metrics": 5,
    "reconciler": 6,
    "isolation": 6,
    "building": 6,
    "demo": 6,
    "app": 7,
    "daemon": 8,
    "access": 8,
    "views": 9,
    "server": 10,
    "cli": 11,
    "__init__": 12,
    "__main__": 12,
}
ONLY = {
    "cffi": {"ffi"},
    "fastapi": {"server"},
    "starlette": {"server"},
    "uvicorn": {"server"},
    "click": {"cli"},
    "typer": {"cli"},
    "httpx": {"client"},
}


def unit(path: Path) -> str:
    """A module's unit: its stem, or the subpackage it belongs to (``server/edge.py`` -> server)."""
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else path.stem


def sources() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def imports(path: Path) -> set[str]:
    """What ``path`` imports: ``.unit`` for the package's own units, else the top-level name.

    Imports inside a subpackage (``from .edge import x`` in ``server/``) stay inside its unit
    and are not listed."""
    inner = len(path.relative_to(PKG).parts) > 1
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y / from . import x
                if inner and node.level == 1:
                    continue  # a sibling inside the same subpackage
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


def test_dependency_direction() -> None:
    for path in sources():
        me = unit(path)
        mine = LAYERS[me]
        for name in imports(path):
            if name.startswith("."):
                other = name[1:]
                assert LAYERS[other] < mine, f"{me} (layer {mine}) imports {other}"
            elif name in ONLY:
                assert me in ONLY[name], f"only {ONLY[name]} may import {name}"
