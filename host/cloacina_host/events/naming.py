"""Where things live on the broker: subjects, stream and bucket names, keys, consumer names.

Tenant, reactor, accumulator and graph names are any non-empty UTF-8 (tenant names are
``[A-Za-z0-9_-]``); a subject token or a key may not hold ``.``, ``*``, ``>`` or spaces, so
a name that is not plain ``[A-Za-z0-9_-]`` is written as ``=`` and its UTF-8 in hex
(``=`` never appears in a plain name, so no two names meet). Pure.
"""

from __future__ import annotations

import hashlib
import re

EVENTS_STREAM = "CLOACINA_EVENTS"
RUNS_STREAM = "CLOACINA_RUNS"
STREAMS_STREAM = "CLOACINA_STREAMS"  # what stream accumulators read (publishers write it)
OWNERS_BUCKET = "cloacina_owners"
STATE_BUCKET = "cloacina_state"

EVENTS_ROOT = "cloacina.ev"
RUNS_ROOT = "cloacina.runs"
STREAM_ROOT = "cloacina.stream"
COMMANDS_ROOT = "cloacina.cmd"

_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def token(name: str) -> str:
    """``name`` as one subject token or key part."""
    if _PLAIN.fullmatch(name):
        return name
    return "=" + name.encode("utf-8").hex()


def untoken(part: str) -> str:
    """The name :func:`token` wrote."""
    return bytes.fromhex(part[1:]).decode("utf-8") if part.startswith("=") else part


def event_subject(tenant: str, reactor: str, accumulator: str) -> str:
    return f"{EVENTS_ROOT}.{token(tenant)}.{token(reactor)}.{token(accumulator)}"


def reactor_events(tenant: str, reactor: str) -> str:
    """The filter of every accumulator's events of one reactor."""
    return f"{EVENTS_ROOT}.{token(tenant)}.{token(reactor)}.*"


def accumulator_of(subject: str) -> str:
    return untoken(subject.rsplit(".", 1)[1])


def runs_subject(tenant: str, graph: str) -> str:
    return f"{RUNS_ROOT}.{token(tenant)}.{token(graph)}"


def stream_subject(tenant: str, subject: str) -> str:
    """The broker subject a stream accumulator declared as ``subject`` reads: inside the
    tenant's own space, so one tenant's plugin cannot read another's stream."""
    return f"{STREAM_ROOT}.{token(tenant)}.{subject}"


def command_subject(tenant: str, reactor: str) -> str:
    return f"{COMMANDS_ROOT}.{token(tenant)}.{token(reactor)}"


def reactor_key(tenant: str, reactor: str) -> str:
    """The reactor's key in the owners and state buckets."""
    return f"{token(tenant)}.{token(reactor)}"


def consumer_name(kind: str, *parts: str) -> str:
    """A durable consumer's name: readable prefix, and a digest of the full identity (names
    may be long or hold characters a consumer name may not)."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:24]
    plain = "_".join(p for p in (token(x) for x in parts[:2]) if not p.startswith("="))
    return f"{kind}_{plain[:40]}_{digest}" if plain else f"{kind}_{digest}"
