"""``cloacinactl completion bash|zsh|fish``: the shell completion script, from click's own
completion machinery (the script calls ``cloacinactl`` back with ``_CLOACINACTL_COMPLETE``
set, and click answers with the commands, options and choices that fit)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

PROG = "cloacinactl"
COMPLETE_VAR = "_CLOACINACTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion_command(ctx: click.Context, shell: str) -> None:
    """Print SHELL's completion script for cloacinactl (docs/cli.md shows how to install it):

    \b
      eval "$(cloacinactl completion bash)"    # in ~/.bashrc
      eval "$(cloacinactl completion zsh)"     # in ~/.zshrc
      cloacinactl completion fish > ~/.config/fish/completions/cloacinactl.fish
    """
    cls = get_completion_class(shell)
    if cls is None:  # click knows all three; a guard against a click without one
        raise click.UsageError(f"no completion for shell {shell!r}")
    root = ctx.find_root().command
    click.echo(cls(root, {}, PROG, COMPLETE_VAR).source())
