"""``key create|list|revoke``: a tenant's API keys (a tenant admin key's business)."""

from __future__ import annotations

import click

from .exits import to_stderr
from .options import emit_json, remote, remote_options
from .tables import show, table, when


@click.group("key")
def key_group() -> None:
    """Manage a tenant's API keys (needs a tenant admin key)."""


@key_group.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["read", "write", "admin"]),
    default="read",
    show_default=True,
    help="What the key may do in the tenant.",
)
@remote_options
@click.pass_context
def key_create(ctx: click.Context, name: str, role: str) -> None:
    """Create key NAME in the tenant; prints the key (shown only this once) on stdout."""
    with remote(ctx) as r:
        body = r.client.post(r.path("keys"), {"name": name, "role": role})
    if r.json:
        emit_json(body)
        return
    click.echo(body["key"])
    to_stderr(
        f"Created key {body['name']} ({body['role']}) in tenant {body['tenant']}, "
        f"id {body['id']}; the key is not shown again."
    )


@key_group.command("list")
@remote_options
@click.pass_context
def key_list(ctx: click.Context) -> None:
    """List the tenant's keys (never the keys themselves)."""
    with remote(ctx) as r:
        items = r.client.get_all(r.path("keys"))["items"]
    if r.json:
        emit_json(items)
        return
    rows = [
        [k["id"], k["name"], k["role"], k.get("prefix"), when(k.get("created_at")), k["revoked"]]
        for k in items
    ]
    show(table("keys", ["id", "name", "role", "prefix", "created", "revoked"], rows))


@key_group.command("revoke")
@click.argument("key_id", metavar="ID")
@remote_options
@click.pass_context
def key_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke key ID (see `key list`)."""
    with remote(ctx) as r:
        body = r.client.delete(r.path("keys", key_id))
    if r.json:
        emit_json(body)
    else:
        click.echo(f"OK: key {key_id} revoked")
