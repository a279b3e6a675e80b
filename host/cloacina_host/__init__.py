"""cloacina-host: load compiled C and Rust cloacina plugins through a fixed C ABI,
bind computation graphs to reactors by name, and run them."""

from __future__ import annotations

from .core.executor import GraphRun
from .core.host import Host
from .core.records import UnloadReport
from .core.runtime import Runtime
from .errors import (
    AbiError,
    BindingError,
    CloacinaError,
    DeclarationError,
    DuplicateNameError,
    GuardError,
    InvalidInputError,
    LoadError,
    NotFoundError,
    PluginCallError,
    ReactorNotLoadedError,
    TopologyError,
)

__version__ = "0.1.0"

__all__ = [
    "AbiError",
    "BindingError",
    "CloacinaError",
    "DeclarationError",
    "DuplicateNameError",
    "GraphRun",
    "GuardError",
    "Host",
    "InvalidInputError",
    "LoadError",
    "NotFoundError",
    "PluginCallError",
    "ReactorNotLoadedError",
    "Runtime",
    "TopologyError",
    "UnloadReport",
    "__version__",
]
