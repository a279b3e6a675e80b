"""``tenant create|list|delete`` (a platform admin key's business)."""

from __future__ import annotations

import click

from .client import segment
from .options import remote, remote_options
from .tables import emit_json, show, table, when


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
        items = r.client.get("/v1/tenants")["items"]
    if r.json:
        emit_json(items)
        return
    rows = [[t["name"], t.get("description"), when(t.get("created_at"))] for t in items]
    show(table("tenants", ["name", "description", "created"], rows))


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
