"""Load/unload cycles leave nothing behind: registry entries, tables, threads, open files,
mapped copies of the C and Rust libraries."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from cloacina_host import Runtime
from cloacina_host.errors import PluginCallError


def mapped_copies(*stems: str) -> int:
    """Library copies still mapped into this process (the host's copies are '.<stem>-*')."""
    marks = [f"/.{stem}" for stem in stems or ("libpricing_",)]
    maps = Path("/proc/self/maps").read_text().splitlines()
    return len({line.split()[-1] for line in maps if any(m in line for m in marks)})


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_thousand_load_unload_cycles_leak_nothing(c_plugins: dict[str, Path]) -> None:
    rt = Runtime("cycles")
    publisher, subscriber = c_plugins["pricing-publisher"], c_plugins["pricing-subscriber"]

    def cycle() -> None:
        rt.load(publisher)
        rt.load(subscriber)
        assert rt.push("raw_prices", {"price": 5}) == 1
        rt.unload("pricing-subscriber")
        rt.unload("pricing-publisher")

    for _ in range(5):  # warm-up: allocator and import caches settle
        cycle()
    base = (rt.counts(), open_files(), threading.active_count(), mapped_copies())
    for _ in range(1000):
        cycle()
    after = (rt.counts(), open_files(), threading.active_count(), mapped_copies())
    assert after == base
    assert base[0] == {
        "packages": 0,
        "reactors": 0,
        "accumulators": 0,
        "graphs": 0,
        "registry": 0,
    }
    assert base[3] == 0  # C libraries are unmapped on unload


def test_rust_libraries_unmap_on_unload_even_after_panics(
    rust_plugins: dict[str, Path],
) -> None:
    """The Rust SDK registers no thread-local destructor on the host's threads (glibc keeps
    a library with one mapped until the thread exits), so async nodes, caught panics and
    unloads leave no copy behind."""
    rt = Runtime("rust-cycles")
    publisher, subscriber = rust_plugins["pricing-publisher"], rust_plugins["pricing-subscriber"]
    stems = ("libpricing_", "libpanicky")

    def cycle() -> None:
        rt.load(publisher)
        rt.load(subscriber)
        rt.load(rust_plugins["panicky"])
        rt.push("normalized_prices", {"price": 2})
        assert rt.push("raw_prices", {"price": 3}) == 1  # async nodes: score, publish
        assert rt.outputs("price_consumer")[-1].ok
        assert rt.push("volatile", {"panic": True}) == 1  # a node panics
        assert rt.outputs("fragile")[-1].error is not None
        with pytest.raises(PluginCallError):
            rt.push("touchy", {"panic": True})  # an accumulator panics
        for name in ("panicky", "pricing-subscriber", "pricing-publisher"):
            rt.unload(name)

    cycle()
    assert mapped_copies(*stems) == 0
    base = (rt.counts(), open_files(), threading.active_count())
    for _ in range(100):
        cycle()
    assert (rt.counts(), open_files(), threading.active_count()) == base
    assert mapped_copies(*stems) == 0
