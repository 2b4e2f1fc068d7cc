"""Real Chromium (Debian's) driven by Playwright against pytest-django's live server."""

import os
from pathlib import Path

import pytest
from django.core.cache import cache

# Sync Playwright runs an event loop in this thread; Django's ORM calls from the
# test body are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

HERE = Path(__file__).parent
CHROMIUM = "/usr/bin/chromium"
# axe-core 4.10.3's axe.min.js from the npm registry (`npm pack axe-core@4.10.3`), vendored
# so the tests need no network or npm; its licence (MPL-2.0) beside it.
AXE = HERE.parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE_VIEWPORT = {"width": 360, "height": 740}


def _axe_source() -> str:
    return AXE.read_text()


@pytest.fixture(scope="session")
def axe_source() -> str:
    return _axe_source()


# One browser per test module, not per session: Playwright's sync API keeps an asyncio
# loop running in the main thread while it is open, and any later test in the same
# process that goes through async_to_sync (the health checks do) would fail on it.
@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _browser_settings(settings, live_server):
    settings.SITE_URL = live_server.url
    settings.OPTIN_MIN_SUBMIT_SECONDS = 0
    settings.WHATSAPP_APP_SECRET = "browser-test-app-secret"
    settings.WHATSAPP_BACKEND = "console"
    settings.PAGES_RATE_LIMITS = {
        "preferences_ip": "1000/h",
        "preferences_token": "1000/h",
        "optin_ip": "1000/h",
        "optin_phone": "1000/h",
    }
    cache.clear()


class Phone:
    """A page in a 360×740 phone-sized window that records CSP violations."""

    def __init__(self, context, axe: str) -> None:
        self.context = context
        self.page = context.new_page()
        self.axe = axe
        self.csp_violations: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.csp_violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check_accessibility(self) -> None:
        """axe-core's WCAG 2 A/AA rules (labels, contrast, …), and no sideways scrolling."""
        # Evaluated through the DevTools protocol, so our CSP (no inline scripts) still holds.
        self.page.evaluate(f"() => {{ {self.axe}\n; window.__axe = axe; }}")
        result = self.page.evaluate(
            """async () => {
                const r = await window.__axe.run(document, {
                    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
                });
                return r.violations.map(v => ({
                    id: v.id, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3),
                }));
            }"""
        )
        assert result == [], f"accessibility violations on {self.page.url}: {result}"
        fits = self.page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, f"{self.page.url} scrolls sideways at 360 px"
        assert self.csp_violations == []


@pytest.fixture
def phone(chromium, axe_source):
    context = chromium.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, locale="en-GB")
    yield Phone(context, axe_source)
    context.close()


@pytest.fixture
def desk(chromium, axe_source):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    yield Phone(context, axe_source)
    context.close()
