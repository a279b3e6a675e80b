"""The hostile plugin corpus (tests/plugins/hostile/) really misbehaves in-process.

These libraries exist to prove, elsewhere, that the server contains plugins in supervised
worker processes. Here each one is loaded in-process, in a fresh Python child per case
(they take their process down), to show it does exactly what it claims: the exit status,
how far the child got (marks it writes unbuffered to a file, so none are lost at a crash),
and for the survivors what they leave behind or report.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from cloacina_host.packaging.probe import probe_library

#: Seconds any one child may run before it is killed (and the case fails).
CHILD_TIMEOUT = 30.0

#: The address-space limit of the "alloc" child: it must run out and crash, not eat the host.
ALLOC_LIMIT = 1 << 30

# Run before every case's script: no core files, the marks file, a runtime.
PRELUDE = """\
import json, os, resource, sys
resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
_marks = os.open(os.environ["HOSTILE_MARKS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
def mark(name, value=None):
    os.write(_marks, json.dumps([name, value]).encode() + b"\\n")
from cloacina_host import Host
rt = Host().runtime("t")
"""

# hostile: argv[1] the library, argv[2] the event; HOSTILE_RLIMIT_AS caps memory first.
HOSTILE_SCRIPT = """\
rt.load(sys.argv[1])
mark("loaded")
if os.environ.get("HOSTILE_RLIMIT_AS"):
    limit = int(os.environ["HOSTILE_RLIMIT_AS"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
mark("pushing")
rt.push("orders", json.loads(sys.argv[2]))
mark("pushed", rt.outputs("victim")[-1].outputs)
rt.unload("hostile")
mark("unloaded")
"""

# evasive_*: argv[1] the library; it must take the child down while loading.
LOAD_SCRIPT = """\
mark("loading")
rt.load(sys.argv[1])
mark("loaded")
"""

# evasive_* with an argument ending in ".probe" (argv[3]): they think they are probed, and
# then work as normal packages; argv[2] is the variant their names derive from.
PROBED_SCRIPT = """\
variant = sys.argv[2]
rt.load(sys.argv[1])
mark("loaded")
rt.push(f"{variant}_events", {"hello": variant})
mark("pushed", rt.outputs(f"{variant}_echo")[-1].outputs)
rt.unload("evasive-" + variant.replace("_", "-"))
mark("unloaded")
"""

# forker: load, run the graph, exit normally (its stray child stays behind).
FORKER_SCRIPT = """\
rt.load(sys.argv[1])
mark("loaded")
rt.push("forks", {"n": 1})
mark("pushed", rt.outputs("fork_echo")[-1].outputs)
"""

# snoop: argv[1] the library, then one path per push ("" = an event without a path).
SNOOP_SCRIPT = """\
rt.load(sys.argv[1])
for path in sys.argv[2:]:
    rt.push("probe_requests", {"path": path} if path else {"no": "path"})
    mark("peek", rt.outputs("snooper")[-1].outputs["peek"])
"""


@dataclass(frozen=True)
class Outcome:
    """How a child ended: its exit code (negative: killed by that signal), its marks."""

    returncode: int
    marks: list[tuple[str, Any]]
    output: str
    maxrss_kib: int
    #: set when the case asked to watch a child that should still be running
    watched: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.marks]

    def value(self, name: str) -> Any:
        return next(value for n, value in self.marks if n == name)

    def __str__(self) -> str:
        return f"exit {self.returncode}, marks {self.marks}, output:\n{self.output[-3000:]}"


class Child:
    """A fresh Python running PRELUDE + a script, reaped with wait4 (for its rusage)."""

    def __init__(
        self, workdir: Path, script: str, *args: str, env: Mapping[str, str] | None = None
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.marks_path = workdir / "marks.jsonl"
        self.log_path = workdir / "output.log"
        full_env = {**os.environ, **(env or {}), "HOSTILE_MARKS": str(self.marks_path)}
        with self.log_path.open("wb") as log:  # a file, not a pipe: strays may keep it open
            self.proc = subprocess.Popen(
                [sys.executable, "-c", PRELUDE + script, *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
            )
        self._ended: tuple[int, int] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def marks(self) -> list[tuple[str, Any]]:
        if not self.marks_path.exists():
            return []
        marks: list[tuple[str, Any]] = []
        # every mark is one write ending in a newline: a line without one is still arriving
        for line in self.marks_path.read_text().split("\n")[:-1]:
            name, value = json.loads(line)
            marks.append((name, value))
        return marks

    def poll(self) -> int | None:
        """The exit code once the child has ended (reaping it), else None."""
        if self._ended is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid == 0:
                return None
            self._ended = (os.waitstatus_to_exitcode(status), usage.ru_maxrss)
            self.proc.returncode = self._ended[0]  # reaped here: Popen must not wait again
        return self._ended[0]

    def kill(self) -> None:
        if self.poll() is None:  # only this object reaps the pid, so it cannot be reused
            os.kill(self.proc.pid, signal.SIGKILL)

    def wait_for_mark(self, name: str, timeout: float = CHILD_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while name not in [n for n, _ in self.marks()]:
            if self.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def wait(self, timeout: float = CHILD_TIMEOUT) -> Outcome:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
            time.sleep(0.01)
        assert self._ended is not None
        return Outcome(
            self._ended[0],
            self.marks(),
            self.log_path.read_text(errors="replace"),
            self._ended[1],
        )


def cpu_seconds(pid: int) -> tuple[str, float]:
    """(state, user + system CPU seconds) of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return fields[0], (int(fields[11]) + int(fields[12])) / ticks


def run_case(
    workdir: Path, script: str, args: tuple[str, ...], env: dict[str, str], spin: str
) -> Outcome:
    """Run one child to its end; with ``spin``, watch it keep running after that mark."""
    child = Child(workdir, script, *args, env=env)
    return watch_spinning(child, spin) if spin else child.wait()


def watch_spinning(child: Child, after_mark: str, seconds: float = 1.0) -> Outcome:
    """Wait for ``after_mark``, check the child still runs ``seconds`` later, kill it."""
    reached = child.wait_for_mark(after_mark)
    watched: dict[str, Any] = {"reached": reached}
    if reached:
        _, cpu_before = cpu_seconds(child.pid)
        time.sleep(seconds)
        watched["alive"] = child.poll() is None
        if watched["alive"]:
            watched["state"], cpu_after = cpu_seconds(child.pid)
            watched["cpu"] = cpu_after - cpu_before
    child.kill()
    outcome = child.wait()
    return Outcome(outcome.returncode, outcome.marks, outcome.output, outcome.maxrss_kib, watched)


# --------------------------------------------------------------------------- hostile

#: The exit code each HOW gives its process.
EXIT_CODES = {"segv": -signal.SIGSEGV, "abort": -signal.SIGABRT, "exit0": 0, "exit3": 3}
#: Where the plugin misbehaves: during the push (accumulator, node, release) or at unload.
DURING_PUSH = ("acc", "node", "release")
CRASHES = [(where, how) for where in (*DURING_PUSH, "arm_shutdown") for how in EXIT_CODES]
EVASIVE = {
    "evasive_init_segv": -signal.SIGSEGV,
    "evasive_entry_exit": 0,
    "evasive_ctor_abort": -signal.SIGABRT,
}
NORMAL_EVENT = {"id": 7, "items": ["a", "b"]}


@pytest.fixture(scope="module")
def runs(
    c_plugins: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Every case that runs one child to its end, run in parallel, by case id."""
    base = tmp_path_factory.mktemp("hostile")
    hostile = str(c_plugins["hostile"])
    cases: dict[str, Callable[[], Outcome]] = {}

    def case(name: str, script: str, *args: str, spin: str = "", **env: str) -> None:
        cases[name] = partial(run_case, base / name, script, args, env, spin)

    for where, how in CRASHES:
        case(f"{where}-{how}", HOSTILE_SCRIPT, hostile, json.dumps({where: how}))
    case("normal", HOSTILE_SCRIPT, hostile, json.dumps(NORMAL_EVENT))
    alloc = json.dumps({"node": "alloc"})
    case("node-alloc", HOSTILE_SCRIPT, hostile, alloc, HOSTILE_RLIMIT_AS=str(ALLOC_LIMIT))
    case("node-loop", HOSTILE_SCRIPT, hostile, json.dumps({"node": "loop"}), spin="pushing")
    for lib in EVASIVE:
        case(lib, LOAD_SCRIPT, str(c_plugins[lib]))
        variant = lib.removeprefix("evasive_")
        case(f"{lib}-probed", PROBED_SCRIPT, str(c_plugins[lib]), variant, "pretend.probe")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {case: pool.submit(run) for case, run in cases.items()}
        return {case: future.result() for case, future in futures.items()}


def test_hostile_behaves_normally_without_instructions(runs: dict[str, Outcome]) -> None:
    outcome = runs["normal"]
    assert outcome.returncode == 0, outcome
    assert outcome.names == ["loaded", "pushing", "pushed", "unloaded"], outcome
    assert outcome.value("pushed") == {"score": {"ok": True, "value": NORMAL_EVENT}}


@pytest.mark.parametrize(
    ("where", "how"),
    [c for c in CRASHES if c[0] in DURING_PUSH],
    ids=[f"{w}-{h}" for w, h in CRASHES if w in DURING_PUSH],
)
def test_hostile_takes_its_process_down_during_the_push(
    runs: dict[str, Outcome], where: str, how: str
) -> None:
    outcome = runs[f"{where}-{how}"]
    assert outcome.returncode == EXIT_CODES[how], outcome
    assert outcome.names == ["loaded", "pushing"], outcome  # nothing after the crash point


@pytest.mark.parametrize("how", list(EXIT_CODES))
def test_hostile_armed_shutdown_takes_its_process_down_at_unload(
    runs: dict[str, Outcome], how: str
) -> None:
    outcome = runs[f"arm_shutdown-{how}"]
    assert outcome.returncode == EXIT_CODES[how], outcome
    # the push itself went fine; the process ended inside unload
    assert outcome.names == ["loaded", "pushing", "pushed"], outcome
    value = {"score": {"ok": True, "value": {"arm_shutdown": how}}}
    assert outcome.value("pushed") == value


def test_hostile_loop_spins_forever(runs: dict[str, Outcome]) -> None:
    outcome = runs["node-loop"]
    watched = outcome.watched
    assert watched["reached"] and watched["alive"], outcome
    # busy, not blocked: runnable, and it burned CPU while watched (even on a busy machine)
    assert watched["state"] == "R" and watched["cpu"] > 0.1, watched
    assert outcome.returncode == -signal.SIGKILL, outcome  # only our kill ended it
    assert outcome.names == ["loaded", "pushing"], outcome


def test_hostile_alloc_eats_memory_until_it_segfaults(runs: dict[str, Outcome]) -> None:
    outcome = runs["node-alloc"]
    assert outcome.returncode == -signal.SIGSEGV, outcome
    assert outcome.names == ["loaded", "pushing"], outcome
    # it really touched memory up to the limit before writing through NULL
    assert outcome.maxrss_kib > (ALLOC_LIMIT // 2) // 1024, outcome.maxrss_kib


# --------------------------------------------------------------------------- evasive


@pytest.mark.parametrize("lib", list(EVASIVE))
def test_evasive_library_crashes_when_loaded_outside_the_probe(
    runs: dict[str, Outcome], lib: str
) -> None:
    outcome = runs[lib]
    assert outcome.returncode == EVASIVE[lib], outcome
    assert outcome.names == ["loading"], outcome  # rt.load never returned


@pytest.mark.parametrize("lib", list(EVASIVE))
def test_evasive_library_passes_the_probe(c_plugins: dict[str, Path], lib: str) -> None:
    decl = probe_library(c_plugins[lib])
    variant = lib.removeprefix("evasive_")
    assert decl.name == lib.replace("_", "-")
    assert decl.version == "0.1.0"
    assert [a.name for a in decl.accumulators] == [f"{variant}_events"]
    assert [g.name for g in decl.graphs] == [f"{variant}_echo"]
    assert [g.trigger_reactor for g in decl.graphs] == [r.name for r in decl.reactors]


@pytest.mark.parametrize("lib", list(EVASIVE))
def test_evasive_library_works_in_any_process_that_looks_like_a_probe(
    runs: dict[str, Outcome], lib: str
) -> None:
    # the test is the ".probe" suffix of any argument, not the probe module's name
    outcome = runs[f"{lib}-probed"]
    variant = lib.removeprefix("evasive_")
    assert outcome.returncode == 0, outcome
    assert outcome.names == ["loaded", "pushed", "unloaded"], outcome
    assert outcome.value("pushed") == {"echo": {"hello": variant}}


# --------------------------------------------------------------------------- forker


def process_state(pid: int) -> str | None:
    """The state letter of a process, or None when it is gone."""
    try:
        return cpu_seconds(pid)[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def test_forker_leaves_a_stray_child_that_outlives_its_parent(
    c_plugins: dict[str, Path], tmp_path: Path
) -> None:
    pidfile = tmp_path / "forker.pid"
    child = Child(
        tmp_path / "child",
        FORKER_SCRIPT,
        str(c_plugins["forker"]),
        env={"CLOACINA_TEST_FORKER_PIDFILE": str(pidfile)},
    )
    outcome = child.wait()
    stray = int(pidfile.read_text()) if pidfile.exists() else None
    try:
        assert outcome.returncode == 0, outcome
        assert outcome.value("pushed") == {"echo": {"n": 1}}
        assert stray is not None and stray != child.pid, outcome
        # alive after the process that loaded it is gone, deaf to SIGTERM and SIGHUP ...
        os.kill(stray, signal.SIGTERM)
        os.kill(stray, signal.SIGHUP)
        time.sleep(0.2)
        assert process_state(stray) in ("S", "R")
        # ... and still holding the fds it inherited (here the child's stdout)
        assert os.readlink(f"/proc/{stray}/fd/1") == str(child.log_path)
    finally:
        if stray is not None and process_state(stray) is not None:
            os.kill(stray, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while stray is not None and process_state(stray) not in (None, "Z"):
        assert time.monotonic() < deadline, f"stray {stray} survived SIGKILL"
        time.sleep(0.01)


# --------------------------------------------------------------------------- snoop


def test_snoop_reports_what_it_can_read(c_plugins: dict[str, Path], tmp_path: Path) -> None:
    secret = tmp_path / "secret.db"
    content = b"top secret\x00\xff bytes\n"  # binary, not even UTF-8: counted, not returned
    secret.write_bytes(content)
    missing = tmp_path / "missing.key"
    marker_value = f"seen-{os.getpid()}"
    child = Child(
        tmp_path / "child",
        SNOOP_SCRIPT,
        str(c_plugins["snoop"]),
        str(secret),
        str(missing),
        str(tmp_path),
        "",
        env={"SNOOP_TEST_MARKER": marker_value},
    )
    outcome = child.wait()
    assert outcome.returncode == 0, outcome
    readable, absent, directory, no_path = (value for _, value in outcome.marks)

    assert (readable["opened"], readable["errno"], readable["bytes"]) == (True, None, len(content))
    assert (absent["opened"], absent["errno"], absent["bytes"]) == (
        False,
        os.strerror(errno.ENOENT),
        0,
    )
    assert (directory["opened"], directory["errno"]) == (True, os.strerror(errno.EISDIR))
    assert no_path["opened"] is False and no_path["errno"]

    # its own environment, as K=V strings
    assert f"SNOOP_TEST_MARKER={marker_value}" in readable["environ"]
    assert all("=" in item for item in readable["environ"])
    # the parent's environment is this process's, as the kernel has it
    raw = Path(f"/proc/{os.getpid()}/environ").read_bytes()
    parent = readable["parent_environ"]
    assert (parent["opened"], parent["errno"], parent["bytes"]) == (True, None, len(raw))
    text = raw[: 64 * 1024].replace(b"\x00", b"\n")
    if text.isascii():  # non-UTF-8 bytes are reported as '?'
        assert parent["text"] == text.decode()
