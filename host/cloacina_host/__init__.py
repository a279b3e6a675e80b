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
from .packaging.sdk import include_dir

__version__ = "0.1.0"


def get_include() -> str:
    """The directory of the C SDK headers (``cloacina_plugin.h``, ``cloacina_sdk.h``) in this
    installed package, for a compiler's ``-I`` (as ``cloacinactl sdk include`` prints it)."""
    return str(include_dir())


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
    "get_include",
]
