"""The only module that touches cffi.

It reads its ``cdef`` from the shipped ABI header (one source of truth), opens
unique copies of plugin libraries, checks the descriptor's size, magic and ABI
version before anything else, turns the descriptor into frozen declarations,
and makes calls: plugin-owned buffers are released exactly once, in
:func:`_take_output`, and statuses become exceptions in :func:`_check`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from cffi import FFI

from .errors import AbiError, DeclarationError, LoadError, PluginCallError
from .types import (
    AccumulatorDecl,
    AccumulatorKind,
    Criteria,
    GraphDecl,
    InputStrategy,
    NodeDecl,
    PackageDecl,
    ReactorDecl,
    Status,
)

_CDEF_BEGIN = "/* CLOACINA_CDEF_BEGIN */"
_CDEF_END = "/* CLOACINA_CDEF_END */"
MAGIC = b"CLOACINA"
ENTRY_SYMBOL = "cloacina_plugin_entry"
#: Upper bound on any declared array, so a corrupt count cannot make us read the address space.
MAX_ENTRIES = 4096
#: Default cap on one plugin output; larger outputs are refused (and still released).
DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024


def header_path() -> Path:
    """The ABI header: inside the installed package, else the source tree's ``abi/``."""
    shipped = resources.files("cloacina_host").joinpath("include", "cloacina_plugin.h")
    if shipped.is_file():
        return Path(str(shipped))
    source = Path(__file__).resolve().parents[2] / "abi" / "cloacina_plugin.h"
    if source.is_file():
        return source
    raise LoadError(
        f"ABI header not found (looked in {shipped} and {source}); reinstall cloacina-host"
    )


def cdef_source(text: str) -> str:
    """The marked block of the header that cffi parses."""
    try:
        start = text.index(_CDEF_BEGIN) + len(_CDEF_BEGIN)
        end = text.index(_CDEF_END, start)
    except ValueError as exc:
        raise LoadError("ABI header has no CLOACINA_CDEF_BEGIN/END block") from exc
    return text[start:end]


def _header_constants(source: str) -> dict[str, int]:
    return {
        m[1]: int(m[2], 0) for m in re.finditer(r"#define\s+(\w+)\s+(\d+|0x[0-9a-fA-F]+)", source)
    }


_HEADER_TEXT = header_path().read_text(encoding="utf-8")
_CDEF = cdef_source(_HEADER_TEXT)
CONSTANTS = _header_constants(_CDEF)
ABI_VERSION = CONSTANTS["CLOACINA_ABI_VERSION"]
FLAG_THREAD_SAFE = CONSTANTS["CLOACINA_FLAG_THREAD_SAFE"]

ffi = FFI()
ffi.cdef(_CDEF)
_NULL = ffi.NULL
_PREFIX_SIZE = ffi.offsetof("cloacina_plugin_descriptor", "abi_version") + 4


def layout() -> dict[str, dict[str, int]]:
    """Sizes and field offsets of every ABI struct as cffi sees them (for layout tests)."""
    out: dict[str, dict[str, int]] = {}
    for name in (
        "cloacina_slice",
        "cloacina_buffer",
        "cloacina_route",
        "cloacina_reactor_entry",
        "cloacina_accumulator_entry",
        "cloacina_node_entry",
        "cloacina_graph_entry",
        "cloacina_plugin_descriptor",
    ):
        ctype = ffi.typeof(name)
        fields = {f: ffi.offsetof(name, f) for f, _ in ctype.fields}
        out[name] = {"__size__": ffi.sizeof(name), **fields}
    return out


# --------------------------------------------------------------------------- calls


@dataclass(frozen=True)
class CallSite:
    """Who is being called, for error messages."""

    package: str
    what: str  # e.g. "node 'score' of graph 'price_consumer'"


def _take_output(out: Any, max_output: int) -> tuple[bytes, int]:
    """Copy a plugin buffer and release it through its own callback, exactly once.

    Returns the bytes (empty when the plugin wrote nothing) and the length the
    plugin claimed; bytes are not copied when the claim exceeds ``max_output``.
    The buffer is zeroed afterwards, ready for the next call.
    """
    length = out.len
    data = out.data
    copied = _buffer(data, length)[:] if data != _NULL and 0 < length <= max_output else b""
    release = out.release
    if release != _NULL:
        release(out)
    out[0] = _ZERO_BUFFER[0]
    return copied, int(length)


def _check(status: int, data: bytes, length: int, site: CallSite, max_output: int) -> bytes:
    """Turn a status + buffer into bytes or one PluginCallError (the only place that does)."""
    if status != Status.OK:
        text = data.decode("utf-8", "replace") if data else "(no message)"
        raise PluginCallError(
            f"{site.what} in package '{site.package}' failed ({Status.describe(status)}): {text}",
            status,
            package=site.package,
        )
    if length > max_output:
        raise PluginCallError(
            f"{site.what} in package '{site.package}' returned {length} bytes, "
            f"over the {max_output}-byte output limit",
            Status.INTERNAL,
            package=site.package,
        )
    return data


class _Scratch(threading.local):
    """Call scratch allocated once per thread: the output buffer and a slice array."""

    def __init__(self) -> None:
        self.out = ffi.new("cloacina_buffer *")
        self.cap = 8
        self.slices = ffi.new("cloacina_slice[]", self.cap)


_scratch = _Scratch()
_buffer = ffi.buffer
_ZERO_BUFFER = ffi.new("cloacina_buffer *")
_U8 = ffi.typeof("uint8_t[]")
_from_buffer = ffi._backend.from_buffer  # ffi.from_buffer minus its per-call type lookup


def as_slice_data(data: bytes) -> Any:
    """A cdata view of ``data`` that can sit in a cloacina_slice (no copy)."""
    return _from_buffer(_U8, data, False)


def call(
    fn: Any,
    ctx: Any,
    inputs: Sequence[bytes],
    site: CallSite,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> bytes:
    """Call a ``cloacina_call_fn`` with JSON inputs and return its JSON output bytes."""
    scratch = _scratch
    n = len(inputs)
    if n > scratch.cap:
        scratch.cap = max(n, scratch.cap * 2)
        scratch.slices = ffi.new("cloacina_slice[]", scratch.cap)
    slices = scratch.slices
    keep = [_from_buffer(_U8, data, False) for data in inputs]  # alive until the call returns
    for i in range(n):
        slices[i] = (keep[i], len(inputs[i]))
    out = scratch.out
    status = fn(ctx, slices, n, out)
    data, length = _take_output(out, max_output)
    if status == 0 and length <= max_output:
        return data
    return _check(status, data, length, site, max_output)


# --------------------------------------------------------------------------- libraries


@dataclass
class Functions:
    """Function pointers of one loaded library, looked up once."""

    accumulators: dict[str, Any] = field(default_factory=dict)
    nodes: dict[tuple[str, str], Any] = field(default_factory=dict)
    fused: dict[str, Any] = field(default_factory=dict)
    init: Any = None
    shutdown: Any = None


class NativeLibrary:
    """One ``dlopen`` of a unique copy of a plugin library.

    glibc hands back the already-loaded object for a path or inode it has seen,
    so each load copies the file to a fresh path first; the copy is unlinked
    right after ``dlopen`` (the mapping stays valid). ``close`` waits for calls
    in flight (:meth:`enter`/:meth:`exit`), runs the plugin's shutdown hook, then ``dlclose``\\ s.
    """

    def __init__(self, path: Path, *, scratch_dir: Path | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise LoadError(f"library '{self.path}' does not exist or is not a file")
        fd, copy = tempfile.mkstemp(
            prefix=f".{self.path.stem}-", suffix=self.path.suffix or ".so", dir=scratch_dir
        )
        os.close(fd)
        try:
            shutil.copyfile(self.path, copy)
            try:
                self._lib: Any = ffi.dlopen(copy)
            except OSError as exc:
                raise LoadError(f"cannot open library '{self.path}': {exc}") from exc
        finally:
            os.unlink(copy)
        self._mutex = threading.Lock()
        self._idle = threading.Event()
        self._leases = 0
        self._closed = False
        self.ctx: Any = _NULL
        self.functions = Functions()
        #: Serializes calls into libraries that are not thread-safe (set after reading flags).
        self.serialize = True
        self.call_lock = threading.Lock()

    def entry(self) -> Any:
        try:
            entry = getattr(self._lib, ENTRY_SYMBOL)
        except AttributeError as exc:
            raise AbiError(
                f"library '{self.path}' does not export '{ENTRY_SYMBOL}'; build it with the "
                "cloacina SDK (or abi/cloacina_plugin.h) so it exports the entry symbol"
            ) from exc
        return entry()

    def enter(self) -> None:
        """Start a call: keeps the library mapped (and serializes it unless thread-safe)."""
        with self._mutex:
            if self._closed:
                raise LoadError(f"library '{self.path}' is unloaded")
            self._leases += 1
        if self.serialize:
            self.call_lock.acquire()

    def exit(self) -> None:
        """End a call started with :meth:`enter`."""
        if self.serialize:
            self.call_lock.release()
        with self._mutex:
            self._leases -= 1
            if self._closed and not self._leases:
                self._idle.set()

    def close(self) -> None:
        """Wait for calls in flight, run shutdown, unmap. Idempotent."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            busy = self._leases > 0
        if busy:
            self._idle.wait()
        try:
            if self.functions.shutdown is not None:
                self.functions.shutdown(self.ctx)
        finally:
            self.functions = Functions()
            ffi.dlclose(self._lib)
            self._lib = None

    @property
    def closed(self) -> bool:
        return self._closed


def open_plugin(
    path: Path, *, config: dict[str, Any] | None = None, scratch_dir: Path | None = None
) -> tuple[NativeLibrary, PackageDecl]:
    """Open a library, check its ABI, read its declarations and run its init hook.

    On any error the library is closed again and the error is raised.
    """
    lib = NativeLibrary(path, scratch_dir=scratch_dir)
    try:
        desc = lib.entry()
        decl, functions = read_descriptor(desc, str(path))
        lib.functions = functions
        lib.serialize = not decl.thread_safe
        if functions.init is not None:
            _run_init(lib, decl, config or {})
        return lib, decl
    except BaseException:
        lib.functions.shutdown = None  # init did not succeed: do not shut down
        lib.close()
        raise


def _run_init(lib: NativeLibrary, decl: PackageDecl, config: dict[str, Any]) -> None:
    blob = orjson.dumps(config)
    ctx_out = ffi.new("void **")
    err = ffi.new("cloacina_buffer *")
    status = lib.functions.init(ffi.from_buffer("uint8_t[]", blob), len(blob), ctx_out, err)
    data, length = _take_output(err, DEFAULT_MAX_OUTPUT)
    _check(status, data, length, CallSite(decl.name, "init hook"), DEFAULT_MAX_OUTPUT)
    lib.ctx = ctx_out[0]


# --------------------------------------------------------------------------- descriptor


class _Reader:
    """Reads typed values out of a descriptor, naming the place of any defect."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.package = "?"

    def fail(self, where: str, problem: str) -> DeclarationError:
        return DeclarationError(
            f"library '{self.source}' (package '{self.package}'): {where} {problem}",
            package=self.package,
        )

    def string(self, ptr: Any, where: str, *, optional: bool = False) -> str | None:
        if ptr == _NULL:
            if optional:
                return None
            raise self.fail(where, "is NULL")
        raw = ffi.string(ptr)
        try:
            text: str = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(where, "is not valid UTF-8") from exc
        if not text and not optional:
            raise self.fail(where, "is empty")
        return text

    def name(self, ptr: Any, where: str) -> str:
        text = self.string(ptr, where)
        assert text is not None
        return text

    def names(self, ptr: Any, count: int, where: str) -> tuple[str, ...]:
        count = self.count(ptr, count, where)
        return tuple(self.name(ptr[i], f"{where}[{i}]") for i in range(count))

    def count(self, ptr: Any, count: int, where: str) -> int:
        count = int(count)
        if count > MAX_ENTRIES:
            raise self.fail(where, f"has {count} entries (limit {MAX_ENTRIES})")
        if count and ptr == _NULL:
            raise self.fail(where, f"is NULL but its count is {count}")
        return count

    def array(self, ptr: Any, count: int, stride: int, ctype: str, where: str) -> list[Any]:
        count = self.count(ptr, count, where)
        if not count:
            return []
        minimum = ffi.sizeof(ctype)
        if int(stride) < minimum:
            raise self.fail(
                where, f"entry size is {stride} bytes; ABI {ABI_VERSION} needs {minimum}"
            )
        base = ffi.cast("char *", ptr)
        return [ffi.cast(f"{ctype} *", base + i * int(stride)) for i in range(count)]

    def enum(self, kind: type[Any], value: int, where: str) -> Any:
        try:
            return kind(int(value))
        except ValueError as exc:
            raise self.fail(where, f"has unknown value {int(value)}") from exc


def read_descriptor(desc: Any, source: str) -> tuple[PackageDecl, Functions]:
    """Check the descriptor's prefix, then read every declaration and function pointer."""
    if desc == _NULL:
        raise AbiError(f"library '{source}': {ENTRY_SYMBOL}() returned NULL")
    raw = ffi.cast("uint8_t *", desc)
    size = ffi.cast("uint32_t *", desc)[0]
    if size < _PREFIX_SIZE:
        raise AbiError(
            f"library '{source}': descriptor claims {size} bytes, too small to hold "
            f"size, magic and ABI version ({_PREFIX_SIZE} bytes); rebuild against ABI {ABI_VERSION}"
        )
    magic = bytes(ffi.buffer(raw + 4, 8))
    if magic != MAGIC:
        raise AbiError(
            f"library '{source}': descriptor magic is {magic!r}, expected {MAGIC!r}; "
            "this is not a cloacina plugin (or it is corrupt)"
        )
    version = int(desc.abi_version)
    if version != ABI_VERSION:
        raise AbiError(
            f"library '{source}' was built against ABI {version}; this host speaks ABI "
            f"{ABI_VERSION}: rebuild it against ABI {ABI_VERSION}"
        )
    minimum = ffi.sizeof("cloacina_plugin_descriptor")
    if size < minimum:
        raise AbiError(
            f"library '{source}': descriptor is {size} bytes; ABI {ABI_VERSION} needs at least "
            f"{minimum}: rebuild it against ABI {ABI_VERSION}"
        )

    r = _Reader(source)
    name = r.name(desc.package_name, "package_name")
    r.package = name
    version_text = r.name(desc.package_version, "package_version")
    functions = Functions()
    reactors = tuple(
        _read_reactor(r, e, i)
        for i, e in enumerate(
            r.array(
                desc.reactors,
                desc.n_reactors,
                desc.reactor_entry_size,
                "cloacina_reactor_entry",
                "reactors",
            )
        )
    )
    accumulators = []
    for i, e in enumerate(
        r.array(
            desc.accumulators,
            desc.n_accumulators,
            desc.accumulator_entry_size,
            "cloacina_accumulator_entry",
            "accumulators",
        )
    ):
        acc = _read_accumulator(r, e, i)
        accumulators.append(acc)
        if e.fn != _NULL:
            functions.accumulators[acc.name] = e.fn
    graphs = []
    for i, e in enumerate(
        r.array(desc.graphs, desc.n_graphs, desc.graph_entry_size, "cloacina_graph_entry", "graphs")
    ):
        gname = r.name(e.name, f"graphs[{i}].name")
        trigger = r.string(e.trigger_reactor, f"graph '{gname}' trigger_reactor", optional=True)
        nodes = []
        for j, n in enumerate(
            r.array(
                e.nodes,
                e.n_nodes,
                e.node_entry_size,
                "cloacina_node_entry",
                f"graph '{gname}' nodes",
            )
        ):
            node = _read_node(r, n, f"graph '{gname}' nodes[{j}]")
            nodes.append(node)
            if n.fn != _NULL:
                functions.nodes[(gname, node.name)] = n.fn
        if e.execute != _NULL:
            functions.fused[gname] = e.execute
        graphs.append(GraphDecl(gname, trigger or None, tuple(nodes), e.execute != _NULL))
    if desc.init != _NULL:
        functions.init = desc.init
    if desc.shutdown != _NULL:
        functions.shutdown = desc.shutdown
    decl = PackageDecl(
        name=name,
        version=version_text,
        abi_version=version,
        thread_safe=bool(int(desc.flags) & FLAG_THREAD_SAFE),
        reactors=reactors,
        accumulators=tuple(accumulators),
        graphs=tuple(graphs),
        has_init=functions.init is not None,
    )
    return decl, functions


def _read_reactor(r: _Reader, e: Any, i: int) -> ReactorDecl:
    name = r.name(e.name, f"reactors[{i}].name")
    where = f"reactor '{name}'"
    return ReactorDecl(
        name=name,
        accumulators=r.names(e.accumulators, e.n_accumulators, f"{where} accumulators"),
        criteria=r.enum(Criteria, e.criteria, f"{where} criteria"),
        criteria_accumulators=r.names(
            e.criteria_accumulators, e.n_criteria_accumulators, f"{where} criteria_accumulators"
        ),
        input_strategy=r.enum(InputStrategy, e.input_strategy, f"{where} input_strategy"),
    )


def _read_accumulator(r: _Reader, e: Any, i: int) -> AccumulatorDecl:
    name = r.name(e.name, f"accumulators[{i}].name")
    where = f"accumulator '{name}'"
    kind = r.enum(AccumulatorKind, e.kind, f"{where} kind")
    text = r.string(e.config_json, f"{where} config_json", optional=True)
    config: dict[str, Any] = {}
    if text:
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise r.fail(f"{where} config_json", f"is not valid JSON ({exc})") from exc
        if not isinstance(parsed, dict):
            raise r.fail(f"{where} config_json", "is not a JSON object")
        config = parsed
    return AccumulatorDecl(name, kind, config, e.fn != _NULL)


def _read_node(r: _Reader, n: Any, where: str) -> NodeDecl:
    name = r.name(n.name, f"{where}.name")
    where = f"{where.rsplit(' nodes', 1)[0]} node '{name}'"
    count = r.count(n.routes, n.n_routes, f"{where} routes")
    routes = tuple(
        (
            r.name(n.routes[k].variant, f"{where} routes[{k}].variant"),
            r.name(n.routes[k].target, f"{where} routes[{k}].target"),
        )
        for k in range(count)
    )
    return NodeDecl(
        name=name,
        inputs=r.names(n.inputs, n.n_inputs, f"{where} inputs"),
        next=r.names(n.next, n.n_next, f"{where} next"),
        routes=routes,
        has_function=n.fn != _NULL,
    )
