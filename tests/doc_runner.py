"""Run a Markdown document's ``console`` blocks as a user would, in one bash session, and
compare what each command prints with what the document shows.

In a ```` ```console ```` block a line starting with ``$ `` is a command (a line ending in
``\\`` continues on the next); the lines after it, up to the next command, are what it
prints on stdout (blank lines do not count). ``…`` stands for any text within a line, and a
line that is only ``…`` for any number of lines. A shown line starting with ``Error: `` is
matched against the command's standard error instead, and only such a command may exit
non-zero. A command with nothing shown below it is run and must succeed; its output is not
compared.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass
class Step:
    command: str
    shown: list[str] = field(default_factory=list)
    line: int = 0  # where in the document (1-based), for messages


def steps(markdown: str) -> list[Step]:
    """Every command of every ``console`` block, in order, with what it shows."""
    out: list[Step] = []
    for block in FENCE.finditer(markdown):
        first = markdown.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).splitlines()
        i = 0
        while i < len(lines):
            text = lines[i]
            if text.startswith("$ "):
                command, start = text[2:], i
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command += "\n" + lines[i]
                out.append(Step(command, [], first + start))
            elif out and text.strip():
                out[-1].shown.append(text)
            i += 1
    return out


def _pattern(line: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(p) for p in line.split("…")) + "$")


def matches(shown: list[str], actual: list[str]) -> bool:
    """``actual`` lines against ``shown`` ones, ``…`` lines matching any run of lines."""
    if not shown:
        return not actual
    head, rest = shown[0], shown[1:]
    if head.strip() == "…":
        return any(matches(rest, actual[k:]) for k in range(len(actual) + 1))
    return (
        bool(actual)
        and bool(_pattern(head.rstrip()).match(actual[0].rstrip()))
        and matches(rest, actual[1:])
    )


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


class Session:
    """One ``bash`` the commands run in, one after another (variables, the working
    directory and background jobs carry over, as in a terminal)."""

    def __init__(self, cwd: Path, env: dict[str, str], scratch: Path) -> None:
        self.scratch = scratch
        self.n = 0
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            stdin=subprocess.PIPE,
            cwd=cwd,
            env=env,
            text=True,
        )

    def run(self, command: str, timeout: float = 600) -> Result:
        self.n += 1
        out, err, rc = (self.scratch / f"{self.n}.{k}" for k in ("out", "err", "rc"))
        assert self.proc.stdin is not None
        # the braces keep a trailing comment from swallowing the redirections
        self.proc.stdin.write(
            f"{{ {command}\n}} >{out} 2>{err} </dev/null; echo $? >{rc}.t; mv {rc}.t {rc}\n"
        )
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while not rc.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"`{command}` did not finish (bash exited or timed out)")
            time.sleep(0.02)
        return Result(int(rc.read_text()), out.read_text(), err.read_text())

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("kill $(jobs -p) 2>/dev/null; wait; exit 0\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
