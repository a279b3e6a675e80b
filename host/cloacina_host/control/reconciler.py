"""The reconciler: turns the set of stored packages into loaded state, and back.

:func:`plan` is pure — desired packages and what is loaded in, ordered steps out — so its
ordering, retry and skip rules are tested without any library. :class:`Reconciler` applies
a plan to one tenant's :class:`~cloacina_host.isolation.tenant.TenantRuntime` and keeps every
package's status (loaded / pending / failed, with the reason an operator needs).

Rules (docs/architecture.md):

- unloads first, subscribers before the packages whose reactors they use; then hot
  replaces; then loads, oldest first;
- a subscriber whose reactor is not loaded stays *pending* with the error text and is
  retried on every pass (and again within a pass once something else loaded);
- a refused unload (the guard) leaves the package loaded, says why, and is retried;
- a version that failed for any other reason is not retried until its content changes.
"""

from __future__ import annotations

import enum
import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import (
    CloacinaError,
    ContractChangedError,
    GuardError,
    NotFoundError,
    ReactorNotLoadedError,
    WorkerUnavailableError,
)
from ..isolation.tenant import LibraryRef, TenantRuntime
from ..log import get_logger
from ..types import PackageDecl
from .status import PackageStatus, State

log = get_logger()


@dataclass(frozen=True)
class Desired:
    """A package that should be loaded: its identity, content hash and library file."""

    name: str
    version: str
    sha256: str
    library: Path
    order: float  # when it was stored: older loads first

    def ref(self) -> LibraryRef:
        return LibraryRef(self.name, self.version, self.sha256, self.library)


@dataclass(frozen=True)
class Loaded:
    """A loaded package as the planner sees it."""

    name: str
    version: str
    sha256: str
    provides: frozenset[str] = frozenset()  # reactors it owns
    uses: frozenset[str] = frozenset()  # reactors of other packages its graphs bind to


class Op(enum.Enum):
    UNLOAD = "unload"
    REPLACE = "replace"
    LOAD = "load"


@dataclass(frozen=True)
class Step:
    op: Op
    name: str
    desired: Desired | None = None


def newest(desired: Iterable[Desired]) -> dict[str, Desired]:
    """One desired version per package name: the most recently stored wins."""
    out: dict[str, Desired] = {}
    for d in sorted(desired, key=lambda d: (d.order, d.version)):
        out[d.name] = d
    return out


def plan(
    desired: Iterable[Desired],
    loaded: Mapping[str, Loaded],
    failed: Mapping[str, str] | None = None,
) -> list[Step]:
    """The steps that move ``loaded`` towards ``desired``.

    ``failed`` maps a package name to the sha256 of a version that failed for a reason a
    retry will not fix; that exact version is skipped until its content changes.
    """
    failed = failed or {}
    want = newest(desired)
    leaving = {n: p for n, p in loaded.items() if n not in want}
    # subscribers leave before the packages providing their reactors
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name, pkg in leaving.items():
        sorter.add(name)
        for other, provider in leaving.items():
            if other != name and pkg.uses & provider.provides:
                sorter.add(other, name)  # other (the provider) after name (the user)
    unloads: list[str] = []
    sorter.prepare()
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        unloads.extend(ready)
        sorter.done(*ready)
    steps = [Step(Op.UNLOAD, n) for n in unloads]
    for name in sorted(loaded):
        d = want.get(name)
        if d is not None and d.sha256 != loaded[name].sha256 and failed.get(name) != d.sha256:
            steps.append(Step(Op.REPLACE, name, d))
    for d in sorted(want.values(), key=lambda d: (d.order, d.name)):
        if d.name not in loaded and failed.get(d.name) != d.sha256:
            steps.append(Step(Op.LOAD, d.name, d))
    return steps


@dataclass
class Report:
    """What one reconcile pass did."""

    loaded: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unloaded: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: what each unload did, by package ("reactor PriceReactor now has 0 subscribers")
    messages: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.loaded or self.replaced or self.unloaded)


class Reconciler:
    """Applies plans to one tenant's runtime and tracks package status."""

    def __init__(self, runtime: TenantRuntime) -> None:
        self.runtime = runtime
        self.status: dict[str, PackageStatus] = {}
        self._sha: dict[str, str] = {}
        self._failed: dict[str, str] = {}
        self._log = log.bind(tenant=runtime.tenant)

    def reset(self) -> None:
        """The runtime starts empty again (its worker was replaced): forget what was loaded,
        keep what failed."""
        self._sha.clear()

    def loaded(self, packages: list[PackageDecl] | None = None) -> dict[str, Loaded]:
        out = {}
        for decl in self.runtime.packages() if packages is None else packages:
            provides = frozenset(r.name for r in decl.reactors)
            uses = frozenset(
                g.trigger_reactor
                for g in decl.graphs
                if g.trigger_reactor and g.trigger_reactor not in provides
            )
            out[decl.name] = Loaded(
                decl.name, decl.version, self._sha.get(decl.name, ""), provides, uses
            )
        return out

    def reconcile(self, desired: Iterable[Desired]) -> Report:
        """One pass: plan, apply every step, retry pending loads while progress is made."""
        desired = list(desired)
        report = Report()
        steps = plan(desired, self.loaded(), self._failed)
        pending: list[Desired] = []
        for step in steps:
            if step.op is Op.UNLOAD:
                self._unload(step.name, report)
            elif step.op is Op.REPLACE:
                assert step.desired is not None
                self._replace(step.desired, report)
            else:
                assert step.desired is not None
                if not self._load(step.desired, report):
                    pending.append(step.desired)
        while pending and report.loaded:
            before = len(pending)
            pending = [d for d in pending if not self._load(d, report, retry=True)]
            if len(pending) == before:
                break
        report.pending = [d.name for d in pending]
        names = {d.name for d in desired} | set(self._sha)
        for name in list(self.status):
            if name not in names:
                del self.status[name]
        for name in list(self._failed):
            if name not in names:
                del self._failed[name]
        return report

    # ------------------------------------------------------------------ steps

    def _record_loaded(self, d: Desired, decl: PackageDecl) -> None:
        self._sha[d.name] = d.sha256
        self._failed.pop(d.name, None)
        self.status[d.name] = PackageStatus(
            d.name,
            decl.version,
            d.sha256,
            State.LOADED,
            None,
            tuple(r.name for r in decl.reactors),
            tuple(g.name for g in decl.graphs),
        )

    def _load(self, d: Desired, report: Report, *, retry: bool = False) -> bool:
        try:
            decl = self.runtime.load(d.ref())
        except WorkerUnavailableError:
            raise  # the runtime is gone: this pass ends, the next one tries again
        except ReactorNotLoadedError as exc:
            self.status[d.name] = PackageStatus(
                d.name, d.version, d.sha256, State.PENDING, str(exc)
            )
            if not retry:
                self._log.info("package_pending", package=d.name, reason=str(exc))
            return False
        except CloacinaError as exc:
            self._failed[d.name] = d.sha256
            self.status[d.name] = PackageStatus(d.name, d.version, d.sha256, State.FAILED, str(exc))
            report.failed.append(d.name)
            self._log.warning("package_failed", package=d.name, reason=str(exc))
            return True  # settled: not pending
        self._record_loaded(d, decl)
        report.loaded.append(d.name)
        return True

    def _replace(self, d: Desired, report: Report) -> None:
        current = self.status.get(d.name)
        try:
            decl = self.runtime.replace(d.ref())
        except WorkerUnavailableError:
            raise
        except ContractChangedError as exc:
            if current is not None:
                self.status[d.name] = current.because(
                    f"replace with version {d.version} refused: {exc}"
                )
            report.refused.append(d.name)
            return
        except CloacinaError as exc:
            self._failed[d.name] = d.sha256
            if current is not None:
                self.status[d.name] = current.because(f"version {d.version} failed to load: {exc}")
            report.failed.append(d.name)
            return
        self._record_loaded(d, decl)
        report.replaced.append(d.name)

    def _unload(self, name: str, report: Report) -> None:
        try:
            result = self.runtime.unload(name)
        except WorkerUnavailableError:
            raise
        except GuardError as exc:
            current = self.status.get(name)
            if current is not None:
                self.status[name] = current.because(f"unload refused: {exc}")
            report.refused.append(name)
            return
        except NotFoundError:
            pass  # already gone: unload is idempotent
        else:
            report.messages[name] = result.lines()
            self._log.info("package_removed", package=name, result=result.lines())
        self._sha.pop(name, None)
        self.status.pop(name, None)
        report.unloaded.append(name)
