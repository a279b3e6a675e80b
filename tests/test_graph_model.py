"""The pure graph model: topologies validated and ordered, no libraries involved."""

from __future__ import annotations

import pytest

from cloacina_host.core.graph import plan_graph
from cloacina_host.errors import TopologyError
from cloacina_host.types import GraphDecl, NodeDecl


def graph(*nodes: NodeDecl, trigger: str | None = "R") -> GraphDecl:
    return GraphDecl("g", trigger, nodes)


def test_order_and_upstream_follow_declaration_order() -> None:
    plan = plan_graph(
        graph(
            NodeDecl("join", inputs=("a",)),
            NodeDecl("right", next=("join",)),
            NodeDecl("split", inputs=("a",), next=("left", "right")),
            NodeDecl("left", next=("join",)),
        ),
        "p",
    )
    assert plan.entries == ("split",)
    assert plan.terminals == ("join",)
    assert plan.order.index("split") < plan.order.index("left") < plan.order.index("join")
    assert plan.upstream["join"] == ("right", "left")


@pytest.mark.parametrize(
    ("nodes", "text"),
    [
        ((), "has no nodes"),
        ((NodeDecl("a", next=("b",)), NodeDecl("b", next=("a",))), "cycle detected"),
        ((NodeDecl("a", next=("a",)),), "points to itself"),
        ((NodeDecl("a", next=("zzz",)),), "points to unknown node 'zzz'"),
        ((NodeDecl("a"), NodeDecl("a")), "declares node 'a' twice"),
        ((NodeDecl("a", has_function=False),), "node 'a' has no function"),
        ((NodeDecl("a", next=("b",), routes=(("X", "b"),)), NodeDecl("b")), "both next and routes"),
        (
            (NodeDecl("a", routes=(("X", "b"), ("X", "b"))), NodeDecl("b")),
            "route variant more than once",
        ),
        ((NodeDecl("a", inputs=("x", "x")),), "lists an input more than once"),
    ],
)
def test_invalid_topologies(nodes: tuple[NodeDecl, ...], text: str) -> None:
    with pytest.raises(TopologyError, match=text):
        plan_graph(graph(*nodes), "p")
