"""Headless Chromium for tests: Debian's ``/usr/bin/chromium`` driven by Playwright (never a download).

``async with chromium(extra_args) as browser`` launches it with the flags that keep it quiet and
offline; ``needs_chromium`` skips a test where the binary or Playwright is missing. Shared by the
security (tests/security/) and web-view tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = os.environ.get("AGENT_TUI_CHROMIUM", "/usr/bin/chromium")

#: No sandbox (tests may run as root in a container), no GPU, and nothing that phones home.
BASE_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


#: Chromium's own Private/Local Network Access checks block a public page's requests to loopback (so a
#: rebound page never reaches 127.0.0.1 in Chromium). Firefox and Safari have no such check: tests of
#: the server's own defences switch it off to see what those browsers would let through.
WITHOUT_LOCAL_NETWORK_CHECKS = (
    "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessRespectPreflightResults,"
    "BlockInsecurePrivateNetworkRequests"
)


def chromium_available() -> bool:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return False
    return os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM) is not None


needs_chromium = pytest.mark.skipif(not chromium_available(), reason=f"needs Playwright and {CHROMIUM}")


@asynccontextmanager
async def chromium(extra_args: Sequence[str] = ()) -> AsyncIterator[Browser]:
    """A headless Chromium; ``extra_args`` e.g. ``["--host-resolver-rules=MAP evil.example 127.0.0.1"]``."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*BASE_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            await browser.close()


def host_resolver_rules(*names: str, address: str = "127.0.0.1") -> str:
    """The flag that makes Chromium resolve ``names`` to ``address`` (a DNS rebinding, simulated)."""
    return "--host-resolver-rules=" + ", ".join(f"MAP {name} {address}" for name in names)
