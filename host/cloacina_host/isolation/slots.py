"""Call slots: a small shared memory where a worker says which native call each of its
threads is in, so the supervisor can name the culprit when the worker dies, and kill it when
a call runs past its deadline.

The supervisor creates the memory (``memfd``) and passes it to the worker; the worker
(:class:`SlotWriter`, installed as :data:`~..core.ffi.WATCH`) writes before and after every
native call; the supervisor (:class:`SlotReader`) only reads. One slot per worker thread::

    offset 0   u64  seq      bumped after every change of the slot
           8   u64  thread   the thread's ident (``threading.get_ident()``)
          16   u32  depth    nested calls in progress (0: idle)
          20   u32  length   of the label
          24   bytes label   ``package\\0what`` of the innermost call

The reader reads ``seq`` before and after the rest and retries when it moved, so it never
acts on a torn slot. The worker is untrusted: whatever it wrote is only ever shown as text.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from dataclasses import dataclass

from ..core.ffi import CallSite

SLOT_SIZE = 256
_HEAD = struct.Struct("<QQII")
_LABEL = SLOT_SIZE - _HEAD.size


def create(count: int) -> int:
    """A new shared memory for ``count`` slots; returns its file descriptor."""
    fd = os.memfd_create("cloacina-call-slots", 0)
    os.ftruncate(fd, count * SLOT_SIZE)
    return fd


@dataclass(frozen=True)
class Slot:
    """What one slot said when it was read."""

    index: int
    seq: int
    thread: int
    depth: int
    package: str
    what: str

    @property
    def busy(self) -> bool:
        return self.depth > 0

    @property
    def site(self) -> CallSite:
        return CallSite(self.package, self.what)


class SlotReader:
    """The supervisor's view of a worker's slots."""

    def __init__(self, fd: int, count: int) -> None:
        self.count = count
        self._map = mmap.mmap(fd, count * SLOT_SIZE, prot=mmap.PROT_READ)

    def read(self, index: int) -> Slot:
        base = index * SLOT_SIZE
        for _ in range(100):
            seq, thread, depth, length = _HEAD.unpack_from(self._map, base)
            label = bytes(self._map[base + 24 : base + 24 + min(length, _LABEL)])
            if _HEAD.unpack_from(self._map, base)[0] == seq:
                break
        package, _, what = label.decode("utf-8", "replace").partition("\0")
        return Slot(index, seq, thread, depth, package, what)

    def busy(self) -> list[Slot]:
        """Every slot whose thread is inside a native call right now."""
        return [s for s in map(self.read, range(self.count)) if s.busy]

    def close(self) -> None:
        self._map.close()


class _Thread(threading.local):
    base = -1  # this thread's slot offset; -1 before the first call, -2 when none is free
    stack: list[bytes]
    seq = 0


class SlotWriter:
    """The worker's side: :meth:`enter` and :meth:`leave` around every native call."""

    def __init__(self, fd: int, count: int) -> None:
        self.count = count
        self._map = mmap.mmap(fd, count * SLOT_SIZE)
        self._next = 0
        self._lock = threading.Lock()
        self._local = _Thread()

    def _claim(self, local: _Thread) -> int:
        with self._lock:
            index, self._next = self._next, self._next + 1
        if index >= self.count:
            local.base = -2  # more threads than slots: this one goes unwatched
            return -2
        local.base = index * SLOT_SIZE
        local.stack = []
        _HEAD.pack_into(self._map, local.base, 0, threading.get_ident(), 0, 0)
        return local.base

    def _write(self, local: _Thread, base: int) -> None:
        stack = local.stack
        label = stack[-1] if stack else b""
        self._map[base + 24 : base + 24 + len(label)] = label
        local.seq += 1
        _HEAD.pack_into(self._map, base, local.seq, threading.get_ident(), len(stack), len(label))

    def enter(self, site: CallSite) -> None:
        local = self._local
        base = local.base
        if base < 0 and (base == -2 or self._claim(local) < 0):
            return
        base = local.base
        local.stack.append(_label(site))
        self._write(local, base)

    def leave(self) -> None:
        local = self._local
        base = local.base
        if base < 0 or not local.stack:
            return
        local.stack.pop()
        self._write(local, base)


_labels: dict[CallSite, bytes] = {}


def _label(site: CallSite) -> bytes:
    label = _labels.get(site)
    if label is None:
        label = f"{site.package}\0{site.what}".encode()[:_LABEL]
        if len(_labels) < 65536:
            _labels[site] = label
    return label
