"""The reconciler: the pure plan, and its application to real C plugins."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloacina_host import Runtime
from cloacina_host.control.reconciler import Desired, Loaded, Op, Reconciler, Step, plan
from cloacina_host.control.status import State
from cloacina_host.isolation.local import LocalTenant


def d(name: str, sha: str = "a", order: float = 0, version: str = "1") -> Desired:
    return Desired(name, version, sha, Path(f"/nonexistent/{name}.so"), order)


# ---------------------------------------------------------------------------- plan (pure)


def test_plan_loads_oldest_first() -> None:
    steps = plan([d("sub", order=2), d("pub", order=1)], {})
    assert steps == [
        Step(Op.LOAD, "pub", d("pub", order=1)),
        Step(Op.LOAD, "sub", d("sub", order=2)),
    ]


def test_plan_unloads_subscribers_before_providers() -> None:
    loaded = {
        "pub": Loaded("pub", "1", "a", provides=frozenset({"R"})),
        "sub": Loaded("sub", "1", "a", uses=frozenset({"R"})),
        "zzz": Loaded("zzz", "1", "a", uses=frozenset({"R"})),
    }
    assert [s.name for s in plan([], loaded)] == ["sub", "zzz", "pub"]


def test_plan_replaces_changed_content_and_skips_failed_versions() -> None:
    loaded = {"pub": Loaded("pub", "1", "a")}
    assert plan([d("pub", sha="a")], loaded) == []
    assert plan([d("pub", sha="b", version="2")], loaded) == [
        Step(Op.REPLACE, "pub", d("pub", sha="b", version="2"))
    ]
    assert plan([d("pub", sha="b")], loaded, failed={"pub": "b"}) == []
    assert plan([d("new", sha="x")], {}, failed={"new": "x"}) == []
    assert plan([d("new", sha="y")], {}, failed={"new": "x"})[0].op is Op.LOAD


def test_plan_newest_stored_version_wins() -> None:
    steps = plan(
        [d("p", sha="old", order=1, version="1"), d("p", sha="new", order=5, version="2")], {}
    )
    assert [(s.name, s.desired and s.desired.version) for s in steps] == [("p", "2")]


# ---------------------------------------------------------------------------- apply (real libs)


def desired(path: Path, order: float) -> Desired:
    from cloacina_host.core.loader import open_plugin

    plugin = open_plugin(path)
    try:
        name, version = plugin.name, plugin.decl.version
    finally:
        plugin.close()
    return Desired(name, version, hashlib.sha256(path.read_bytes()).hexdigest(), path, order)


@pytest.fixture(scope="module")
def pkgs(c_plugins: dict[str, Path]) -> dict[str, Desired]:
    return {
        "pub": desired(c_plugins["pricing-publisher"], 1),
        "sub": desired(c_plugins["pricing-subscriber"], 2),
        "pub2": desired(c_plugins["publisher_v2"], 3),
        "pub3": desired(c_plugins["publisher_v3_when_all"], 4),
        "aud": desired(c_plugins["test_auditor"], 5),
        # broken libraries cannot be opened to read their identity; a store knows it
        "broken": Desired(
            "broken-cycle",
            "0.0.1",
            hashlib.sha256(c_plugins["broken_cycle"].read_bytes()).hexdigest(),
            c_plugins["broken_cycle"],
            6,
        ),
    }


def test_subscriber_first_is_pending_then_retried(rt: Runtime, pkgs: dict[str, Desired]) -> None:
    rec = Reconciler(LocalTenant(rt))
    early_sub = Desired(**{**pkgs["sub"].__dict__, "order": 0})
    report = rec.reconcile([early_sub])
    assert report.pending == ["pricing-subscriber"]
    status = rec.status["pricing-subscriber"]
    assert status.state is State.PENDING
    assert status.reason == (
        "Error loading reactor-bound CG 'price_consumer': reactor 'PriceReactor' not loaded"
    )
    report = rec.reconcile([early_sub])  # retried on every pass, still pending
    assert report.pending == ["pricing-subscriber"]
    # the publisher arrives: one pass loads it, then retries the subscriber
    report = rec.reconcile([early_sub, pkgs["pub"]])
    assert report.loaded == ["pricing-publisher", "pricing-subscriber"]
    assert rec.status["pricing-subscriber"].state is State.LOADED
    assert rt.registry.subscribers("PriceReactor") == ["price_consumer"]


def test_guard_refusal_is_reported_and_retried(rt: Runtime, pkgs: dict[str, Desired]) -> None:
    rec = Reconciler(LocalTenant(rt))
    rec.reconcile([pkgs["pub"], pkgs["sub"]])
    report = rec.reconcile([pkgs["sub"]])  # publisher removed while the subscriber is bound
    assert report.refused == ["pricing-publisher"]
    status = rec.status["pricing-publisher"]
    assert status.state is State.LOADED
    assert status.reason == (
        "unload refused: reactor 'PriceReactor' has 1 bound subscriber(s): ['price_consumer']; "
        "unbind them first"
    )
    report = rec.reconcile([])  # both removed: subscriber first, then publisher
    assert report.unloaded == ["pricing-subscriber", "pricing-publisher"]
    assert rec.status == {} and rt.counts()["registry"] == 0


def test_failed_version_is_not_retried(rt: Runtime, pkgs: dict[str, Desired]) -> None:
    rec = Reconciler(LocalTenant(rt))
    report = rec.reconcile([pkgs["broken"]])
    assert report.failed == ["broken-cycle"]
    assert "cycle detected" in (rec.status["broken-cycle"].reason or "")
    assert rec.reconcile([pkgs["broken"]]).failed == []  # same content: skipped
    assert rec.status["broken-cycle"].state is State.FAILED


def test_hot_replace_through_the_reconciler(rt: Runtime, pkgs: dict[str, Desired]) -> None:
    rec = Reconciler(LocalTenant(rt))
    rec.reconcile([pkgs["pub"], pkgs["sub"]])
    report = rec.reconcile([pkgs["pub2"], pkgs["sub"]])
    assert report.replaced == ["pricing-publisher"]
    assert rec.status["pricing-publisher"].version == "0.2.0"
    report = rec.reconcile([pkgs["pub3"], pkgs["sub"]])  # contract change while bound
    assert report.refused == ["pricing-publisher"]
    assert rec.status["pricing-publisher"].version == "0.2.0"
    assert "replace with version 0.3.0 refused" in (rec.status["pricing-publisher"].reason or "")


# ---------------------------------------------------------------------------- convergence

NAMES = ["pub", "pub2", "pub3", "sub", "aud"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from(NAMES)), max_size=12))
def test_random_sequences_converge(pkgs: dict[str, Desired], ops: list[tuple[str, str]]) -> None:
    """Whatever operators do, every loaded graph's reactor is loaded, no reactor with bound
    subscribers is torn down, and once the publisher and subscribers are both present and no
    refusal is outstanding they are loaded and bound."""
    rt = Runtime("prop")
    rec = Reconciler(LocalTenant(rt))
    present: dict[str, Desired] = {}
    order = 0.0
    try:
        for op, key in ops:
            order += 1
            item = pkgs[key]
            if op == "add":
                present[item.name] = Desired(**{**item.__dict__, "order": order})
            else:
                present.pop(item.name, None)
            bound_before = {r.decl.name: list(r.subscribers) for r in rt.reactors()}
            rec.reconcile(present.values())
            reactors = {r.decl.name for r in rt.reactors()}
            for entry in rt.registry.graphs():
                reactor = entry.reactor
                assert reactor is None or reactor in reactors, f"{entry.decl.name} lost {reactor}"
            for reactor, subs in bound_before.items():
                still = [s for s in subs if rt.registry.graph(s) is not None]
                if still:
                    assert reactor in reactors, f"{reactor} torn down under {still}"
        # drain: a second pass settles retries
        rec.reconcile(present.values())
        loaded = {p.name for p in rt.packages()}
        if "pricing-publisher" in present:
            assert "pricing-publisher" in loaded
        if "pricing-publisher" in loaded:  # desired, or kept by a guard refusal
            for sub in ("pricing-subscriber", "pricing-auditor"):
                if sub in present:
                    assert sub in loaded and rec.status[sub].state is State.LOADED
        else:
            for sub in ("pricing-subscriber", "pricing-auditor"):
                if sub in present:
                    assert rec.status[sub].state is State.PENDING
        if not present:  # everything removed: everything unloaded, nothing left behind
            assert loaded == set() and rt.counts()["registry"] == 0
    finally:
        rt.close()
