"""The host's error hierarchy.

Every error prints as one sentence an operator can act on and carries the names
(tenant, package, reactor, graph, ...) needed to find the thing it is about.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def suggestion(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` naming the nearest of ``choices`` to a misspelt ``word``, or
    ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class CloacinaError(Exception):
    """Base class of every error the host raises on purpose."""

    #: A stable snake_case code (used by the HTTP error envelope and the CLI).
    code = "error"

    def __init__(self, message: str, **names: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.names = {k: v for k, v in names.items() if v is not None}
        #: What a client needs beyond the sentence (the HTTP envelope's ``details``).
        self.details: dict[str, Any] = {}

    def __str__(self) -> str:
        return self.message


class AbiError(CloacinaError):
    """A library does not speak this host's ABI (bad magic, version, size, symbol)."""

    code = "abi_mismatch"


class LoadError(CloacinaError):
    """A library or package could not be loaded."""

    code = "load_failed"


class DeclarationError(LoadError):
    """A plugin's declarations are malformed (NULL names, unknown kinds, ...)."""

    code = "invalid_declaration"


class TopologyError(DeclarationError):
    """A computation graph's topology is invalid (cycle, unknown node, ...)."""

    code = "invalid_topology"


class DuplicateNameError(LoadError):
    """A name is already registered in the tenant by another owner."""

    code = "duplicate_name"


class BindingError(LoadError):
    """A reactor-bound graph could not be bound to its reactor."""

    code = "binding_failed"


class ReactorNotLoadedError(BindingError):
    """The reactor a graph names is not loaded in the tenant (yet)."""

    code = "reactor_not_loaded"


class GuardError(CloacinaError):
    """The bound-subscriber guard refused to tear down a reactor.

    ``details``, when the refusal was decided on the stored manifests: ``blocked_by`` (the
    subscriber graphs, each ``{reactor, package, graph}``) and ``safe_order`` (the deletes,
    subscribers first, that let the package go)."""

    code = "bound_subscribers"

    def __init__(
        self, message: str, *, details: dict[str, Any] | None = None, **names: str | None
    ) -> None:
        super().__init__(message, **names)
        self.details = dict(details or {})


class ContractChangedError(GuardError):
    """A hot replace would change a reactor's contract while subscribers are bound."""

    code = "contract_changed"


class NotFoundError(CloacinaError):
    """A named thing (package, reactor, graph, accumulator, tenant) does not exist."""

    code = "not_found"


class InvalidInputError(CloacinaError):
    """Input from a user (an event, a command) is not acceptable."""

    code = "invalid_input"


class PluginCallError(CloacinaError):
    """A call into a plugin returned a non-OK status (or bad output)."""

    code = "plugin_error"

    def __init__(self, message: str, status: int, **names: str | None) -> None:
        super().__init__(message, **names)
        self.status = status


class PackageError(CloacinaError):
    """A package archive or project directory is malformed or unsafe."""

    code = "invalid_package"


class StateError(CloacinaError):
    """An illegal lifecycle transition was attempted."""

    code = "invalid_state"


class BuildError(PackageError):
    """Building a project directory (cargo or CMake) failed or its library cannot be found."""

    code = "build_failed"


class WorkerUnavailableError(CloacinaError):
    """A tenant's worker process is down, restarting, crashed or busy; nothing was done."""

    code = "worker_unavailable"


def to_wire(exc: CloacinaError) -> dict[str, Any]:
    """An error as plain values, to cross a process boundary (the probe, a tenant worker)."""
    return {
        "class": type(exc).__name__,
        "code": exc.code,
        "message": exc.message,
        "names": exc.names,
        "status": getattr(exc, "status", None),
    }


def from_wire(error: dict[str, Any], default: str) -> CloacinaError:
    """The error :func:`to_wire` described, as the same class with the same message and names
    (:class:`LoadError` when the class is unknown here); ``default`` is the message when the
    description has none."""
    message = str(error.get("message") or default)
    raw_names = error.get("names")
    names = (
        {str(k): str(v) for k, v in raw_names.items() if v is not None}
        if isinstance(raw_names, dict)
        else {}
    )
    cls = _error_class(error.get("class"))
    try:
        if issubclass(cls, PluginCallError):
            status = error.get("status")
            return cls(message, status if isinstance(status, int) else 0, **names)
        return cls(message, **names)
    except TypeError:  # a subclass with its own constructor: keep the message
        return LoadError(message, **names)


def _error_class(name: object) -> type[CloacinaError]:
    """The :class:`CloacinaError` subclass called ``name`` (``LoadError`` if there is none)."""
    pending: list[type[CloacinaError]] = [CloacinaError]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return cls
        pending.extend(cls.__subclasses__())
    return LoadError


class SignatureError(CloacinaError):
    """A package signature is malformed or does not verify (wrong key, changed archive)."""

    code = "bad_signature"


class UntrustedSignerError(SignatureError):
    """A package is signed by a key the tenant does not trust (unknown or removed)."""

    code = "untrusted_signer"


class SignatureRequiredError(SignatureError):
    """The tenant accepts only signed packages and the upload carries no signature."""

    code = "signature_required"
