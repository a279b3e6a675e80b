"""The console's static files as the server serves them (no browser: test_console_browser.py
drives the page itself)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from server_fixtures import Server, assert_error

CONSOLE = Path(__file__).resolve().parents[1] / "host" / "cloacina_host" / "server" / "console"


def test_ui_redirects_relatively_and_serves_the_page_without_a_key(server: Server) -> None:
    redirect = httpx.get(server.url + "/ui", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "ui/"  # relative: right behind any prefix too
    page = httpx.get(server.url + "/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == (CONSOLE / "index.html").read_text()
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers.get("x-request-id")


def test_assets_have_their_types(server: Server) -> None:
    for name, kind in (
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
        ("vendor/dagre.min.js", "text/javascript; charset=utf-8"),
    ):
        answer = httpx.get(f"{server.url}/ui/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == kind, name
        assert answer.content == (CONSOLE / name).read_bytes(), name


def test_nothing_else_is_served(server: Server) -> None:
    for path in (
        "/ui/nope.js",
        "/ui/vendor",
        "/ui/vendor/README.md",  # not a type the console serves
        "/ui/vendor/dagre.LICENSE",
        "/ui/..%2fconsole.py",
        "/ui/%2e%2e/%2e%2e/routes.py",
    ):
        assert_error(httpx.get(server.url + path), 404, "not_found")


def test_the_page_names_only_relative_urls() -> None:
    """Behind a path prefix, a root-relative or absolute URL would miss the server."""
    html = (CONSOLE / "index.html").read_text()
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert urls, "no URLs found"
    for url in urls:
        assert not url.startswith(("/", "http:", "https:", "//")), url
    script = (CONSOLE / "app.js").read_text()
    assert "fetch(BASE + " in script
    assert not re.search(r"""fetch\(\s*["'`]/""", script)
    assert not re.search(r"""new WebSocket\(\s*["'`]""", script)
