"""Plain, frozen values shared by every layer: enums and declarations.

A declaration is what a plugin says about itself, read once from its descriptor
and never mutated. Nothing here performs I/O or touches the FFI.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, TypeVar


class AccumulatorKind(enum.IntEnum):
    """How an accumulator turns events into boundaries (``CLOACINA_ACC_*``)."""

    PASSTHROUGH = 0
    BATCH = 1
    STATE = 2
    POLLING = 3
    STREAM = 4  # events come from a broker subject (config "subject", optional "durable")

    @property
    def label(self) -> str:
        return self.name.lower()


class Criteria(enum.IntEnum):
    """When a reactor fires (``CLOACINA_WHEN_*``)."""

    WHEN_ANY = 0
    WHEN_ALL = 1

    @property
    def label(self) -> str:
        return self.name.lower()


class InputStrategy(enum.IntEnum):
    """What a reactor does with a boundary (``CLOACINA_LATEST`` / ``CLOACINA_SEQUENTIAL``)."""

    LATEST = 0
    SEQUENTIAL = 1

    @property
    def label(self) -> str:
        return self.name.lower()


class Status(enum.IntEnum):
    """Status codes returned by plugin functions (``CLOACINA_STATUS_*``)."""

    OK = 0
    INVALID_INPUT = 1
    PLUGIN_ERROR = 2
    PANIC = 3
    UNSUPPORTED = 4
    INTERNAL = 5

    @classmethod
    def describe(cls, value: int) -> str:
        try:
            return cls(value).name.lower()
        except ValueError:
            return f"unknown status {value}"


@dataclass(frozen=True)
class ReactorDecl:
    """A reactor as declared by a plugin."""

    name: str
    accumulators: tuple[str, ...]
    criteria: Criteria = Criteria.WHEN_ANY
    criteria_accumulators: tuple[str, ...] = ()
    input_strategy: InputStrategy = InputStrategy.LATEST

    @property
    def criteria_set(self) -> tuple[str, ...]:
        """The accumulators the criteria look at (all of them when none are named)."""
        return self.criteria_accumulators or self.accumulators

    def contract(self) -> tuple[object, ...]:
        """What subscribers depend on; a hot replace may not change it while they are bound."""
        return (self.accumulators, self.criteria, self.criteria_set, self.input_strategy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accumulators": list(self.accumulators),
            "criteria": self.criteria.label,
            "criteria_accumulators": list(self.criteria_set),
            "input_strategy": self.input_strategy.label,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReactorDecl:
        """The inverse of :meth:`to_dict` (criteria accumulators come back as listed)."""
        return cls(
            name=str(d["name"]),
            accumulators=_strings(d["accumulators"]),
            criteria=_enum(Criteria, d["criteria"]),
            criteria_accumulators=_strings(d.get("criteria_accumulators", ())),
            input_strategy=_enum(InputStrategy, d["input_strategy"]),
        )


@dataclass(frozen=True)
class AccumulatorDecl:
    """An accumulator as declared by a plugin (or implied by a reactor's list)."""

    name: str
    kind: AccumulatorKind = AccumulatorKind.PASSTHROUGH
    config: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    has_function: bool = False

    @property
    def subject(self) -> str | None:
        """A stream accumulator's broker subject (None for the other kinds)."""
        return self._stream_setting("subject")

    @property
    def durable(self) -> str | None:
        """A stream accumulator's durable consumer name (None when it has none)."""
        return self._stream_setting("durable")

    def _stream_setting(self, key: str) -> str | None:
        value = self.config.get(key) if self.kind is AccumulatorKind.STREAM else None
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.label,
            "config": dict(self.config),
            "has_function": self.has_function,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AccumulatorDecl:
        """The inverse of :meth:`to_dict`."""
        config = d.get("config", {})
        if not isinstance(config, dict):
            raise ValueError(f"accumulator config must be an object, got {config!r}")
        return cls(
            name=str(d["name"]),
            kind=_enum(AccumulatorKind, d["kind"]),
            config=dict(config),
            has_function=bool(d["has_function"]),
        )


@dataclass(frozen=True)
class NodeDecl:
    """A node of a computation graph."""

    name: str
    inputs: tuple[str, ...] = ()
    next: tuple[str, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()
    has_function: bool = True

    @property
    def successors(self) -> tuple[str, ...]:
        return self.next + tuple(target for _, target in self.routes)

    @property
    def is_terminal(self) -> bool:
        return not self.next and not self.routes

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "inputs": list(self.inputs)}
        if self.next:
            d["next"] = list(self.next)
        if self.routes:
            d["routes"] = dict(self.routes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NodeDecl:
        """The inverse of :meth:`to_dict`; ``has_function`` (not in the dict) is True."""
        routes = d.get("routes", {})
        if not isinstance(routes, dict):
            raise ValueError(f"node routes must be an object, got {routes!r}")
        return cls(
            name=str(d["name"]),
            inputs=_strings(d.get("inputs", ())),
            next=_strings(d.get("next", ())),
            routes=tuple((str(k), str(v)) for k, v in routes.items()),
        )


@dataclass(frozen=True)
class GraphDecl:
    """A computation graph as declared by a plugin."""

    name: str
    trigger_reactor: str | None
    nodes: tuple[NodeDecl, ...]
    has_fused: bool = False

    @property
    def sources(self) -> tuple[str, ...]:
        """Every cache input any node reads, in first-seen order."""
        seen: dict[str, None] = {}
        for node in self.nodes:
            for name in node.inputs:
                seen.setdefault(name, None)
        return tuple(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trigger": self.trigger_reactor,
            "nodes": [n.to_dict() for n in self.nodes],
            "fused": self.has_fused,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GraphDecl:
        """The inverse of :meth:`to_dict`."""
        trigger = d.get("trigger")
        return cls(
            name=str(d["name"]),
            trigger_reactor=None if trigger is None else str(trigger),
            nodes=tuple(NodeDecl.from_dict(n) for n in d["nodes"]),
            has_fused=bool(d.get("fused", False)),
        )


@dataclass(frozen=True)
class PackageDecl:
    """Everything a library declares, read from its descriptor."""

    name: str
    version: str
    abi_version: int
    thread_safe: bool = False
    reactors: tuple[ReactorDecl, ...] = ()
    accumulators: tuple[AccumulatorDecl, ...] = ()
    graphs: tuple[GraphDecl, ...] = ()
    has_init: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "abi_version": self.abi_version,
            "thread_safe": self.thread_safe,
            "reactors": [r.to_dict() for r in self.reactors],
            "accumulators": [a.to_dict() for a in self.accumulators],
            "graphs": [g.to_dict() for g in self.graphs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PackageDecl:
        """The inverse of :meth:`to_dict`: ``from_dict(x.to_dict()).to_dict() == x.to_dict()``.

        Fields ``to_dict`` does not carry take their defaults: ``has_init`` is False and every
        node's ``has_function`` is True. Raises ``KeyError``, ``TypeError`` or ``ValueError``
        on a malformed dict.
        """
        abi_version = d["abi_version"]
        if type(abi_version) is not int:
            raise ValueError(f"abi_version must be an integer, got {abi_version!r}")
        return cls(
            name=str(d["name"]),
            version=str(d["version"]),
            abi_version=abi_version,
            thread_safe=bool(d.get("thread_safe", False)),
            reactors=tuple(ReactorDecl.from_dict(r) for r in d.get("reactors", ())),
            accumulators=tuple(AccumulatorDecl.from_dict(a) for a in d.get("accumulators", ())),
            graphs=tuple(GraphDecl.from_dict(g) for g in d.get("graphs", ())),
        )


_E = TypeVar("_E", AccumulatorKind, Criteria, InputStrategy)


def _enum(kind: type[_E], label: object) -> _E:
    """The member of ``kind`` whose ``label`` is ``label``."""
    if not isinstance(label, str):
        raise ValueError(f"{kind.__name__} must be a string label, got {label!r}")
    try:
        return kind[label.upper()]
    except KeyError:
        raise ValueError(f"unknown {kind.__name__} {label!r}") from None


def _strings(values: object) -> tuple[str, ...]:
    """A list of strings as a tuple; anything else is a ``ValueError``."""
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"expected a list of strings, got {values!r}")
    return tuple(values)
