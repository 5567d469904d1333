"""The system's headless Chromium, driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from canvascap.pipeline.errors import UserError

__all__ = ["CHROMIUM", "chromium", "fake_microphone"]

CHROMIUM = os.environ.get("CANVASCAP_CHROMIUM", "/usr/bin/chromium")
"""The browser binary: Debian's ``chromium`` package unless the variable says otherwise."""


def fake_microphone(wav: Path) -> tuple[str, ...]:
    """Chromium flags that make ``wav`` its microphone (looped) and grant pages its use."""
    return (
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
    )


@asynccontextmanager
async def chromium(*extra_args: str) -> AsyncIterator[Any]:
    """Launch the system Chromium headless (with ``extra_args``, e.g. a fake microphone);
    yield Playwright's ``Browser``."""
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
                *extra_args,
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()
