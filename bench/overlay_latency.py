"""Caption-to-screen latency of the browser overlay, with 1 and with 100 clients.

It needs Chromium (Debian's ``chromium`` package) and ``pip install 'canvascap[bench]'``.

Captions are fed into the overlay sink's inbox (where the recogniser's output arrives)
at a steady pace; a real headless Chromium shows the overlay, and a MutationObserver
in the page notes when each caption's text lands in the DOM. For the 100-client case,
99 more WebSocket clients read the same feed. Both clocks are this machine's wall clock.

    python -m canvascap.bench.overlay_latency [--captions 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from canvascap.bench.browser import chromium
from canvascap.pipeline.types import Caption
from canvascap.web.testing import overlay_server

WATCH = """
window.__seen = {};
new MutationObserver(() => {
  for (const block of document.querySelectorAll('#captions .caption')) {
    const id = block.id;
    if (!(id in window.__seen) && block.textContent.startsWith('caption')) {
      window.__seen[id] = Date.now();
    }
  }
}).observe(document.getElementById('captions'),
           {subtree: true, childList: true, characterData: true});
"""


def caption(cid: int, text: str) -> Caption:
    """A final caption stamped with the current time as its origin."""
    return Caption(cid, 0, True, text, text, "en", float(cid), cid + 1.0, time.monotonic_ns())


async def one_run(captions: int, extra_clients: int, interval_s: float) -> list[float]:
    """Latencies in ms for one run."""
    async with overlay_server() as (sink, feed), chromium() as browser:
        others = [await connect(f"ws://127.0.0.1:{sink.port}/ws") for _ in range(extra_clients)]

        async def drain(client: ClientConnection) -> None:
            async for _ in client:
                pass

        readers = [asyncio.create_task(drain(c)) for c in others]
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0&lines=2")
        await page.evaluate(WATCH)
        await asyncio.sleep(0.5)
        sent_ms = {}
        for cid in range(captions):
            sent_ms[f"caption-{cid}"] = time.time() * 1000
            await feed.send(caption(cid, f"caption {cid} with a few words"))
            await asyncio.sleep(interval_s)
        await page.wait_for_function(
            f"Object.keys(window.__seen).length >= {captions}", timeout=30_000
        )
        seen = await page.evaluate("window.__seen")
        for client in others:
            await client.close()
        for reader in readers:
            reader.cancel()
    return [seen[key] - sent for key, sent in sent_ms.items()]


def main() -> None:
    """Run both cases and print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval-s", type=float, default=0.05)
    args = parser.parse_args()
    summary: dict[str, object] = {}
    p50_ms: dict[int, float] = {}
    for clients in (1, 100):
        runs = [
            asyncio.run(one_run(args.captions, clients - 1, args.interval_s))
            for _ in range(args.runs)
        ]
        medians = [statistics.median(r) for r in runs]
        pooled = [x for r in runs for x in r]
        p50_ms[clients] = round(statistics.median(medians), 1)
        summary[f"{clients}_clients"] = {
            "p50_ms": p50_ms[clients],
            "p90_ms": round(float(np.percentile(pooled, 90)), 1),
            "run_medians_ms": [round(m, 1) for m in medians],
        }
    summary["ratio_p50_100_vs_1"] = round(p50_ms[100] / p50_ms[1], 2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
