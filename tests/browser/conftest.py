"""Browser tests: Playwright drives the operating system's Chromium (Debian's `chromium` package, never a
browser downloaded by `playwright install`) against a live server of the app.

They run when SUPERAPP_BROWSER_TESTS=1 (CI's "browser tests" step, which installs chromium if missing) and
skip otherwise, with a reason, so `make test` stays fast and passes on a machine without a browser."""

from __future__ import annotations

import os
import shutil
import socket

import pytest
from pytest_django import live_server_helper

CHROMIUM = os.environ.get("SUPERAPP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PORTS = range(18500, 18600)  # this project's ports for servers started by tests

if os.environ.get("SUPERAPP_BROWSER_TESTS") == "1":
    # Playwright's sync API runs an event loop in the test thread; Django would then refuse database calls
    # from it (they are safe here: one thread, the live server runs in its own). Django's documented switch.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    wanted = os.environ.get("SUPERAPP_BROWSER_TESTS") == "1"
    for item in items:
        if "browser" not in item.keywords:
            continue
        if not wanted:
            item.add_marker(pytest.mark.skip(reason="browser test: run with SUPERAPP_BROWSER_TESTS=1 "
                                                    "(needs `apt-get install chromium` and the dev extras)"))
        elif not shutil.which(CHROMIUM):
            item.add_marker(pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: `apt-get install -y chromium`"))


def _free_port() -> int:
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, on a free port of this project's range."""
    server = live_server_helper.LiveServer(f"127.0.0.1:{_free_port()}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()
