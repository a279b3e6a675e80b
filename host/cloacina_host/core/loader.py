"""Opening a plugin library and validating everything it declares, before any of it runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeclarationError
from ..types import AccumulatorDecl, PackageDecl
from . import ffi
from .configs import config_problem
from .descriptor import read_descriptor
from .graph import GraphPlan, plan_graph


@dataclass
class Plugin:
    """A loaded library, its declarations and its validated graph plans."""

    path: Path
    decl: PackageDecl
    lib: ffi.NativeLibrary
    plans: dict[str, GraphPlan]

    @property
    def name(self) -> str:
        return self.decl.name

    def accumulator(self, name: str) -> AccumulatorDecl:
        """The declared accumulator, or the implied passthrough one."""
        for acc in self.decl.accumulators:
            if acc.name == name:
                return acc
        return AccumulatorDecl(name)

    def close(self) -> None:
        self.lib.close()


def validate(decl: PackageDecl) -> dict[str, GraphPlan]:
    """Check a package's declarations on their own (no tenant state); return graph plans."""

    def fail(problem: str) -> DeclarationError:
        return DeclarationError(f"package '{decl.name}': {problem}", package=decl.name)

    seen: dict[str, str] = {}

    def unique(kind: str, name: str) -> None:
        if name in seen:
            raise fail(f"{kind} '{name}' is declared twice (also as {seen[name]})")
        seen[name] = kind

    listed: dict[str, str] = {}
    for r in decl.reactors:
        unique("reactor", r.name)
        if not r.accumulators:
            raise fail(f"reactor '{r.name}' lists no accumulators")
        if len(set(r.accumulators)) != len(r.accumulators):
            raise fail(f"reactor '{r.name}' lists an accumulator more than once")
        unknown = [c for c in r.criteria_accumulators if c not in r.accumulators]
        if unknown:
            raise fail(
                f"reactor '{r.name}' criteria name accumulator(s) {unknown} it does not list"
            )
        for acc in r.accumulators:
            if acc in listed:
                raise fail(
                    f"accumulator '{acc}' is listed by reactors '{listed[acc]}' and '{r.name}'"
                )
            listed[acc] = r.name
    for a in decl.accumulators:
        unique("accumulator", a.name)
        if a.name not in listed:
            raise fail(f"accumulator '{a.name}' is declared but no reactor of the package lists it")
        problem = config_problem(a.kind, a.config)
        if problem is not None:
            raise fail(f"{a.kind.label} accumulator '{a.name}' {problem}")
    plans = {}
    for g in decl.graphs:
        unique("graph", g.name)
        plans[g.name] = plan_graph(g, decl.name)
    return plans


def open_plugin(
    path: Path, *, config: dict[str, Any] | None = None, scratch_dir: Path | None = None
) -> Plugin:
    """Open ``path`` (a unique copy), check its ABI, read and validate its declarations, and
    run its init hook. On any error the library is closed again and the error is raised."""
    path = Path(path)
    lib = ffi.NativeLibrary(path, scratch_dir=scratch_dir)
    initialized = False
    try:
        decl, functions = read_descriptor(lib.entry(), str(path))
        lib.package = decl.name
        lib.functions = functions
        lib.thread_safe = decl.thread_safe
        if functions.init is not None:
            lib.run_init(decl.name, config or {})
        initialized = True
        plans = validate(decl)
    except BaseException:
        if not initialized:
            lib.functions.shutdown = None  # init did not succeed: do not shut down
        lib.close()
        raise
    return Plugin(path, decl, lib, plans)
