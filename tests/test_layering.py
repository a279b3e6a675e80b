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


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y / from . import x
                if node.module:
                    found.add("." + node.module.split(".")[0])
                else:  # only names that are modules of the package
                    found.update(
                        "." + a.name for a in node.names if (PKG / f"{a.name}.py").exists()
                    )
            elif node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
    return found


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PKG.glob("*.py")}
    assert modules <= set(LAYERS), f"give these modules a layer: {modules - set(LAYERS)}"


def test_dependency_direction() -> None:
    for path in PKG.glob("*.py"):
        mine = LAYERS[path.stem]
        for name in imports(path):
            if name.startswith("."):
                other = name[1:]
                assert LAYERS[other] < mine, f"{path.stem} (layer {mine}) imports {other}"
            elif name in ONLY:
                assert path.stem in ONLY[name], f"only {ONLY[name]} may import {name}"
