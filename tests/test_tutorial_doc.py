"""docs/tutorial.md runs as written: every command of its ``console`` blocks, in order, in one
bash session from the repository's root, printing what the page shows (``tests/doc_runner.py``
says how a page is read).

Two things differ from a user's terminal, both so the run cannot touch the machine's own
state: ``HOME`` is a fresh directory (so ``~/.cloacina`` is new), and the page's
``127.0.0.1:8080`` is a free port (``CLOACINA_BIND`` and every URL on the page)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from doc_runner import Session, matches, steps
from rust_fixtures import cargo_path
from server_fixtures import free_port
from skips import missing_tool

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "tutorial.md"


def test_the_tutorial_page_runs_as_written(tmp_path: Path) -> None:
    cargo = cargo_path()
    if cargo is None:
        missing_tool("the tutorial builds Rust crates: `cargo` is not installed")
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            missing_tool(f"the tutorial uses `{tool}`: it is not installed")
    bins = [Path(sys.executable).parent, Path(cargo).parent]  # the venv's scripts, cargo
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOACINA_")}
    real = Path.home()  # rustup and cargo keep their toolchains under the real home
    env.setdefault("RUSTUP_HOME", str(real / ".rustup"))
    env.setdefault("CARGO_HOME", str(real / ".cargo"))
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([*map(str, bins), env.get("PATH", "")]),
        CLOACINA_BIND=f"127.0.0.1:{port}",
        NO_COLOR="1",
        COLUMNS="200",
    )
    page = PAGE.read_text().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    todo = steps(page)
    assert len(todo) > 20, "the page lost its commands"
    scratch = tmp_path / "out"
    scratch.mkdir()
    session = Session(ROOT, env, scratch)
    try:
        for step in todo:
            result = session.run(step.command)
            where = f"docs/tutorial.md:{step.line}: `{step.command}`"
            errors = [s for s in step.shown if s.startswith("Error: ")]
            shown = [s for s in step.shown if not s.startswith("Error: ")]
            if errors:
                assert result.rc != 0, f"{where} should have failed\n{result.stdout}"
                tail = result.stderr.strip().splitlines()[-len(errors) :]
                assert matches(errors, tail), f"{where}\nshown: {errors}\nstderr: {result.stderr}"
            else:
                assert result.rc == 0, (
                    f"{where} exited {result.rc}\n{result.stdout}\n{result.stderr[-3000:]}"
                )
            if step.shown:
                lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
                assert matches(shown, lines), (
                    f"{where}\nshown:\n" + "\n".join(shown) + "\nprinted:\n" + result.stdout
                )
    finally:
        session.close()
        server_log = ROOT / "server.log"
        if server_log.exists():
            shutil.move(server_log, tmp_path / "server.log")  # kept with the test's files
