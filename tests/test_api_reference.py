"""docs/python-api.md is what scripts/api_reference.py makes of the code's docstrings today:
a changed signature or docstring without `make api-docs` fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_python_api_reference_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "api_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_reference_covers_the_public_api() -> None:
    import cloacina_host

    page = (ROOT / "docs" / "python-api.md").read_text()
    for name in cloacina_host.__all__:
        if not name.startswith("_"):
            assert f"`{name}" in page, name
    for method in ("push_many", "fire", "tick", "outputs", "unload", "invoke"):
        assert f"### `Runtime.{method}(" in page, method
