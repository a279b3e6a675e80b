"""The operator's console: static files served at ``/ui/`` (docs/console.md).

The page itself needs no key (it holds nothing secret); every API call it makes carries the
key the operator signs in with. Every URL the page builds is relative to where it was
loaded, so it works behind a reverse proxy that mounts the server under a path prefix; the
``/ui`` redirect is relative for the same reason."""

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from .responses import not_found

ROOT = Path(__file__).with_name("console")

#: What the page may load and where it may connect: its own files and its own server only
#: (``'self'`` covers ``ws:``/``wss:`` to the same host), nothing inline, no frames.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",  # revalidated: an upgraded server's page is seen at once
}

router = APIRouter(include_in_schema=False)


def asset(relative: str) -> Path | None:
    """The console file at ``relative``, or None when there is none (or it escapes ROOT)."""
    path = (ROOT / relative).resolve()
    if ROOT.resolve() not in path.parents or not path.is_file():
        return None
    if path.suffix not in TYPES:
        return None
    return path


def _file(path: Path) -> Response:
    return FileResponse(path, media_type=TYPES[path.suffix], headers=HEADERS)


@router.get("/ui")
async def console_redirect() -> Response:
    # relative, so that behind a prefix (/cloacina/ui) it lands on /cloacina/ui/
    return Response(status_code=307, headers={"location": "ui/"})


@router.get("/ui/")
async def console_index() -> Response:
    return _file(ROOT / "index.html")


@router.get("/ui/{relative:path}")
async def console_asset(relative: str) -> Response:
    path = asset(relative)
    if path is None:
        raise not_found(f"console file '{relative}'")
    return _file(path)
