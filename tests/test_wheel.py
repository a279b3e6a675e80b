"""The wheel carries the Python package, the ABI header, the built example C plugins, the
console's static files (with the vendored layout library and its licence) and the
documentation pages' assets."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contents(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("cloacina_host-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "cloacina_host/core/ffi.py",
        "cloacina_host/include/cloacina_plugin.h",
        "cloacina_host/include/cloacina_sdk.h",
        "cloacina_host/plugins/libpricing_publisher.so",
        "cloacina_host/plugins/libpricing_subscriber.so",
        "cloacina_host/server/console.py",
        "cloacina_host/server/console/index.html",
        "cloacina_host/server/console/app.js",
        "cloacina_host/server/console/app.css",
        "cloacina_host/server/console/favicon.svg",
        "cloacina_host/server/console/vendor/dagre.min.js",
        "cloacina_host/server/console/vendor/dagre.LICENSE",
        # /docs and /redoc are served from these (no CDN), with their licences
        "cloacina_host/server/docs_assets/swagger-ui-bundle.js",
        "cloacina_host/server/docs_assets/swagger-ui.css",
        "cloacina_host/server/docs_assets/redoc.standalone.js",
        "cloacina_host/server/docs_assets/swagger-ui-dist.LICENSE",
        "cloacina_host/server/docs_assets/swagger-ui-dist.NOTICE",
        "cloacina_host/server/docs_assets/redoc.LICENSE",
    ):
        assert expected in names, expected
    entry_points = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith("entry_points.txt")))
        .decode()
    )
    assert "cloacinactl = cloacina_host.cli:main" in entry_points
