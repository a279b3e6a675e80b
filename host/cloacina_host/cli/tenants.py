"""``tenant create|list|delete`` (a platform admin key's business), ``tenant restart`` and
``tenant worker`` (a tenant's worker process)."""

from __future__ import annotations

from typing import Any

import click

from .client import segment
from .options import emit_json, remote, remote_options
from .tables import show, table, when


@click.group("tenant")
def tenant_group() -> None:
    """Manage tenants (needs a platform admin key)."""


@tenant_group.command("create")
@click.argument("name")
@click.option("--description", default="", help="A line about the tenant.")
@remote_options
@click.pass_context
def tenant_create(ctx: click.Context, name: str, description: str) -> None:
    """Create tenant NAME."""
    with remote(ctx, tenant=False) as r:
        body = r.client.post("/v1/tenants", {"name": name, "description": description})
    if r.json:
        emit_json(body)
    else:
        click.echo(f"OK: tenant {body['name']} created")


@tenant_group.command("list")
@remote_options
@click.pass_context
def tenant_list(ctx: click.Context) -> None:
    """List the tenants."""
    with remote(ctx, tenant=False) as r:
        items = r.client.get_all("/v1/tenants")["items"]
    if r.json:
        emit_json(items)
        return
    rows = [[t["name"], t.get("description"), when(t.get("created_at"))] for t in items]
    show(table("tenants", ["name", "description", "created"], rows))


@tenant_group.command("set")
@click.argument("name")
@click.option(
    "--require-signed/--allow-unsigned",
    "require_signed",
    default=None,
    help="Accept only packages signed by a trusted signer (`signer add`), or unsigned too.",
)
@click.option(
    "--call-deadline",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    default=None,
    help="Seconds one native call of the tenant may run.",
)
@remote_options
@click.pass_context
def tenant_set(
    ctx: click.Context, name: str, require_signed: bool | None, call_deadline: float | None
) -> None:
    """Change tenant NAME's settings (a platform admin's business); prints them."""
    body: dict[str, Any] = {}
    if require_signed is not None:
        body["require_signed"] = require_signed
    if call_deadline is not None:
        body["call_deadline_seconds"] = call_deadline
    if not body:
        raise click.UsageError(
            "nothing to set: give --require-signed/--allow-unsigned or --call-deadline"
        )
    with remote(ctx, tenant=False) as r:
        out = r.client.patch(f"/v1/tenants/{segment(name)}", body)
    if r.json:
        emit_json(out)
        return
    deadline = out.get("call_deadline_seconds")
    click.echo(
        f"OK: tenant {name}: "
        + ("only signed packages" if out.get("require_signed") else "unsigned packages allowed")
        + f"; call deadline {'the server default' if deadline is None else f'{deadline:g}s'}"
    )


@tenant_group.command("delete")
@click.argument("name")
@remote_options
@click.pass_context
def tenant_delete(ctx: click.Context, name: str) -> None:
    """Delete tenant NAME: its keys are revoked and its packages unloaded."""
    with remote(ctx, tenant=False) as r:
        body = r.client.delete(f"/v1/tenants/{segment(name)}")
    if r.json:
        emit_json(body)
    else:
        click.echo(f"OK: tenant {name} deleted")


def _worker_lines(body: dict[str, Any]) -> list[str]:
    lines = [
        f"worker: {body['state']}" + (f" (pid {body['pid']})" if body.get("pid") else ""),
        f"restarts: {body['restarts']}, straight failures: {body['failures']}",
        f"call deadline: {body['call_deadline_seconds']:g}s",
    ]
    if body.get("last_death"):
        lines.append(f"last death: {body['last_death']}")
    return lines


@tenant_group.command("restart")
@click.argument("name", required=False)
@remote_options
@click.pass_context
def tenant_restart(ctx: click.Context, name: str | None) -> None:
    """Restart tenant NAME's worker process and reload its packages.

    Also what brings a tenant back once it is marked crashed (its worker failed five times
    in a row). Needs an admin key of the tenant or a platform admin key."""
    with remote(ctx, tenant=name is None) as r:
        body = r.client.post(f"/v1/tenants/{segment(name)}/restart" if name else r.path("restart"))
    if r.json:
        emit_json(body)
        return
    click.echo(f"OK: the worker of tenant {body['tenant']} restarted")
    for line in _worker_lines(body):
        click.echo(f"  {line}")


@tenant_group.command("worker")
@click.argument("name", required=False)
@remote_options
@click.pass_context
def tenant_worker(ctx: click.Context, name: str | None) -> None:
    """Show tenant NAME's worker: its state, restarts and why it last died."""
    with remote(ctx, tenant=name is None) as r:
        body = r.client.get(f"/v1/tenants/{segment(name)}/worker" if name else r.path("worker"))
    if r.json:
        emit_json(body)
        return
    for line in _worker_lines(body):
        click.echo(line)
