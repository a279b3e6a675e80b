"""Opening a plugin library and validating everything it declares, before any of it runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import DeclarationError
from ..types import AccumulatorDecl, AccumulatorKind, PackageDecl
from . import ffi
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
        if a.kind is AccumulatorKind.STREAM:
            problem = stream_config_problem(a.config)
            if problem is not None:
                raise fail(f"stream accumulator '{a.name}' {problem}")
    plans = {}
    for g in decl.graphs:
        unique("graph", g.name)
        plans[g.name] = plan_graph(g, decl.name)
    return plans


#: The longest broker subject a stream accumulator may name.
MAX_SUBJECT = 200
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_DURABLE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STREAM_KEYS = ("subject", "durable")
_SUBJECT_RULE = (
    f"a subject is 1-{MAX_SUBJECT} characters: tokens of letters, digits, '_' and '-' "
    "separated by single dots (no wildcards '*' or '>', no spaces)"
)
_DURABLE_RULE = "a durable name is 1-64 letters, digits, '_' or '-'"


def stream_config_problem(config: dict[str, Any]) -> str | None:
    """What is wrong with a stream accumulator's config, completing "stream accumulator 'a'
    ...", or None: ``subject`` is required, ``durable`` optional, nothing else allowed."""
    unknown = sorted(k for k in config if k not in _STREAM_KEYS)
    if unknown:
        keys = ", ".join(f"'{k}'" for k in unknown)
        return (
            f"has unknown config key(s) {keys}; a stream accumulator takes only "
            "'subject' and, optionally, 'durable'"
        )
    if "subject" not in config:
        return (
            "has no 'subject' in its config_json; name the broker subject its events come "
            'from, e.g. {"subject": "prices.btc"}'
        )
    subject = config["subject"]
    if not isinstance(subject, str):
        return f"has a 'subject' that is not a string ({_json(subject)}); {_SUBJECT_RULE}"
    if not subject:
        return f"has an empty 'subject'; {_SUBJECT_RULE}"
    if len(subject) > MAX_SUBJECT:
        return f"has a 'subject' of {len(subject)} characters; the limit is {MAX_SUBJECT}"
    for token in subject.split("."):
        if not token:
            return (
                f"has a 'subject' with an empty token ({subject!r}); a subject may not start "
                "or end with a dot or have two dots in a row"
            )
        if not _TOKEN.fullmatch(token):
            return f"has a 'subject' with an invalid token {token!r} ({subject!r}); {_SUBJECT_RULE}"
    if "durable" in config:
        durable = config["durable"]
        if not isinstance(durable, str):
            return f"has a 'durable' that is not a string ({_json(durable)}); {_DURABLE_RULE}"
        if not _DURABLE.fullmatch(durable):
            return f"has an invalid 'durable' {durable!r}; {_DURABLE_RULE}"
    return None


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


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
