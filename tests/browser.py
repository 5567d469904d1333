"""Real headless Chromium (Debian's package, driven by Playwright) for overlay tests."""

from __future__ import annotations

import os
from pathlib import Path

from canvascap.bench.browser import chromium
from tests.cli import ROOT

__all__ = ["ARTIFACTS", "RECORD_CAPTIONS", "artifact", "chromium"]

ARTIFACTS = Path(os.environ.get("CANVASCAP_ARTIFACTS", ROOT / "test-artifacts"))

# Record, in the page, every change of every caption block: its text and whether it is
# a partial or a final, with the page's clock. Tests read window.__events.
RECORD_CAPTIONS = """
window.__events = [];
new MutationObserver(() => {
  for (const block of document.querySelectorAll('#captions .caption')) {
    const entry = {id: block.id, text: block.textContent,
                   final: block.classList.contains('final'), t: Date.now()};
    const last = window.__events.findLast(e => e.id === entry.id);
    if (!last || last.text !== entry.text || last.final !== entry.final) {
      window.__events.push(entry);
    }
  }
}).observe(document.getElementById('captions'),
           {subtree: true, childList: true, characterData: true, attributes: true});
"""


def artifact(name: str) -> Path:
    """Where a test keeps a file for people to look at (screenshots)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
