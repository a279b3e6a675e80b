"""``cloacina_host.isolation.sandbox``: each primitive is irreversible, so each test applies it
in a fresh child interpreter and checks what the child can still do."""

from __future__ import annotations

import os
import pwd
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloacina_host.isolation.sandbox import access_rights, landlock_supported

HOST = Path(__file__).resolve().parents[1] / "host"
MiB = 1024 * 1024

PRELUDE = """\
import errno, os, resource, signal, sys, threading, time
from cloacina_host.isolation import sandbox
"""


def child(
    code: str, *args: str, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (after :data:`PRELUDE`) in a new interpreter; ``args`` become argv[1:]."""
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(HOST), **(env or {})),
        **kw,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The child's stdout lines, once it exited 0."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.splitlines()


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (drops privileges)")
needs_landlock = pytest.mark.skipif(
    landlock_supported() == 0, reason="Landlock is not available on this kernel"
)


@pytest.fixture
def world_dir() -> Iterator[Path]:
    """A directory every user can traverse (pytest's tmp_path sits under a 0700 one)."""
    path = Path(tempfile.mkdtemp(prefix="cloacina-sandbox-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


# --- Landlock ----------------------------------------------------------------------------


def interpreter_paths() -> list[str]:
    """What a child interpreter reads to go on importing: the venv, the base install, /usr."""
    paths = {sys.prefix, sys.base_prefix, str(HOST), "/usr", "/lib", "/lib64", "/etc/ld.so.cache"}
    paths.update(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))
    return sorted(paths)


def test_access_rights_are_masked_to_what_each_abi_knows() -> None:
    refer, truncate, ioctl_dev = 1 << 13, 1 << 14, 1 << 15
    v1, v2, v3, v5, v7 = (access_rights(abi) for abi in (1, 2, 3, 5, 7))
    assert v1.handled == (1 << 13) - 1
    assert v2.handled == v1.handled | refer
    assert v3.handled == v2.handled | truncate
    assert access_rights(4) == v3  # ABI 4 added network rules only
    assert v5.handled == v3.handled | ioctl_dev == (1 << 16) - 1
    assert v7 == v5
    for rights in (v1, v2, v3, v5):
        assert rights.read_only | rights.read_write <= rights.handled
        assert rights.read_only == 0b1101  # execute, read file, read dir
        assert not rights.read_write & 0b1  # no execute beneath writable paths
    assert refer & v2.read_write and truncate & v3.read_write
    assert not ioctl_dev & (v5.read_only | v5.read_write)
    assert access_rights(0).handled == 0


@needs_landlock
def test_restrict_filesystem_confines_reads_and_writes(tmp_path: Path) -> None:
    rw, secret, ro = tmp_path / "rw", tmp_path / "secret", tmp_path / "ro"
    for d in (rw, secret, ro):
        d.mkdir()
    (secret / "key.txt").write_text("s3cret")
    (secret / "key.txt").chmod(0o644)
    (ro / "allowed.txt").write_text("allowed")
    (ro / "other.txt").write_text("other")
    code = """
    rw, secret, ro = sys.argv[1:4]
    read_only = sys.argv[4:] + [ro + "/allowed.txt", "/no/such/path"]
    abi = sandbox.restrict_filesystem(read_only=read_only, read_write=[rw])
    print("abi", abi)

    def denied(what, *args):
        try:
            what(*args)
        except PermissionError:
            return True
        return False

    for name in [m for m in sys.modules if m == "json" or m.startswith("json.")]:
        del sys.modules[name]  # the prelude's imports loaded it already
    assert "sched" not in sys.modules
    import json, sched  # the interpreter can still import
    print(json.dumps("imported"))
    with open(rw + "/out.txt", "w") as f:  # and write into its read-write directory
        f.write("written")
    os.mkdir(rw + "/sub")
    os.rename(rw + "/out.txt", rw + "/sub/out.txt")
    os.remove(rw + "/sub/out.txt")
    assert denied(open, secret + "/key.txt"), "read a file elsewhere"
    assert denied(os.listdir, secret), "listed a directory elsewhere"
    assert denied(open, secret + "/new.txt", "w"), "created a file elsewhere"
    assert denied(open, rw + "/../secret/key.txt"), "escaped with .."
    print(open(ro + "/allowed.txt").read())  # a file rule grants that one file
    assert denied(open, ro + "/allowed.txt", "a"), "wrote a read-only file"
    assert denied(open, ro + "/other.txt"), "read a sibling of a read-only file"
    print("confined")
    """
    out = ok(child(code, str(rw), str(secret), str(ro), *interpreter_paths()))
    assert out == [f"abi {landlock_supported()}", '"imported"', "allowed", "confined"]
    assert sorted(p.name for p in rw.iterdir()) == ["sub"]
    assert sorted(p.name for p in secret.iterdir()) == ["key.txt"]


@needs_landlock
def test_restrict_filesystem_refuses_a_process_with_threads() -> None:
    code = """
    stop = threading.Event()
    threading.Thread(target=stop.wait).start()
    try:
        sandbox.restrict_filesystem(read_only=["/usr"], read_write=[])
    except sandbox.SandboxError as e:
        print(e.errno == errno.EBUSY, e)
    stop.set()
    print(sorted(os.listdir("/")) != [])  # nothing was restricted
    """
    out = ok(child(code))
    assert out[0].startswith("True ") and "single thread" in out[0]
    assert out[1] == "True"


@needs_landlock
def test_restrict_filesystem_names_a_path_it_cannot_open(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    code = """
    try:
        sandbox.restrict_filesystem(read_only=[sys.argv[1]], read_write=[])
    except sandbox.SandboxError as e:
        print(e.errno == errno.ELOOP, e.filename)
    """
    assert ok(child(code, str(loop))) == [f"True {loop}"]


# --- users -------------------------------------------------------------------------------


@needs_root
def test_drop_privileges_to_nobody(world_dir: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    (world_dir / "root-only.txt").write_text("root")
    (world_dir / "root-only.txt").chmod(0o600)
    (world_dir / "public.txt").write_text("public")
    (world_dir / "public.txt").chmod(0o644)
    code = """
    assert os.getgroups() == [0, 4242]
    sandbox.drop_privileges("nobody")
    print(os.getresuid(), os.getresgid(), os.getgroups())
    print(open(sys.argv[1] + "/public.txt").read())
    for what in (lambda: open(sys.argv[1] + "/root-only.txt"), lambda: os.setuid(0),
                 lambda: os.setgid(0), lambda: os.setgroups([0])):
        try:
            what()
        except PermissionError:
            print("denied")
    """
    uid, gid = nobody.pw_uid, nobody.pw_gid
    assert ok(child(code, str(world_dir), extra_groups=[0, 4242])) == [
        f"{(uid, uid, uid)} {(gid, gid, gid)} []",
        "public",
        "denied",
        "denied",
        "denied",
        "denied",
    ]


@needs_root
def test_drop_privileges_keeps_the_parent_death_signal() -> None:
    code = """
    sandbox.die_with_parent(os.getppid())
    sandbox.drop_privileges("nobody")  # the kernel clears PDEATHSIG on a change of uid
    print(sandbox._parent_death_signal() == signal.SIGKILL)
    """
    assert ok(child(code)) == ["True"]


@needs_root
def test_drop_privileges_names_the_user_it_cannot_become() -> None:
    code = """
    for user in ("no-such-user-here", "root"):
        try:
            sandbox.drop_privileges(user)
        except sandbox.SandboxError as e:
            print(e)
    sandbox.drop_privileges("nobody")
    try:
        sandbox.drop_privileges("nobody")
    except sandbox.SandboxError as e:
        print(e)
    """
    out = ok(child(code))
    assert len(out) == 3
    assert "no user 'no-such-user-here'" in out[0]
    assert "'root'" in out[1] and "it is root" in out[1]
    assert "'nobody'" in out[2] and "not root" in out[2]


# --- memory ------------------------------------------------------------------------------


def test_limit_memory_caps_the_address_space() -> None:
    code = """
    print(sandbox.limit_memory(256 * 1024 * 1024))
    print(resource.getrlimit(resource.RLIMIT_AS) == (256 << 20, 256 << 20))
    small = bytearray(10 * 1024 * 1024)  # fits
    try:
        big = bytearray(512 * 1024 * 1024)
    except MemoryError:
        print("MemoryError")
    """
    out = ok(child(code, env={"MALLOC_ARENA_MAX": "2"}))
    assert out[0].startswith("RLIMIT_AS 256 MiB (") and out[0].endswith(" MiB mapped now)")
    assert out[1:] == ["True", "MemoryError"]


def test_limit_memory_refuses_a_cap_below_what_is_mapped() -> None:
    code = """
    try:
        sandbox.limit_memory(1024 * 1024)
    except sandbox.SandboxError as e:
        print(e.errno == errno.EINVAL, "not above" in str(e))
    print(resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY)
    """
    assert ok(child(code)) == ["True True", "True"]


# --- parent death, core dumps ------------------------------------------------------------


def read_lines(pipe: object, count: int, timeout: float) -> list[str]:
    """``count`` lines from a text pipe, failing after ``timeout`` seconds."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < count:
        ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"timed out waiting for output; got {lines}"
        line = pipe.readline()  # type: ignore[attr-defined]
        assert line, f"EOF after {lines}"
        lines.append(line.strip())
    return lines


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped by its new parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def gone_within(seconds: float, pid: int) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


WORKER = PRELUDE + textwrap.dedent(
    """
    parent = int(sys.argv[1])
    while sys.argv[2] == "late" and os.getppid() == parent:
        time.sleep(0.01)  # the race: the parent died before we set the signal
    sandbox.die_with_parent(parent)
    print("armed", flush=True)
    time.sleep(60)
    """
)
SUPERVISOR = textwrap.dedent(
    """
    import os, subprocess, sys, time
    worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), sys.argv[2]])
    print(worker.pid, flush=True)
    if sys.argv[2] == "late":
        os._exit(0)
    time.sleep(60)
    """
)


def run_supervisor(when: str) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ, PYTHONPATH=str(HOST))
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, WORKER, when], stdout=subprocess.PIPE, text=True, env=env
    )
    (pid,) = read_lines(supervisor.stdout, 1, 30)
    return supervisor, int(pid)


def test_die_with_parent_kills_the_worker_when_its_parent_is_killed() -> None:
    supervisor, worker = run_supervisor("early")
    try:
        assert read_lines(supervisor.stdout, 1, 30) == ["armed"]
        supervisor.kill()
        supervisor.wait()
        assert gone_within(2, worker), "the worker outlived its parent by 2 s"
    finally:
        if alive(worker):
            os.kill(worker, signal.SIGKILL)
        supervisor.kill()
        supervisor.wait()
        assert supervisor.stdout is not None
        supervisor.stdout.close()


def test_die_with_parent_exits_when_the_parent_died_first() -> None:
    supervisor, worker = run_supervisor("late")
    try:
        assert supervisor.wait(timeout=30) == 0
        assert supervisor.stdout is not None
        assert supervisor.stdout.read() == "", "the worker went on without its parent"  # EOF
        assert gone_within(2, worker)
    finally:
        if alive(worker):
            os.kill(worker, signal.SIGKILL)
        assert supervisor.stdout is not None
        supervisor.stdout.close()


def test_no_core_dumps(tmp_path: Path) -> None:
    code = """
    sandbox.no_core_dumps()
    print(resource.getrlimit(resource.RLIMIT_CORE), sandbox.dumpable(), flush=True)
    os.abort()
    """
    proc = child(code, cwd=tmp_path)
    assert proc.returncode == -signal.SIGABRT, proc.stderr
    assert proc.stdout.splitlines() == ["(0, 0) False"]
    assert list(tmp_path.iterdir()) == []  # no core file (core_pattern may write it here)


# --- all of it, in the documented order --------------------------------------------------


@needs_root
@needs_landlock
def test_a_worker_start_up_then_loading_a_plugin(
    world_dir: Path, c_plugins: dict[str, Path]
) -> None:
    plugins, scratch = world_dir / "plugins", world_dir / "scratch"
    plugins.mkdir(mode=0o755)
    scratch.mkdir()
    shutil.chown(scratch, "nobody")
    library = shutil.copy(c_plugins["pricing-publisher"], plugins)
    code = """
    from pathlib import Path
    from cloacina_host.core import loader  # everything imported before the file system is closed

    library, scratch = sys.argv[1:3]
    sandbox.die_with_parent(os.getppid())
    sandbox.no_core_dumps()
    print(sandbox.limit_memory(256 << 20).split(" (")[0])
    sandbox.drop_privileges("nobody")
    system = ["/usr", "/lib", "/lib64", "/etc/ld.so.cache"]
    sandbox.restrict_filesystem(read_only=[os.path.dirname(library), *system], read_write=[scratch])
    plugin = loader.open_plugin(Path(library), scratch_dir=Path(scratch))
    print(plugin.name)
    plugin.close()
    print(sandbox._parent_death_signal() == signal.SIGKILL, os.getuid() != 0)
    print(resource.getrlimit(resource.RLIMIT_CORE), sandbox.dumpable())
    try:
        open("/etc/passwd")
    except PermissionError:
        print("confined")
    """
    out = ok(child(code, str(library), str(scratch), env={"MALLOC_ARENA_MAX": "2"}))
    assert out == [
        "RLIMIT_AS 256 MiB",
        "pricing-publisher",
        "True True",
        "(0, 0) False",
        "confined",
    ]
