"""``reactor fire|pause|resume`` and ``accumulator push``: making a tenant's reactors fire."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from .options import emit_json, remote, remote_options
from .tables import text_of


@click.group("reactor")
def reactor_group() -> None:
    """Act on a reactor of the tenant."""


def _inputs(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for value in values:
        source, sep, text = value.partition("=")
        if not sep or not source:
            raise click.BadParameter(f"{value!r}: use SOURCE=<json>")
        try:
            inputs[source] = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise click.BadParameter(f"{source}: not valid JSON ({exc})") from None
    return inputs


@reactor_group.command("fire")
@click.argument("name")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="SOURCE=JSON",
    callback=_inputs,
    help="Fire with this value for accumulator SOURCE instead of its last boundary (repeatable).",
)
@remote_options
@click.pass_context
def reactor_fire(ctx: click.Context, name: str, inputs: dict[str, Any]) -> None:
    """Fire reactor NAME now and print each subscriber graph's outputs."""
    with remote(ctx) as r:
        body = r.client.post(r.path("reactors", name, "fire"), {"inputs": inputs or None})
    if r.json:
        emit_json(body)
        return
    runs = body.get("runs") or []
    if not runs:
        click.echo(f"OK: reactor {name} fired; it has no subscribers")
    for run in runs:
        if run.get("error"):
            click.echo(f"{run['graph']}: failed: {run['error']}")
        else:
            click.echo(f"{run['graph']}: {text_of(run.get('outputs'))}")


@reactor_group.command("pause")
@click.argument("name")
@remote_options
@click.pass_context
def reactor_pause(ctx: click.Context, name: str) -> None:
    """Stop reactor NAME firing (its accumulators still take events)."""
    with remote(ctx) as r:
        body = r.client.post(r.path("reactors", name, "pause"), {})
    if r.json:
        emit_json(body)
    else:
        click.echo(f"OK: reactor {name} paused")


@reactor_group.command("resume")
@click.argument("name")
@remote_options
@click.pass_context
def reactor_resume(ctx: click.Context, name: str) -> None:
    """Let reactor NAME fire again (at once when its criteria hold)."""
    with remote(ctx) as r:
        body = r.client.post(r.path("reactors", name, "resume"), {})
    if r.json:
        emit_json(body)
    else:
        click.echo(f"OK: reactor {name} resumed; it fired {body.get('fires')} time(s)")


@click.group("accumulator")
def accumulator_group() -> None:
    """Push events to an accumulator of the tenant."""


@accumulator_group.command("push")
@click.argument("name")
@click.argument("event", metavar="JSON", default="-")
@click.option(
    "--idempotency-key",
    default=None,
    metavar="KEY",
    help="With the JetStream event plane: the event's id; the same key again is not applied twice.",
)
@remote_options
@click.pass_context
def accumulator_push(
    ctx: click.Context, name: str, event: str, idempotency_key: str | None
) -> None:
    """Push one JSON event to accumulator NAME (JSON `-` or omitted: read it from stdin)."""
    text = sys.stdin.read() if event == "-" else event
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc})", param_hint="JSON") from None
    with remote(ctx) as r:
        body = r.client.request(
            "POST",
            r.path("accumulators", name, "events"),
            content=text.encode(),
            headers={
                "Content-Type": "application/json",
                **({"Idempotency-Key": idempotency_key} if idempotency_key else {}),
            },
        )
    if r.json:
        emit_json(body)
        return
    fires = body.get("fires")
    if fires is None and "sequence" in body:  # the JetStream event plane: its owner fires
        duplicate = " (a repeat: already accepted)" if body.get("duplicate") else ""
        click.echo(
            f"OK: event accepted for {name} as sequence {body['sequence']}{duplicate}; "
            f"reactor {body.get('reactor')} fires on its owner"
        )
        return
    click.echo(f"OK: event pushed to {name}; the reactor fired {fires or 0} time(s)")
