"""The only module that touches cffi.

It parses the shipped ABI header's cdef block (:mod:`.header`, one source of truth), opens
unique copies of plugin libraries, reads C memory for :mod:`.descriptor`, and makes calls:
plugin-owned buffers are released exactly once, in :func:`_take_output`, and statuses become
exceptions in :func:`_check`.

How a library is called is decided in one place, :class:`NativeLibrary`: a
:class:`NativeCall` carries the function, the library's context and the call site that
prefixes every error; ``lib.serial`` serializes calls into a library that is not thread-safe;
``lib.leased()`` also keeps the library mapped for a caller that holds no reactor lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from cffi import FFI

from ..errors import AbiError, DeclarationError, LoadError, PluginCallError
from ..types import Status
from .header import ABI_VERSION, CDEF, ENTRY_SYMBOL, MAGIC

#: Upper bound on any declared array, so a corrupt count cannot make us read the address space.
MAX_ENTRIES = 4096
#: Default cap on one plugin output; larger outputs are refused (and still released).
DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024

ffi = FFI()
ffi.cdef(CDEF)
NULL = ffi.NULL
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


class CallWatch(Protocol):
    """Told before and after every native call (a tenant worker's call slots)."""

    def enter(self, site: CallSite) -> None: ...

    def leave(self) -> None: ...


#: The process's call watch, or None (the in-process host watches nothing).
WATCH: CallWatch | None = None


@contextlib.contextmanager
def watched(site: CallSite) -> Iterator[None]:
    """Tell :data:`WATCH` that a native call for ``site`` is in progress."""
    watch = WATCH
    if watch is None:
        yield
        return
    watch.enter(site)
    try:
        yield
    finally:
        watch.leave()


@dataclass(frozen=True)
class CallSite:
    """Who is being called; every error about the call starts with :attr:`prefix`."""

    package: str
    what: str  # e.g. "node 'score' of graph 'price_consumer'"

    @property
    def prefix(self) -> str:
        return f"{self.what} in package '{self.package}'"

    def error(self, problem: str, status: int = Status.INTERNAL) -> PluginCallError:
        """The error for this site: ``"<what> in package '<p>' <problem>"``."""
        return PluginCallError(f"{self.prefix} {problem}", status, package=self.package)


def _take_output(out: Any, max_output: int) -> tuple[bytes, int]:
    """Copy a plugin buffer and release it through its own callback, exactly once.

    Returns the bytes (empty when the plugin wrote nothing) and the length the
    plugin claimed; bytes are not copied when the claim exceeds ``max_output``.
    The buffer is zeroed afterwards, ready for the next call.
    """
    length = out.len
    data = out.data
    copied = _buffer(data, length)[:] if data != NULL and 0 < length <= max_output else b""
    release = out.release
    if release != NULL:
        release(out)
    out[0] = _ZERO_BUFFER[0]
    return copied, int(length)


def _check(status: int, data: bytes, length: int, site: CallSite, max_output: int) -> bytes:
    """Turn a status + buffer into bytes or one PluginCallError (the only place that does)."""
    if status != Status.OK:
        text = data.decode("utf-8", "replace") if data else "(no message)"
        raise site.error(f"failed ({Status.describe(status)}): {text}", status)
    if length > max_output:
        raise site.error(f"returned {length} bytes, over the {max_output}-byte output limit")
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


class NativeCall:
    """One function of a library, bound to its context and call site: ``call(inputs)``.

    It does not lock or lease: the caller holds ``lib.serial`` (under a reactor lock that
    teardown takes before the library can close) or ``lib.leased()``."""

    __slots__ = ("fn", "lib", "max_output", "site")

    def __init__(
        self, lib: NativeLibrary, fn: Any, site: CallSite, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> None:
        self.lib = lib
        self.fn = fn
        self.site = site
        self.max_output = max_output

    def __call__(self, inputs: Sequence[bytes]) -> bytes:
        watch = WATCH
        if watch is None:
            return call(self.fn, self.lib.ctx, inputs, self.site, self.max_output)
        watch.enter(self.site)
        try:
            return call(self.fn, self.lib.ctx, inputs, self.site, self.max_output)
        finally:
            watch.leave()


_UNSERIALIZED = contextlib.nullcontext()


class NativeLibrary:
    """One ``dlopen`` of a unique copy of a plugin library, and how it may be called.

    glibc hands back the already-loaded object for a path or inode it has seen,
    so each load copies the file to a fresh path first; the copy is unlinked
    right after ``dlopen`` (the mapping stays valid). ``close`` waits for leases
    (:meth:`leased`), runs the plugin's shutdown hook, then ``dlclose``\\ s.
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
        self.ctx: Any = NULL
        self.functions = Functions()
        #: The package the library declared (set once its descriptor was read).
        self.package = self.path.name
        self.call_lock = threading.Lock()
        #: What a caller holds around calls: the call lock unless the library is thread-safe.
        self.serial: contextlib.AbstractContextManager[Any] = self.call_lock

    @property
    def thread_safe(self) -> bool:
        return self.serial is _UNSERIALIZED

    @thread_safe.setter
    def thread_safe(self, value: bool) -> None:
        self.serial = _UNSERIALIZED if value else self.call_lock

    def caller(self, fn: Any, site: CallSite, max_output: int = DEFAULT_MAX_OUTPUT) -> NativeCall:
        """A :class:`NativeCall` of ``fn`` (a function pointer of this library)."""
        return NativeCall(self, fn, site, max_output)

    def entry(self) -> Any:
        try:
            entry = getattr(self._lib, ENTRY_SYMBOL)
        except AttributeError as exc:
            raise AbiError(
                f"library '{self.path}' does not export '{ENTRY_SYMBOL}'; build it with the "
                "cloacina SDK (or abi/cloacina_plugin.h) so it exports the entry symbol"
            ) from exc
        return entry()

    @contextlib.contextmanager
    def leased(self) -> Iterator[None]:
        """Calls made inside keep the library mapped, and are serialized unless thread-safe."""
        with self._mutex:
            if self._closed:
                raise LoadError(f"library '{self.path}' is unloaded")
            self._leases += 1
        try:
            with self.serial:
                yield
        finally:
            with self._mutex:
                self._leases -= 1
                if self._closed and not self._leases:
                    self._idle.set()

    def run_init(self, package: str, config: dict[str, Any]) -> None:
        """Run the plugin's init hook with ``config``; its context is kept for every call."""
        blob = orjson.dumps(config)
        ctx_out = ffi.new("void **")
        err = ffi.new("cloacina_buffer *")
        site = CallSite(package, "init hook")
        self.package = package
        with watched(site):
            status = self.functions.init(
                ffi.from_buffer("uint8_t[]", blob), len(blob), ctx_out, err
            )
            data, length = _take_output(err, DEFAULT_MAX_OUTPUT)
        _check(status, data, length, site, DEFAULT_MAX_OUTPUT)
        self.ctx = ctx_out[0]

    def close(self) -> None:
        """Wait for leases, run shutdown, unmap. Idempotent."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            busy = self._leases > 0
        if busy:
            self._idle.wait()
        try:
            if self.functions.shutdown is not None:
                with watched(CallSite(self.package, "shutdown hook")):
                    self.functions.shutdown(self.ctx)
        finally:
            self.functions = Functions()
            ffi.dlclose(self._lib)
            self._lib = None

    @property
    def closed(self) -> bool:
        return self._closed


# --------------------------------------------------------------------------- C memory


def check_prefix(desc: Any, source: str) -> None:
    """Check the descriptor's size, magic and ABI version before reading anything else."""
    if desc == NULL:
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


class Reader:
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
        if ptr == NULL:
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
        if count and ptr == NULL:
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
