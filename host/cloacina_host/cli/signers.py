"""``signer keygen|add|list|remove`` and ``package sign``: signed packages.

A key pair is made locally (``keygen``); the public half is trusted by a tenant on a server
(``add``, a tenant admin's business); ``package pack --sign`` and ``package sign`` write the
archive's detached ``.sig`` beside it, which ``package upload`` sends along.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import CloacinaError
from ..packaging.signing import SIG_SUFFIX, generate_key, key_id, load_private, load_public, sign
from .exits import to_stderr, user_errors
from .options import emit_json, remote, remote_options
from .tables import show, table, when


@click.group("signer")
def signer_group() -> None:
    """Make signing keys; manage the keys a tenant trusts to sign its packages."""


@signer_group.command("keygen")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("cloacina-signing.pem"),
    show_default=True,
    help="The private key's file (mode 0600); the public key goes to the same name + .pub.",
)
def signer_keygen(out: Path) -> None:
    """Make an Ed25519 key pair; prints the public key's file on stdout."""
    public = out.with_name(out.name + ".pub")
    with user_errors():
        for path in (out, public):
            if path.exists():
                raise click.ClickException(f"{path} exists; remove it or choose another --out")
        private_pem, public_pem = generate_key()
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem)
        public.write_bytes(public_pem)
    kid = key_id(load_public(public_pem))
    to_stderr(f"Wrote the private key to {out} (keep it secret) and the public key, id {kid}")
    click.echo(str(public))


def write_signature(archive: Path, key_file: Path) -> Path:
    """Sign ``archive`` with the private key in ``key_file``; the ``.sig`` beside it."""
    try:
        pem = key_file.read_bytes()
    except OSError as exc:
        raise CloacinaError(f"cannot read the signing key {key_file}: {exc.strerror}") from None
    signature = sign(archive.read_bytes(), load_private(pem, f"signing key {key_file}"))
    out = archive.with_name(archive.name + SIG_SUFFIX)
    out.write_bytes(signature.to_json())
    return out


@click.command("sign")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The private key (from `signer keygen`).",
)
def package_sign(archive: Path, key_file: Path) -> None:
    """Sign ARCHIVE: writes ARCHIVE.sig (uploaded along with it) and prints its name."""
    with user_errors():
        out = write_signature(archive, key_file)
    click.echo(out.name)


@signer_group.command("add")
@click.argument("name")
@click.argument("public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@remote_options
@click.pass_context
def signer_add(ctx: click.Context, name: str, public_key: Path) -> None:
    """Trust PUBLIC_KEY (a .pub file from `signer keygen`) as signer NAME in the tenant."""
    with remote(ctx) as r:
        body = r.client.post(
            r.path("signers"), {"name": name, "public_key": public_key.read_text()}
        )
    if r.json:
        emit_json(body)
        return
    click.echo(f"OK: signer {body['name']} added to tenant {body['tenant']} (key {body['key_id']})")


@signer_group.command("list")
@remote_options
@click.pass_context
def signer_list(ctx: click.Context) -> None:
    """List the keys the tenant trusts, and whether it accepts only signed packages."""
    with remote(ctx) as r:
        body = r.client.get_all(r.path("signers"))
    if r.json:
        emit_json(body)
        return
    rows = [[s["key_id"], s["name"], when(s.get("created_at"))] for s in body["items"]]
    show(table("signers", ["key id", "name", "added"], rows))
    required = "only signed packages" if body.get("require_signed") else "unsigned ones too"
    click.echo(f"tenant {r.tenant} accepts {required}")


@signer_group.command("remove")
@click.argument("key_id", metavar="KEY_ID")
@remote_options
@click.pass_context
def signer_remove(ctx: click.Context, key_id: str) -> None:
    """Stop trusting KEY_ID: its future uploads are refused (stored packages stay)."""
    with remote(ctx) as r:
        r.client.delete(r.path("signers", key_id))
    click.echo(f"OK: signer {key_id} removed from tenant {r.tenant}")
