"""``cloacinactl completion bash|zsh|fish``: click's completion scripts, and the bash one,
sourced in a real bash, completes commands through click's completion protocol."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOACINA_", "_CLOACINA"))}
    path = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "PATH": path, "CLOACINA_HOME": str(tmp_path), **extra}


def _complete(tmp_path: Path, words: str, cword: int) -> list[str]:
    """What click answers the bash script with (``type,value`` lines), for COMP_WORDS."""
    env = _env(
        tmp_path, _CLOACINACTL_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(cword)
    )
    proc = subprocess.run(
        [sys.executable, "-m", "cloacina_host"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_the_completion_protocol_answers(tmp_path: Path) -> None:
    assert _complete(tmp_path, "cloacinactl pac", 1) == ["plain,package"]
    subcommands = _complete(tmp_path, "cloacinactl package ", 2)
    assert {"plain,list", "plain,upload", "plain,delete"} <= set(subcommands)
    outputs = _complete(tmp_path, "cloacinactl package list -o ", 4)
    assert outputs == ["plain,table", "plain,json", "plain,yaml", "plain,id"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_script_completes_in_bash(tmp_path: Path) -> None:
    if not (BIN / "cloacinactl").exists():
        pytest.skip("the cloacinactl script is not installed beside this interpreter")
    script = subprocess.run(
        [sys.executable, "-m", "cloacina_host", "completion", "bash"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (tmp_path / "cloacinactl.bash").write_text(script)
    probe = (
        f"source {tmp_path / 'cloacinactl.bash'}\n"
        "complete -p cloacinactl\n"
        "COMP_WORDS=(cloacinactl pac); COMP_CWORD=1; COMPREPLY=()\n"
        "_cloacinactl_completion cloacinactl\n"
        'printf "reply:%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "complete -o nosort -F _cloacinactl_completion cloacinactl"
    assert lines[1:] == ["reply:package"]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("zsh", "#compdef cloacinactl"),
        ("fish", "complete --no-files --command cloacinactl"),
    ],
)
def test_zsh_and_fish_scripts(tmp_path: Path, shell: str, marker: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cloacina_host", "completion", shell],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout and "_CLOACINACTL_COMPLETE" in proc.stdout
    assert f"{shell}_complete" in proc.stdout


def test_an_unknown_shell_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cloacina_host", "completion", "tcsh"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in proc.stderr
