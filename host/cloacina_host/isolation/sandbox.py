"""OS primitives a tenant worker applies to itself at start, before it loads any plugin.

Every function here changes the calling process for good: there is no undo, so the tests run
each one in a fresh child interpreter. None of them logs; they return or raise what the
caller needs to log.

Order in a worker's start-up (the parent passes its pid, the user and the paths)::

    die_with_parent(parent_pid)   # first: a supervisor that dies during set-up takes us along
    no_core_dumps()
    limit_memory(max_bytes)       # as root, so the hard limit is one we can no longer raise
    drop_privileges(user)         # keeps the parent-death signal, which setuid would clear
    restrict_filesystem(ro, rw)   # last, so the rules are opened as the user that uses them
    ... import what the worker needs, then open the tenant's plugins ...

:func:`restrict_filesystem` must run while the process has a single thread (Landlock, up to
ABI 7, restricts the calling thread and the threads it starts afterwards); it refuses
otherwise. Files already open are not affected by it: start the worker with ``close_fds``.

Bindings: all of this is the standard library (:mod:`resource`, :mod:`os`, :mod:`pwd`) plus
:mod:`ctypes` for two documented kernel interfaces the standard library lacks:

* ``prctl(2)`` (``PR_SET_PDEATHSIG``, ``PR_SET_NO_NEW_PRIVS``, ``PR_SET_DUMPABLE``): the
  PyPI bindings are ``python-prctl`` (last release 2020) and ``prctl`` (2010), both
  unmaintained C extensions, for a few calls of one libc function;
* Landlock (``landlock_create_ruleset``/``landlock_add_rule``/``landlock_restrict_self``):
  the PyPI ``landlock`` package is a pre-release (1.0.0.dev5) and the other bindings
  (``landlockpy``, ``py-landlock``) are recent releases without a track record, so none is
  a well-kept library; the interface is three syscalls and two small structs, documented in
  ``landlock(7)`` and the kernel's ``Documentation/userspace-api/landlock.rst`` and
  ``include/uapi/linux/landlock.h``, which the wrapper follows.

Not here: network and IPC confinement (Landlock's TCP rules from ABI 4 and its signal and
abstract-socket scopes from ABI 6), seccomp, namespaces. A memory cgroup (a harder and more
precise cap than ``RLIMIT_AS``) is left out on purpose: it belongs to the supervisor, which
must own a delegated cgroup subtree to create one per worker; it is not something a worker
can do to itself cleanly.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import pwd
import resource
import signal
import stat
import threading
from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "AccessRights",
    "SandboxError",
    "access_rights",
    "die_with_parent",
    "drop_capabilities",
    "drop_privileges",
    "dumpable",
    "landlock_supported",
    "limit_memory",
    "no_core_dumps",
    "restrict_filesystem",
]

MiB = 1024 * 1024


class SandboxError(OSError):
    """A sandbox primitive could not be applied; ``errno`` and ``filename`` say what failed.

    The process may be partly restricted when this is raised: the worker should exit."""


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str, filename: str | None = None) -> int:
    """``result`` of a libc call, or :class:`SandboxError` from ``errno`` when it is -1."""
    if result == -1:
        err = ctypes.get_errno()
        raise SandboxError(err, f"{what}: {os.strerror(err)}", filename)
    return result


# --- prctl(2) -----------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_PR_GET_PDEATHSIG = 2
_PR_GET_DUMPABLE = 3
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38


def _prctl(option: int, arg2: int = 0) -> int:
    args = (ctypes.c_ulong(arg2), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    return _check(int(_libc.prctl(ctypes.c_int(option), *args)), f"prctl({option})")


def _parent_death_signal() -> int:
    """The signal this process gets when its parent dies (``PR_GET_PDEATHSIG``), 0 for none."""
    sig = ctypes.c_int(0)
    _prctl(_PR_GET_PDEATHSIG, ctypes.addressof(sig))
    return sig.value


def dumpable() -> bool:
    """Whether the process may dump core and be ptrace'd by its own user (``PR_GET_DUMPABLE``)."""
    return _prctl(_PR_GET_DUMPABLE) == 1


# --- parent death, core dumps, memory ------------------------------------------------------


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies; exit now if it already has.

    ``parent_pid`` is the pid the parent passed down (``os.getpid()`` in the parent). Setting
    ``PR_SET_PDEATHSIG`` only covers deaths from now on, so when ``os.getppid()`` is no longer
    ``parent_pid`` (the parent died first and we were re-parented to init or a subreaper)
    this calls ``os._exit(1)``: no clean-up runs, as if the signal had come in time.

    The trap: the signal fires when the parent *thread* that forked us exits, not the parent
    process. The supervisor must therefore spawn workers from a thread that lives as long as
    it does (its main thread, or one dedicated spawner thread), never from a short-lived
    thread such as a ``run_in_executor`` worker, or a worker is killed when that thread ends.
    Also: the setting is cleared by a change of effective or filesystem uid/gid
    (:func:`drop_privileges` re-arms it), by ``execve`` of a set-uid binary, and it is not
    inherited by the worker's own children.
    """
    if parent_pid <= 0:
        raise ValueError(f"parent_pid must be the parent's pid, not {parent_pid}")
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def no_core_dumps() -> None:
    """Never write a core dump of this process: ``RLIMIT_CORE`` 0 and not dumpable.

    A core dump of a worker would hold the tenant's data and secrets. ``RLIMIT_CORE`` (soft
    and hard) 0 stops core files written by the kernel; ``PR_SET_DUMPABLE`` 0 also stops
    dumps to a ``core_pattern`` pipe handler, which ignores ``RLIMIT_CORE``, and keeps other
    processes of the same user from ptrace-attaching to the worker (its ``/proc/PID`` files
    become root's). A later ``execve`` makes the process dumpable again; a change of uid
    leaves it at ``fs.suid_dumpable``, which is 0 by default.
    """
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _prctl(_PR_SET_DUMPABLE, 0)


def _address_space_in_use() -> int | None:
    """Bytes of address space this process maps now (``VmSize``, from ``/proc/self/statm``);
    None when ``/proc`` cannot be read (after :func:`restrict_filesystem`, say)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[0])
    except OSError:
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def limit_memory(max_bytes: int) -> str:
    """Cap this process's address space at ``max_bytes`` (``RLIMIT_AS``, soft and hard).

    Afterwards an allocation that would map more fails: Python raises ``MemoryError``, a
    thread fails to start, a plugin's ``malloc`` returns NULL (which Rust turns into an
    abort). An already lower hard limit is kept, never loosened. Returns what was applied,
    e.g. ``"RLIMIT_AS 512 MiB (32 MiB mapped now)"``; raises :class:`SandboxError` when the
    cap is not above what the process maps already (checked only while ``/proc`` is readable,
    so call this before :func:`restrict_filesystem`).

    ``RLIMIT_AS`` counts address space, not memory: reserved and untouched mappings count.
    Measured on Linux 6.18 x86_64 with CPython 3.11 (``VmSize``): a bare interpreter maps
    13 MiB, with ``cffi``, ``orjson`` and ``structlog`` imported 32 MiB, with
    ``cloacina_host`` imported and a C plugin loaded 36 MiB, with ``cloacina_host.app``
    50 MiB. Every further thread adds its stack (8 MiB, from ``RLIMIT_STACK``) and, with
    glibc's default of up to 8 malloc arenas per core, a 64 MiB arena reservation of its
    own: 16 threads that each ``malloc`` mapped 1120 MiB, against 224 MiB with
    ``MALLOC_ARENA_MAX=2``. So start the worker with ``MALLOC_ARENA_MAX=2`` in its
    environment (glibc reads it once, at the first ``malloc``), and size the cap as
    interpreter (about 50 MiB) + 64 MiB for the second arena + 8 MiB per thread + the
    plugins' peak: 256 MiB leaves about 110 MiB to the plugins of a worker with 4 threads.
    """
    used = _address_space_in_use()
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = max_bytes if hard == resource.RLIM_INFINITY else min(max_bytes, hard)
    if used is not None and limit <= used:
        raise SandboxError(
            errno.EINVAL,
            f"RLIMIT_AS of {limit / MiB:g} MiB is not above the {used / MiB:.0f} MiB "
            "this process maps already",
        )
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError) as e:
        raise SandboxError(errno.EPERM, f"cannot set RLIMIT_AS to {limit} bytes: {e}") from e
    applied = f"RLIMIT_AS {limit / MiB:g} MiB"
    return applied if used is None else f"{applied} ({used / MiB:.0f} MiB mapped now)"


# --- users ---------------------------------------------------------------------------------


def _capabilities_left() -> bool:
    """Whether the permitted, effective or ambient capability set is not empty (False when
    ``/proc/self/status`` cannot be read)."""
    try:
        with open("/proc/self/status") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    sets = ("CapPrm:", "CapEff:", "CapAmb:")
    return any(int(line.split()[1], 16) for line in lines if line.startswith(sets))


def drop_privileges(user: str) -> None:
    """Become ``user`` for good: no supplementary groups, the user's uid and primary gid.

    Needs root (raises :class:`SandboxError` otherwise, and for an unknown user or one
    whose uid is 0). Real, effective and saved ids are all set (``setresgid``/``setresuid``),
    which also clears every capability, then checked: the ids must read back, no capability
    may be left (read from ``/proc/self/status``) and ``setuid(0)``/``setgid(0)`` must fail,
    or this raises. The parent-death signal, which
    the kernel clears on a change of uid, is set again (exiting like :func:`die_with_parent`
    if the parent died in between). ``HOME`` and the rest of the environment are left alone.
    """
    euid = os.geteuid()
    if euid != 0:
        raise SandboxError(
            errno.EPERM, f"cannot drop privileges to user {user!r}: not root (euid {euid})"
        )
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SandboxError(errno.ENOENT, f"cannot drop privileges: no user {user!r}") from None
    uid, gid = entry.pw_uid, entry.pw_gid
    if uid == 0:
        raise SandboxError(errno.EINVAL, f"cannot drop privileges to user {user!r}: it is root")
    death_signal, parent = _parent_death_signal(), os.getppid()
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as e:
        raise SandboxError(e.errno, f"cannot drop privileges to user {user!r}: {e}") from e
    if death_signal:
        _prctl(_PR_SET_PDEATHSIG, death_signal)
        if os.getppid() != parent:
            os._exit(1)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) or os.getgroups():
        raise SandboxError(errno.EPERM, f"dropping privileges to user {user!r} did not stick")
    if _capabilities_left():
        raise SandboxError(errno.EPERM, f"user {user!r} still holds capabilities")
    for regain in (os.setuid, os.setgid):
        try:
            regain(0)
        except PermissionError:
            continue
        raise SandboxError(errno.EPERM, f"user {user!r} can still {regain.__name__}(0)")


_PR_CAPBSET_DROP = 24
_PR_SET_SECUREBITS = 28
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SECBIT_NOROOT_AND_LOCKED = 0b11  # SECBIT_NOROOT | SECBIT_NOROOT_LOCKED
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_CAPSET = 126  # x86_64; other architectures: see drop_capabilities


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities() -> None:
    """Keep the uid but give up every capability, for good (a worker of a root server that
    has no ``--worker-user``).

    Root without capabilities still owns root's files, but can no longer override file
    permissions, load kernel modules, trace other processes or change ids. In order: the
    ``SECBIT_NOROOT`` securebits (locked), so that executing a program does not hand uid 0
    its capabilities back; every capability out of the bounding set; the ambient set
    cleared; then ``capset`` with empty effective, permitted and inheritable sets. Checked
    afterwards: raises :class:`SandboxError` when a capability is left. A process without
    capabilities to begin with is left as it is. x86_64 only (the ``capset`` number).
    """
    if not _capabilities_left():
        return
    if platform.machine() not in ("x86_64", "AMD64"):
        raise SandboxError(errno.ENOSYS, "drop_capabilities knows capset only on x86_64")
    _prctl(_PR_SET_SECUREBITS, _SECBIT_NOROOT_AND_LOCKED)
    for cap in range(64):  # until the kernel knows no more (EINVAL)
        if int(_libc.prctl(ctypes.c_int(_PR_CAPBSET_DROP), ctypes.c_ulong(cap), 0, 0, 0)) != 0:
            if ctypes.get_errno() == errno.EINVAL and cap > 0:
                break
            _check(-1, f"prctl(PR_CAPBSET_DROP, {cap})")
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_syscall(_SYS_CAPSET, ctypes.addressof(header), ctypes.addressof(data)), "capset")
    if _capabilities_left():
        raise SandboxError(errno.EPERM, "capabilities are left after dropping them all")


# --- Landlock ------------------------------------------------------------------------------

# The Landlock syscalls have these numbers on every architecture with the unified syscall
# table (all but alpha, ia64 and mips, where this module reports Landlock as unavailable).
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_UNIFIED_SYSCALLS = not platform.machine().startswith(("alpha", "ia64", "mips"))

_LANDLOCK_CREATE_RULESET_VERSION = 1 << 0
_SCOPE_SIGNAL = 1 << 1  # LANDLOCK_SCOPE_SIGNAL, ABI 6
_LANDLOCK_RULE_PATH_BENEATH = 1

# LANDLOCK_ACCESS_FS_* (include/uapi/linux/landlock.h)
_EXECUTE = 1 << 0
_WRITE_FILE = 1 << 1
_READ_FILE = 1 << 2
_READ_DIR = 1 << 3
_REMOVE_DIR = 1 << 4
_REMOVE_FILE = 1 << 5
_MAKE_CHAR = 1 << 6
_MAKE_DIR = 1 << 7
_MAKE_REG = 1 << 8
_MAKE_SOCK = 1 << 9
_MAKE_FIFO = 1 << 10
_MAKE_BLOCK = 1 << 11
_MAKE_SYM = 1 << 12
_REFER = 1 << 13  # ABI 2
_TRUNCATE = 1 << 14  # ABI 3
_IOCTL_DEV = 1 << 15  # ABI 5

# Each ABI's file-system rights; ABIs 4, 6 and 7 added network rules, scopes and audit flags.
_FS_RIGHTS_SINCE = {1: (1 << 13) - 1, 2: _REFER, 3: _TRUNCATE, 5: _IOCTL_DEV}
# The only rights a rule on a file (rather than a directory) may carry.
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
_READ_ONLY = _EXECUTE | _READ_FILE | _READ_DIR
# Read, write, create, remove: no execute, no device nodes, no device ioctls.
_READ_WRITE = (
    _READ_FILE
    | _READ_DIR
    | _WRITE_FILE
    | _TRUNCATE
    | _REMOVE_DIR
    | _REMOVE_FILE
    | _MAKE_DIR
    | _MAKE_REG
    | _MAKE_SOCK
    | _MAKE_FIFO
    | _MAKE_SYM
    | _REFER
)


class _RulesetAttr(ctypes.Structure):
    """``struct landlock_ruleset_attr``; the kernel reads as much of it as its ABI knows."""

    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),  # ABI 4
        ("scoped", ctypes.c_uint64),  # ABI 6
    ]


class _PathBeneathAttr(ctypes.Structure):
    """``struct landlock_path_beneath_attr`` (packed: 12 bytes)."""

    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall(number: int, *args: int) -> int:
    return int(_libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args)))


def landlock_supported() -> int:
    """The running kernel's Landlock ABI version, 0 when Landlock cannot be used.

    0 covers a kernel without Landlock (``ENOSYS``), one with Landlock not enabled at boot
    (``EOPNOTSUPP``), a seccomp filter refusing the call, and an architecture whose syscall
    numbers this module does not know. Has no effect on the process.
    """
    if not _UNIFIED_SYSCALLS:
        return 0
    version = _syscall(_SYS_LANDLOCK_CREATE_RULESET, 0, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return max(version, 0)


class AccessRights(NamedTuple):
    """The Landlock file-system rights :func:`restrict_filesystem` uses for one ABI."""

    handled: int  # everything the ruleset denies unless a rule grants it
    read_only: int  # granted beneath a read-only path
    read_write: int  # granted beneath a read-write path


def access_rights(abi: int) -> AccessRights:
    """The rights for Landlock ABI ``abi``: those it does not know are masked out.

    Every right the ABI knows is handled, so anything not granted is denied; rights from
    later ABIs are unknown to the running kernel and would make it refuse the ruleset.
    """
    handled = 0
    for since, rights in _FS_RIGHTS_SINCE.items():
        if abi >= since:
            handled |= rights
    return AccessRights(handled, _READ_ONLY & handled, _READ_WRITE & handled)


def _single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return threading.active_count() == 1


def _add_rule(ruleset: int, path: str | os.PathLike[str], allowed: int) -> None:
    """Grant ``allowed`` beneath ``path`` (only the file rights if it is a file); skip it if
    it does not exist."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as e:
        raise SandboxError(
            e.errno, f"landlock: cannot open a rule's path: {e.strerror}", os.fspath(path)
        ) from e
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            allowed &= _FILE_RIGHTS
        rule = _PathBeneathAttr(allowed_access=allowed, parent_fd=fd)
        _check(
            _syscall(
                _SYS_LANDLOCK_ADD_RULE,
                ruleset,
                _LANDLOCK_RULE_PATH_BENEATH,
                ctypes.addressof(rule),
                0,
            ),
            "landlock_add_rule",
            os.fspath(path),
        )
    finally:
        os.close(fd)


def restrict_filesystem(
    read_only: Sequence[str | os.PathLike[str]],
    read_write: Sequence[str | os.PathLike[str]],
    *,
    scope_signals: bool = False,
) -> int:
    """Confine this process's file-system access with Landlock; returns the ABI used.

    Afterwards the process may only read files, list directories and execute files beneath
    ``read_only`` paths, and only read, list, write, truncate, create (files, directories,
    symlinks, sockets, fifos), remove, rename and link beneath ``read_write`` paths (not
    execute, not create device nodes, not ioctl devices). Everything else Landlock can deny
    is denied, also for children. A path may be a directory (the rule covers all beneath
    it) or a file (then only its file rights apply); symlinks are followed, paths that do
    not exist are skipped.
    Still allowed anywhere (Landlock cannot deny them): ``stat``, ``chdir``, ``chmod``,
    ``chown``, ``access``, and everything through descriptors opened before.

    Rights the running kernel's ABI does not know are masked out (``REFER`` needs ABI 2,
    ``TRUNCATE`` 3, device ``IOCTL_DEV`` 5): on ABI 1 renames and links across directories
    always fail, below ABI 3 ``truncate(2)`` by path is not confined, below ABI 5 ioctls on
    devices are not. Sets ``PR_SET_NO_NEW_PRIVS`` first, as Landlock requires without
    ``CAP_SYS_ADMIN``; that also stops ``execve`` from gaining privileges via set-uid bits.

    Returns 0 and changes nothing when Landlock is unavailable (:func:`landlock_supported`):
    the caller decides whether to run unconfined. Raises :class:`SandboxError`, naming the
    path, when a rule cannot be added, or when the process has more than one thread (other
    threads would stay unconfined).

    With ``scope_signals`` (Landlock ABI 6 and later; ignored before) the process can no
    longer send signals to processes outside its Landlock domain: a worker's plugin cannot
    kill the server or another tenant's worker, even as the same user.
    """
    abi = landlock_supported()
    if abi == 0:
        return 0
    if not _single_threaded():
        raise SandboxError(errno.EBUSY, "landlock: the process must have a single thread")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    rights = access_rights(abi)
    scoped = _SCOPE_SIGNAL if scope_signals and abi >= 6 else 0
    attr = _RulesetAttr(handled_access_fs=rights.handled, scoped=scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else ctypes.sizeof(attr)
    ruleset = _check(
        _syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.addressof(attr), size, 0),
        "landlock_create_ruleset",
    )
    try:
        for path in read_only:
            _add_rule(ruleset, path, rights.read_only)
        for path in read_write:
            _add_rule(ruleset, path, rights.read_write)
        _check(_syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi
