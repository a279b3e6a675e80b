"""Who may do what: API errors with their envelope code, principals, bearer keys and the
bootstrap key. Framework-free (the error envelope maps :class:`ApiError` to HTTP)."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from ..control.plane import ControlPlane
from ..control.store import (
    ROLES,
    ConflictError,
    KeyRecord,
    Store,
    StoreUnavailableError,
    new_key,
)
from ..control.tickets import TooManyTicketsError
from ..errors import CloacinaError, GuardError, NotFoundError, StateError, WorkerUnavailableError
from ..events.broker import EventsUnavailableError
from ..log import get_logger

log = get_logger()

RANK = {role: i for i, role in enumerate(ROLES)}


class ApiError(Exception):
    """An HTTP error with the envelope's code and sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def status_of(exc: CloacinaError) -> int:
    """The HTTP status of a host error."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, WorkerUnavailableError | EventsUnavailableError):
        return 503
    if isinstance(exc, GuardError | ConflictError | StateError):
        return 409
    if exc.code == "duplicate_name":
        return 409
    if isinstance(exc, StoreUnavailableError):
        return 503
    if isinstance(exc, TooManyTicketsError):
        return 429
    return 400  # package, declaration, ABI, load, input and plugin errors


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, tenant (None for a platform key) and role."""

    key_id: str
    tenant: str | None
    role: str
    is_admin: bool

    @classmethod
    def of(cls, record: KeyRecord) -> Principal:
        return cls(record.id, record.tenant, record.role, record.is_admin)

    @property
    def platform(self) -> bool:
        return self.is_admin and self.tenant is None


def bearer_token(header: str | None) -> str:
    """The key of an ``Authorization: Bearer <key>`` header, or :class:`ApiError` 401."""
    if header is None:
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer clk_…'")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise ApiError(
            401, "unauthorized", "malformed Authorization header: expected 'Bearer <key>'"
        )
    return token


METRICS_AUTH = ("auto", "always")


def is_loopback(host: str) -> bool:
    """Whether a bind host is a loopback address (127.0.0.0/8, ::1, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a host name other than localhost, or "" (every address)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def authorize_metrics(
    store: Store, header: str | None, *, bind_host: str, token: str | None, auth: str
) -> None:
    """Who may scrape metrics served on ``bind_host``: anyone on a loopback address under
    ``auth="auto"``, else a platform admin key or ``token`` (:class:`ApiError` 401/403)."""
    if auth == "auto" and is_loopback(bind_host):
        return
    if header is None:
        why = (
            "--metrics-auth is 'always'"
            if auth != "auto"
            else f"the server listens on '{bind_host}', which is not a loopback address"
        )
        raise ApiError(
            401,
            "unauthorized",
            "metrics need 'Authorization: Bearer <token>' with a platform admin key or the "
            f"metrics token (--metrics-token, CLOACINA_METRICS_TOKEN) because {why}",
        )
    given = bearer_token(header)
    if token and hmac.compare_digest(given.encode(), token.encode()):
        return
    record = store.lookup_key(given)
    if record is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key, and not the metrics token")
    if not (record.is_admin and record.tenant is None):
        raise ApiError(403, "forbidden", "metrics need a platform admin key or the metrics token")


def ensure_bootstrap_key(app: ControlPlane, key: str | None) -> Path | None:
    """On a store without keys, create the platform admin key (``key`` or a generated one)
    and write it to ``<data>/bootstrap-key`` (mode 0600). Returns the file, or None."""
    store = app.store
    if store.count_keys() > 0:
        return None
    plaintext = key or new_key()
    if not store.create_first_key(plaintext):  # another replica made it first
        return None
    path = app.data_dir / "bootstrap-key"
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(plaintext + "\n")
    os.chmod(path, 0o600)
    log.info(
        "bootstrap_key_created",
        path=str(path),
        source="CLOACINA_BOOTSTRAP_KEY" if key else "generated",
    )
    return path
