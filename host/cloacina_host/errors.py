"""The host's error hierarchy.

Every error prints as one sentence an operator can act on and carries the names
(tenant, package, reactor, graph, ...) needed to find the thing it is about.
"""

from __future__ import annotations


class CloacinaError(Exception):
    """Base class of every error the host raises on purpose."""

    #: A stable snake_case code (used by the HTTP error envelope and the CLI).
    code = "error"

    def __init__(self, message: str, **names: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.names = {k: v for k, v in names.items() if v is not None}

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
    """The bound-subscriber guard refused to tear down a reactor."""

    code = "bound_subscribers"


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
