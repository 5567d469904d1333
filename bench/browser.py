"""The system's headless Chromium, driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from canvascap.pipeline.errors import UserError

__all__ = ["CHROMIUM", "chromium"]

CHROMIUM = os.environ.get("CANVASCAP_CHROMIUM", "/usr/bin/chromium")
"""The browser binary: Debian's ``chromium`` package unless the variable says otherwise."""


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Launch the system Chromium headless; yield Playwright's ``Browser``."""
    if not shutil.which(CHROMIUM):
        raise UserError(f"{CHROMIUM} is needed (apt install chromium, or set CANVASCAP_CHROMIUM)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
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
        try:
            yield browser
        finally:
            await browser.close()
