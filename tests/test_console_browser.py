"""The operator's console in a real browser: headless Debian Chromium driven by Selenium,
against a real ``cloacina-server`` with the tutorial's C packages (docs/console.md).

One browser for the session. Screenshots go to ``$CLOACINA_SCREENSHOTS`` (or a temporary
directory, printed). Every test ends by reading the browser's console log and fails on any
SEVERE entry it did not expect (the one expected: the guard's 409 on the refused delete)."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from console_proxy import PrefixProxy
from server_fixtures import BOOT, GUARD, NOT_LOADED, Server, eventually
from skips import missing_tool

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
KEY_SLOT = "cloacina.console.key"
WIDE, PHONE = (1280, 800), (390, 844)

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the dev extras install it; the browser fixture says so
    webdriver = None  # type: ignore[assignment]


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        missing_tool(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing: install Debian's chromium and "
            "chromium-driver (scripts/setup.sh does)"
        )
    if webdriver is None:
        missing_tool("selenium is not installed (pip install -e '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument(f"--window-size={WIDE[0]},{WIDE[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("CLOACINA_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("console-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {path}")
    return path


# ---------------------------------------------------------------------- helpers


class Page:
    """The console in the browser, with the few moves the tests make."""

    def __init__(self, driver: WebDriver, shots: Path) -> None:
        self.d = driver
        self.shots = shots

    def wait(self, check: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.05).until(lambda _: check())
        except Exception as exc:
            raise AssertionError(
                f"not reached in {timeout}s: {what}\nstatus: {self.text('status')!r}"
            ) from exc

    def one(self, css: str) -> WebElement:
        return self.d.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def click(self, css: str, what: str = "") -> None:
        """Click the element at ``css`` once it is there; the page re-renders tables as it
        polls, so a stale element is looked up again."""

        def clicked() -> bool:
            try:
                found = self.all(css)
                if found and found[0].is_displayed():
                    found[0].click()
                    return True
            except StaleElementReferenceException:
                pass
            return False

        self.wait(clicked, what=what or css)

    def text(self, element_id: str) -> str:
        found = self.d.find_elements(By.ID, element_id)
        return str(found[0].get_attribute("textContent") or "") if found else ""

    def js(self, script: str, *args: Any) -> Any:
        return self.d.execute_script(script, *args)

    def sign_in(self, key: str) -> None:
        field = self.wait(lambda: self.one("#api-key"), what="the sign-in form")
        field.clear()
        field.send_keys(key, Keys.ENTER)  # Enter submits the form
        self.wait(lambda: self.one("#nav").is_displayed(), what="the nav after sign-in")

    def view(self, name: str) -> None:
        self.one(f'nav a[data-view="{name}"]').click()
        self.wait(lambda: self.one(f"#view-{name}").is_displayed(), what=f"view {name}")

    def confirm(self) -> None:
        self.wait(lambda: self.one("#confirm").get_attribute("open") is not None, what="dialog")
        self.one("#confirm-ok").click()

    def shot(self, name: str) -> Path:
        path = self.shots / name
        self.d.save_screenshot(str(path))
        return path

    def upload(self, archive: Path) -> None:
        self.one("#upload-file").send_keys(str(archive))
        self.one('#upload-form button[type="submit"]').click()

    def drop(self, archive: Path) -> None:
        """Drop ``archive`` on the drop zone, as a file dragged from the desktop would be."""
        self.js(
            """const [name, b64] = arguments;
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], name));
            const zone = document.getElementById("drop");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true,
                                                          cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true,
                                                      cancelable: true}));""",
            archive.name,
            base64.b64encode(archive.read_bytes()).decode(),
        )

    def package_status(self, name: str) -> str | None:
        rows = self.all(f'#packages-body tr[data-package="{name}"]')
        return rows[0].get_attribute("data-status") if rows else None

    def no_horizontal_overflow(self, label: str) -> None:
        sizes = self.js(
            "return [document.body.scrollWidth, document.documentElement.clientWidth,"
            " document.documentElement.scrollWidth]"
        )
        body, viewport, doc = sizes
        assert body <= viewport and doc <= viewport, f"{label}: page wider than viewport {sizes}"

    def severe_logs(self, expected: Callable[[str], bool] = lambda _: False) -> list[str]:
        entries = self.d.get_log("browser")
        return [
            e["message"] for e in entries if e["level"] == "SEVERE" and not expected(e["message"])
        ]


@pytest.fixture
def page(browser: WebDriver, shots: Path) -> Iterator[Page]:
    browser.set_window_size(*WIDE)
    browser.get("about:blank")
    browser.get_log("browser")  # start each test with an empty log
    yield Page(browser, shots)
    browser.get("about:blank")  # close the page's sockets before the next test


# ---------------------------------------------------------------------- tests


def test_console_tutorial_with_a_tenant_key(
    server: Server, c_archives: dict[str, Path], page: Page
) -> None:
    tenant, key = server.tenant("console-acme")  # a name for the screenshot in docs/console.md
    publisher, subscriber = c_archives["pricing-publisher"], c_archives["pricing-subscriber"]

    # /ui redirects to /ui/; the page itself needs no key
    page.d.get(server.url + "/ui")
    assert page.d.current_url == server.url + "/ui/"
    assert page.one("#signin").is_displayed() and not page.one("#nav").is_displayed()
    page.sign_in(key)
    assert page.js(f"return sessionStorage.getItem('{KEY_SLOT}')") == key
    assert page.js("return localStorage.length") == 0
    assert tenant in page.text("tenant-fixed") and "admin key" in page.text("who")

    # keyboard: Tab from the top reaches the nav; Enter on a link opens its view
    page.js("document.activeElement.blur(); window.scrollTo(0, 0)")
    tabs = 0
    while page.d.switch_to.active_element.get_attribute("data-view") is None:
        assert tabs < 12, "Tab never reached the nav"
        ActionChains(page.d).send_keys(Keys.TAB).perform()
        tabs += 1
    while page.d.switch_to.active_element.get_attribute("data-view") != "packages":
        assert tabs < 20, "Tab never reached the Packages link"
        ActionChains(page.d).send_keys(Keys.TAB).perform()
        tabs += 1
    ActionChains(page.d).send_keys(Keys.ENTER).perform()
    page.wait(lambda: page.one("#view-packages").is_displayed(), what="Enter opens Packages")
    assert page.one('nav a[data-view="packages"]').get_attribute("aria-current") == "page"
    assert page.d.switch_to.active_element.get_attribute("id") == "h-packages"

    # upload by the file picker: the subscriber first waits as pending, with the reason
    page.upload(subscriber)
    page.wait(lambda: page.package_status("pricing-subscriber") == "pending", what="pending")
    assert NOT_LOADED in page.one('tr[data-package="pricing-subscriber"]').text
    # its trigger is unresolved: a dashed edge from a "missing" PriceReactor
    page.view("binding")
    unresolved = page.wait(
        lambda: page.all("#binding-graph svg path[data-edge-kind=triggers][data-resolved=false]"),
        what="the unresolved trigger",
    )
    assert [e.get_attribute("data-target") for e in unresolved] == ["graph:price_consumer"]
    missing = page.one('svg g[data-node-id="reactor:PriceReactor"]')
    assert missing.get_attribute("data-missing") == "true" and "(missing)" in missing.text
    page.shot("console-binding-missing.png")
    page.view("packages")
    page.upload(publisher)
    page.wait(
        lambda: (
            page.package_status("pricing-publisher") == "loaded"
            and page.package_status("pricing-subscriber") == "loaded"
        ),
        what="both loaded",
    )
    row = page.one('tr[data-package="pricing-publisher"]').text
    assert "loaded on 1/1 replicas" in row
    digest = server.packages(tenant, key)["pricing-publisher"]["sha256"]
    assert digest[:12] in row

    # the binding graph: both packages as groups, the cross-package trigger highlighted
    page.view("binding")
    cross = page.wait(
        lambda: page.all(
            "#binding-graph svg path[data-edge-kind=triggers][data-cross-package=true]"
        ),
        what="the cross-package edge",
    )
    assert [(e.get_attribute("data-source"), e.get_attribute("data-target")) for e in cross] == [
        ("reactor:PriceReactor", "graph:price_consumer")
    ]
    assert cross[0].get_attribute("data-resolved") == "true"
    assert page.one('svg g[data-node-id="reactor:PriceReactor"]').get_attribute("data-missing") == (
        "false"
    )
    clusters = {c.get_attribute("data-package") for c in page.all("svg g[data-node-kind=package]")}
    assert clusters == {"pricing-publisher", "pricing-subscriber"}
    kinds = {
        (n.get_attribute("data-node-kind"), n.get_attribute("data-node-id"))
        for n in page.all("svg g.node")
    }
    assert ("reactor", "reactor:PriceReactor") in kinds and (
        "graph",
        "graph:price_consumer",
    ) in kinds
    assert len([k for k, _ in kinds if k == "accumulator"]) == 2
    feeds = page.all("svg path[data-edge-kind=feeds]")
    assert len(feeds) == 2 and all(f.get_attribute("data-cross-package") == "false" for f in feeds)
    page.shot("console-binding.png")

    # push an event from the page's form; the fire appears live (WebSocket) in the fires view
    page.wait(lambda: "price_consumer (open)" in page.text("live-status"), what="socket open")
    page.view("reactors")
    Select(page.one("#push-acc")).select_by_value("raw_prices")
    event = page.one("#push-event")
    event.clear()
    event.send_keys('{"symbol": "BTCUSD", "price": 42000}')
    page.one('#push-form button[type="submit"]').click()
    page.wait(lambda: "1 fire(s)" in page.text("push-result"), what="the push answer")
    page.view("live")
    run = page.wait(
        lambda: page.all('#live-runs li[data-graph="price_consumer"]'), what="a live run"
    )[0]
    assert (
        run.get_attribute("data-fire") == "1"
        and run.get_attribute("data-reactor") == "PriceReactor"
    )
    assert '"signal": 0' in run.text and "took" in run.text
    page.view("reactors")
    page.wait(
        lambda: page.one('tr[data-reactor="PriceReactor"] td[data-fires]').text == "1",
        what="the fires counter",
    )
    page.shot("console-reactors.png")

    # both widths: nothing wider than the viewport, on every view
    for size in (WIDE, PHONE):
        page.d.set_window_size(*size)
        for name in ("tenants", "packages", "reactors", "graphs", "binding", "live", "keys"):
            page.view(name)
            page.no_horizontal_overflow(f"{name} at {size}")
        page.shot(f"console-binding-{size[0]}x{size[1]}.png")
    page.d.set_window_size(*WIDE)

    # keys (an admin key): a new key's plaintext is shown once; revoke it
    page.view("keys")
    page.one("#key-name").send_keys("console-made")
    page.one('#key-form button[type="submit"]').click()
    made = page.wait(lambda: page.all("[data-plaintext-key]"), what="the new key")[0].text
    assert made.startswith("clk_")
    assert server.ok("GET", "/v1/auth/whoami", made)["tenant"] == tenant
    new_id = server.ok("GET", "/v1/auth/whoami", made)["key_id"]
    page.click(f'tr[data-key-id="{new_id}"] button', what="the revoke button")
    page.confirm()
    assert eventually(lambda: server.request("GET", "/v1/auth/whoami", made).status_code == 401)

    # delete the publisher first: refused, with the guard's text, the blocker and the safe order
    page.view("packages")
    page.click('tr[data-package="pricing-publisher"] button[data-action=delete]')
    page.confirm()
    page.wait(lambda: page.one("#delete-refused").is_displayed(), what="the refusal")
    assert page.one("#delete-refused .guard").text == GUARD
    blockers = page.all("#delete-refused li[data-blocker-graph]")
    assert [
        (b.get_attribute("data-blocker-graph"), b.get_attribute("data-blocker-package"))
        for b in blockers
    ] == [("price_consumer", "pricing-subscriber")]
    order = [li.text for li in page.all("#delete-refused .safe-order li")]
    assert order == ["pricing-subscriber", "pricing-publisher"]
    assert set(server.packages(tenant, key)) == {"pricing-publisher", "pricing-subscriber"}
    page.shot("console-guard.png")

    # the safe order, from the page: subscriber, then publisher; both gone
    page.one("#delete-safe-order").click()
    page.confirm()
    page.wait(lambda: not page.all("#packages-body tr[data-package]"), what="both deleted")
    results = page.text("package-result")
    assert results.index("pricing-subscriber") < results.index("pricing-publisher")
    assert "reactor PriceReactor now has 0 subscribers" in results
    assert "reactor PriceReactor torn down" in results
    assert server.packages(tenant, key) == {}

    # sign out forgets the key
    page.one("#sign-out").click()
    page.wait(lambda: page.one("#signin").is_displayed(), what="the sign-in form again")
    assert page.js(f"return sessionStorage.getItem('{KEY_SLOT}')") is None

    refused_delete = "/packages/"  # the guard's 409, which Chromium logs as a failed load
    assert page.severe_logs(lambda m: refused_delete in m and "409" in m) == []


def test_console_behind_a_path_prefix_as_platform_admin(
    server: Server, c_archives: dict[str, Path], page: Page
) -> None:
    tenant, key = server.tenant()
    assert server.upload(tenant, key, c_archives["pricing-publisher"]).status_code == 201

    with PrefixProxy(server.url, "/cloacina").running() as proxy:
        page.d.get(proxy.url + "/ui")
        assert page.d.current_url == proxy.url + "/ui/"
        page.sign_in(BOOT)
        assert "platform admin" in page.text("who")
        option = f'#tenant-picker option[value="{tenant}"]'
        page.wait(lambda: page.all(option), what="the tenant in the picker")
        Select(page.one("#tenant-picker")).select_by_value(tenant)

        # the subscriber arrives by drag and drop (a drop event carrying the archive's bytes)
        page.view("packages")
        page.wait(lambda: page.package_status("pricing-publisher") == "loaded", what="publisher")
        page.drop(c_archives["pricing-subscriber"])
        page.wait(lambda: page.package_status("pricing-subscriber") == "loaded", what="dropped")
        assert "Uploaded pricing-subscriber 0.1.0: loaded" in page.text("package-result")
        page.view("binding")
        page.wait(
            lambda: page.all(
                f'#binding-graph svg[data-tenant="{tenant}"] '
                "path[data-edge-kind=triggers][data-cross-package=true]"
            ),
            what="the cross-package edge behind the prefix",
        )

        # force fire, pause and resume from the reactors view; the run arrives over the
        # WebSocket through the proxy (the platform key names the tenant)
        # the outputs stream carries runs from the moment it connected: fire once it is open
        page.wait(lambda: "price_consumer (open)" in page.text("live-status"), what="socket open")
        page.view("reactors")
        page.click('tr[data-reactor="PriceReactor"] button[data-action=fire]')
        page.wait(
            lambda: "Fired PriceReactor: 1 run(s)" in page.text("reactor-result"), what="fire"
        )
        page.click('tr[data-reactor="PriceReactor"] button[data-action=pause]')
        page.wait(
            lambda: page.all('tr[data-reactor="PriceReactor"][data-state="paused"]'), what="paused"
        )
        assert server.ok("GET", f"/v1/tenants/{tenant}/reactors/PriceReactor")["state"] == "paused"
        page.click('tr[data-reactor="PriceReactor"] button[data-action=resume]')
        page.wait(
            lambda: page.all('tr[data-reactor="PriceReactor"][data-state="running"]'),
            what="running again",
        )
        page.view("live")
        run = page.wait(
            lambda: page.all('#live-runs li[data-graph="price_consumer"]'), what="the live run"
        )[0]
        assert run.get_attribute("data-reactor") == "PriceReactor"

        page.one("#sign-out").click()
        page.wait(lambda: page.one("#signin").is_displayed(), what="signed out")
        page.d.get("about:blank")
        time.sleep(0.2)  # let the proxy see the sockets close

    outside = [p for _, p in proxy.seen if not p.startswith("/cloacina/")]
    assert outside == [], f"the page asked for paths outside its prefix: {outside}"
    sockets = [p for kind, p in proxy.seen if kind == "websocket"]
    assert any(
        p.startswith("/cloacina/v1/ws/graph/price_consumer/outputs?") and f"tenant={tenant}" in p
        for p in sockets
    ), sockets
    assert page.severe_logs() == []


def test_console_hides_what_a_read_key_may_not_do(
    server: Server, c_archives: dict[str, Path], page: Page
) -> None:
    tenant, admin = server.tenant()
    for name in ("pricing-publisher", "pricing-subscriber"):
        assert server.upload(tenant, admin, c_archives[name]).status_code == 201
    reader = server.key(tenant, "read", admin)["key"]

    page.d.get(server.url + "/ui/#packages")
    page.sign_in(reader)
    assert "read key" in page.text("who")
    page.wait(lambda: page.package_status("pricing-subscriber") == "loaded", what="the packages")
    assert not page.one("#upload-form").is_displayed()
    assert page.all("#packages-body button") == []
    page.view("reactors")
    page.wait(lambda: page.all('tr[data-reactor="PriceReactor"]'), what="the reactor")
    assert page.all("#reactors-body button") == [] and not page.one("#push-form").is_displayed()
    assert not page.one('nav a[data-view="keys"]').is_displayed()
    page.view("binding")
    page.wait(lambda: page.all("svg path[data-cross-package=true]"), what="the binding graph")
    page.one("#sign-out").click()
    assert page.severe_logs() == []
