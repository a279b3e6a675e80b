"""Hot replace: a new version of a loaded package takes over from a new library copy.

Graphs of other packages bound to the package's reactors stay bound when the new version
declares those reactors with the same contract (accumulators, criteria, strategy); a changed
or missing contract is refused while they are bound, and the old version keeps running. The
reactors' caches carry over.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CloacinaError, ContractChangedError, NotFoundError
from ..log import get_logger
from ..types import PackageDecl
from .loader import Plugin
from .records import LoadRecord, PackageState
from .registry import guard_message

if TYPE_CHECKING:
    from .runtime import Runtime

log = get_logger()

#: What a replace keeps of a reactor with foreign subscribers: its cache.
_Kept = dict[str, dict[str, bytes | None]]


def replace_package(rt: Runtime, path: str | Path, config: dict[str, Any] | None) -> PackageDecl:
    """Replace the loaded package of the same name with the library at ``path``."""
    plugin = rt.open(path, config)
    try:
        with rt.lock:
            old = rt.package_record(plugin.name)
            if old is None:
                raise NotFoundError(
                    f"package '{plugin.name}' is not loaded in tenant '{rt.tenant}'; "
                    "load it instead of replacing it",
                    tenant=rt.tenant,
                    package=plugin.name,
                )
            kept = _check_contracts(rt, old, plugin)
            rt.check_load(plugin, replacing=old.name)
            _swap(rt, old, plugin, kept)
    except CloacinaError as exc:
        plugin.close()
        log.warning("replace_failed", tenant=rt.tenant, package=plugin.name, error=str(exc))
        raise
    except BaseException:
        plugin.close()
        raise
    log.info(
        "package_replaced",
        tenant=rt.tenant,
        package=plugin.name,
        old_version=old.plugin.decl.version,
        version=plugin.decl.version,
        kept_bound=sorted(kept),
    )
    return plugin.decl


def _check_contracts(rt: Runtime, old: LoadRecord, new: Plugin) -> list[str]:
    """Reactors of ``old`` with foreign subscribers, which ``new`` must keep unchanged."""
    kept: list[str] = []
    new_reactors = {r.name: r for r in new.decl.reactors}
    for name in old.reactors:
        foreign = rt.registry.foreign_subscribers(name, old.name)
        if not foreign:
            continue
        before = rt.registry.reactor_decl(name)
        after = new_reactors.get(name)
        if after is None or before is None or after.contract() != before.contract():
            change = (
                "no longer declares it"
                if after is None
                else f"changes its contract from {before.to_dict() if before else None} "
                f"to {after.to_dict()}"
            )
            raise ContractChangedError(
                f"cannot replace package '{old.name}' with version {new.decl.version}: "
                f"the new version {change}, and " + guard_message(name, foreign),
                tenant=rt.tenant,
                package=old.name,
                reactor=name,
            )
        kept.append(name)
    return kept


def _swap(rt: Runtime, old: LoadRecord, new: Plugin, kept: list[str]) -> None:
    caches: _Kept = {name: dict(rt.reactor(name).cache) for name in kept}
    rt.teardown(old)
    try:
        rt.apply(LoadRecord(new))
    except BaseException:
        rt.apply(LoadRecord(old.plugin))  # put the old version back
        _reattach(rt, caches)
        raise
    _reattach(rt, caches)
    old.plugin.close()
    old.move(PackageState.UNLOADED)


def _reattach(rt: Runtime, caches: _Kept) -> None:
    """Give the kept reactors their caches back, and their foreign subscribers (which stayed
    in the registry) back to the new reactor objects."""
    for name, cache in caches.items():
        reactor = rt.reactor(name)
        reactor.cache.update(cache)
        for graph in rt.registry.bound(name):
            if graph.live.name not in reactor.subscribers:
                reactor.bind(graph.live)
