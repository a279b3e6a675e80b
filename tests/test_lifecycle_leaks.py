"""Load/unload cycles leave nothing behind: registry entries, tables, threads, open files,
mapped copies of the C libraries."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cloacina_host import Runtime


def mapped_copies() -> int:
    """Library copies still mapped into this process (the host's copies are '.<stem>-*')."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    return len({line.split()[-1] for line in maps if "/.libpricing_" in line})


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
        "triggerless": 0,
        "registry": 0,
    }
    assert base[3] == 0  # C libraries are unmapped on unload
