"""What every route answers, as pydantic models: only for the OpenAPI document (the
handlers answer with orjson; ``tests/test_openapi.py`` checks real answers against these).

Models keep pydantic's default of ignoring unknown fields, so the document says what a
field is whenever it is there without forbidding an answer to carry more (a JetStream
replica adds ``owner``, ``epoch``… to some). Timestamps are RFC 3339 strings in UTC
(``2026-12-01T15:24:20.123456Z``, :func:`~.responses.rfc3339`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Timestamp = datetime  # RFC 3339, UTC, ``Z`` (format ``date-time`` in the document)


class ErrorOut(BaseModel):
    """The envelope of every non-2xx answer."""

    error: str = Field(description="one sentence saying what went wrong, naming the thing")
    code: str = Field(description="a snake_case code a client can branch on")
    details: dict[str, Any] | None = Field(
        default=None,
        description="more for a client to act on, where the error has it "
        "(e.g. `blocked_by` and `safe_order` of a delete refused by the guard)",
    )


class Paged(BaseModel):
    total: int = Field(description="how many there are before paging")
    limit: int
    offset: int


# ---------------------------------------------------------------------- probes and auth


class HealthOut(BaseModel):
    status: Literal["ok"]


class TenantTrouble(BaseModel):
    state: str
    reason: str | None


class ReadyOut(BaseModel):
    status: Literal["ready", "degraded"]
    tenants: dict[str, TenantTrouble] | None = Field(
        default=None, description="while degraded: each tenant whose worker is not serving"
    )


class WhoAmIOut(BaseModel):
    key_id: str
    tenant: str | None = Field(description="null for a platform admin key")
    role: Literal["read", "write", "admin"]
    is_admin: bool


class TicketOut(BaseModel):
    ticket: str
    expires_in_seconds: float


# ---------------------------------------------------------------------- tenants and keys


class TenantOut(BaseModel):
    name: str
    description: str
    created_at: Timestamp


class TenantList(Paged):
    items: list[TenantOut]


class TenantDeleted(BaseModel):
    status: Literal["deleted"]
    name: str


class TenantSettingsOut(BaseModel):
    name: str
    call_deadline_seconds: float | None
    require_signed: bool


class KeyCreated(BaseModel):
    id: str
    name: str
    key: str = Field(description="the plaintext key: shown only here")
    role: Literal["read", "write", "admin"]
    tenant: str | None
    created_at: Timestamp


class KeyOut(BaseModel):
    id: str
    name: str
    role: Literal["read", "write", "admin"]
    tenant: str | None
    prefix: str
    created_at: Timestamp
    revoked: bool


class KeyList(Paged):
    items: list[KeyOut]


class KeyRevoked(BaseModel):
    status: Literal["revoked"]
    id: str


class SignerOut(BaseModel):
    key_id: str = Field(description="the public key's fingerprint")
    name: str
    tenant: str
    public_key: str = Field(description="Ed25519 public key, PEM")
    created_at: Timestamp


class SignerList(Paged):
    items: list[SignerOut]
    require_signed: bool


class SignerRemoved(BaseModel):
    status: Literal["removed"]
    key_id: str


class WorkerOut(BaseModel):
    tenant: str
    state: Literal["stopped", "starting", "ready", "recovering", "backoff", "crashed"]
    pid: int | None
    restarts: int
    failures: int
    crashes: dict[str, int]
    deadline_kills: int
    quarantines: int
    in_flight: int
    call_deadline_seconds: float | None
    last_death: str | None
    sandbox: dict[str, Any] | None


# ---------------------------------------------------------------------- packages

PackageState = Literal["loaded", "pending", "failed", "superseded", "crashed", "hung", "unknown"]


class ReplicaStatusOut(BaseModel):
    replica: str
    status: PackageState
    reason: str | None


class UploadOut(BaseModel):
    id: str
    name: str
    version: str
    tenant: str
    signer: str | None = Field(description="the key id that signed it, or null")
    replica: str = Field(description="the replica that took the upload")
    status: PackageState
    reason: str | None
    summary: str | None
    replicas: list[ReplicaStatusOut]


class PackageOut(BaseModel):
    id: str
    tenant: str
    name: str
    version: str
    sha256: str
    description: str
    created_at: Timestamp
    signer: str | None
    status: PackageState
    reason: str | None
    reactors: list[str]
    graphs: list[str]
    summary: str
    replicas: list[ReplicaStatusOut]


class PackageList(Paged):
    items: list[PackageOut]


class PackageDetail(PackageOut):
    declarations: dict[str, Any] = Field(
        description="what the library declares: reactors, accumulators, graphs"
    )


class PackageStatusOut(BaseModel):
    name: str
    status: PackageState
    version: str | None = None
    sha256: str | None = None
    reason: str | None = None
    reactors: list[str] | None = None
    graphs: list[str] | None = None


class PackageDeleted(BaseModel):
    status: Literal["deleted"]
    id: str
    name: str
    version: str
    messages: list[str]


class TopologyPackage(BaseModel):
    name: str
    version: str
    status: str
    reason: str | None
    summary: str | None


class TopologyNode(BaseModel):
    id: str = Field(description="`package:<name>`, `reactor:<name>`, `accumulator:<p>/<a>`…")
    kind: Literal["package", "reactor", "accumulator", "graph"]
    label: str
    package: str | None


class TopologyEdge(BaseModel):
    source: str
    target: str
    kind: Literal["feeds", "triggers"]


class TopologyOut(BaseModel):
    tenant: str
    packages: list[TopologyPackage]
    nodes: list[TopologyNode]
    edges: list[TopologyEdge]
    safe_delete_order: list[str]


# ---------------------------------------------------------------------- replicas


class OwnedReactor(BaseModel):
    tenant: str
    reactor: str
    epoch: int
    since: Timestamp
    applied_sequence: int | None


class EventsStatus(BaseModel):
    kind: Literal["embedded", "jetstream"]
    connected: bool | None = None
    owned: list[OwnedReactor] | None = None


class ReplicaOut(BaseModel):
    id: str
    host: str
    pid: int
    started_at: Timestamp
    heartbeat_at: Timestamp
    alive: bool
    self: bool


class ReplicaList(Paged):
    self: str
    items: list[ReplicaOut]
    events: EventsStatus


# ---------------------------------------------------------------------- runtime views


class GraphRunOut(BaseModel):
    graph: str
    reactor: str | None
    fire: int
    started_at: Timestamp
    duration_seconds: float
    outputs: dict[str, Any] | None
    error: str | None
    node_seconds: dict[str, float] | None = None
    owner: str | None = Field(default=None, description="JetStream: the replica that ran it")
    epoch: int | None = Field(default=None, description="JetStream: its owner's epoch")
    replayed: bool | None = Field(
        default=None, description="JetStream: redone by a new owner from applied events"
    )


class ReactorOut(BaseModel):
    name: str
    package: str | None
    accumulators: list[str]
    criteria: str
    criteria_accumulators: list[str]
    input_strategy: str
    state: str
    subscribers: list[str]
    fires: int
    last_fire_at: Timestamp | None
    owner: str | None = Field(
        default=None, description="JetStream: the owning replica (null during a takeover)"
    )
    epoch: int | None = Field(default=None, description="JetStream: bumped by every new owner")
    applied_sequence: int | None = Field(
        default=None, description="JetStream: the last event applied"
    )


class ReactorList(Paged):
    items: list[ReactorOut]


class ReactorDetail(ReactorOut):
    cache: dict[str, Any] | None = Field(
        default=None, description="the last boundary per accumulator"
    )


class FireOut(BaseModel):
    reactor: str
    runs: list[GraphRunOut]


class CommandOut(BaseModel):
    type: Literal["paused", "resumed"]
    reactor: str
    fires: int | None = Field(default=None, description="resume: how many times it fired")


class GraphOut(BaseModel):
    name: str
    package: str | None
    reactor: str | None
    nodes: list[str]
    runs_ok: int
    runs_failed: int
    last_run: GraphRunOut | None


class GraphList(Paged):
    items: list[GraphOut]


class GraphDetail(GraphOut):
    topology: dict[str, Any]
    outputs: list[GraphRunOut] = Field(description="the last runs, oldest first")


class AccumulatorOut(BaseModel):
    name: str
    reactor: str
    package: str | None
    kind: Literal["passthrough", "batch", "state", "polling", "stream"]
    events_total: int
    errors_total: int
    last_event_at: Timestamp | None
    last_error: str | None
    subject: str | None = Field(default=None, description="stream accumulators only")
    durable: str | None = Field(default=None, description="stream accumulators only")


class AccumulatorList(Paged):
    items: list[AccumulatorOut]


class PushOut(BaseModel):
    accumulator: str
    fires: int | None = Field(description="null with JetStream: the owner fires it")
    reactor: str | None = None
    sequence: int | None = None
    duplicate: bool | None = None
