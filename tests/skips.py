"""How a test says a tool it needs is missing: loud locally, fatal in CI."""

from __future__ import annotations

import os

import pytest


def missing_tool(reason: str) -> None:
    """A missing toolchain is a loud skip locally and a failure in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"CI cannot run this test: {reason}")
    pytest.skip(reason)
