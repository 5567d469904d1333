"""A remote participant's microphone: the /mic page in a real Chromium, whose fake
capture device plays a real recording, sends it to a session run with --source browser."""

from __future__ import annotations

import asyncio
import json
import ssl
import struct
import subprocess

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from canvascap.bench.browser import fake_microphone
from canvascap.captions.ingest import AudioIngest
from canvascap.pipeline.config import load_config
from canvascap.pipeline.metrics import Metrics
from canvascap.pipeline.runner import Pipeline
from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import CaptionTap
from canvascap.web.server import INGEST_REFUSED, NO_INGEST, OverlayOptions, OverlaySink
from canvascap.web.testing import overlay_server
from tests.browser import chromium
from tests.cli import canvascap
from tests.conftest import decode, write_wav
from tests.timing import seconds, until

BLOCK = 640


def test_one_sender_at_a_time_and_gaps_are_counted_not_stretched() -> None:
    metrics = Metrics()
    received: list[bytes] = []
    ingest = AudioIngest(metrics, deliver=received.append)
    first, second = object(), object()
    assert ingest.claim(first, "page-1")
    assert not ingest.claim(second, "page-2")
    assert metrics.counters["source.senders_refused"] == 1
    block = b"\x01\x00" * BLOCK
    ingest.push(first, 1000, block)  # a page's first block may start anywhere
    ingest.push(first, 1000 + BLOCK, block)
    ingest.push(first, 1000 + 3 * BLOCK, block)  # one block lost: a 40 ms gap
    ingest.push(first, 1000 + 3 * BLOCK, block)  # sent twice: dropped
    ingest.push(second, 1000 + 4 * BLOCK, block)  # not the sender: ignored
    assert len(received) == 3 and sum(map(len, received)) == 3 * len(block)
    assert metrics.counters["source.gap_ms"] == 40 and ingest.gap_samples == BLOCK
    ingest.release(first)
    assert ingest.claim(first, "page-1")  # the same page back: it goes on counting
    ingest.push(first, 1000 + 5 * BLOCK, block)
    assert metrics.counters["source.gap_ms"] == 80
    ingest.release(first)
    assert ingest.claim(second, "page-2")  # another page: a new count
    ingest.push(second, 7, block)
    assert metrics.counters["source.gap_ms"] == 80


async def test_without_a_browser_source_the_microphone_is_refused_with_a_reason() -> None:
    async with overlay_server() as (sink, _):
        async with connect(sink.page_url("/ingest", scheme="ws")) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd.code == NO_INGEST
        assert "--source browser" in closed.value.rcvd.reason


async def test_a_second_microphone_is_refused_and_a_token_is_needed_off_loopback() -> None:
    ctx = Context(session="mic")
    ctx.services.add(AudioIngest(ctx.metrics, deliver=lambda pcm: None, accepting=True))
    sink = OverlaySink(OverlayOptions(port=0, host="0.0.0.0"), ctx)
    await sink.prepare()
    try:
        url = sink.page_url("/ingest", scheme="ws")
        without_token = url.split("?")[0]
        with pytest.raises(Exception, match="401"):
            async with connect(without_token):
                pass
        hello = json.dumps({"type": "hello", "stream": "a", "sample_rate": 16000})
        async with connect(url) as first:
            await first.send(hello)
            await first.send(struct.pack("<Q", 0) + b"\x00\x00" * BLOCK)
            ingest = ctx.services.get(AudioIngest)
            await until(lambda: ingest is not None and ingest.sender is not None, what="a sender")
            async with connect(url) as second:
                await second.send(hello.replace('"a"', '"b"'))
                with pytest.raises(ConnectionClosed) as closed:
                    await second.recv()
            assert closed.value.rcvd.code == INGEST_REFUSED
            assert "already sending" in closed.value.rcvd.reason
    finally:
        await sink.aclose()


@pytest.mark.slow
async def test_a_browser_microphone_is_captioned(jfk, tmp_path) -> None:
    speech = np.concatenate([np.zeros(8_000, np.float32), decode(jfk)])
    wav = write_wav(tmp_path / "fake-microphone.wav", speech)
    ctx = Context(session="remote")
    overlay = OverlaySink(OverlayOptions(port=0), ctx)
    tap = CaptionTap()
    config = load_config(None, ['stages.source={"use": "source.browser"}', "sinks={}"])
    pipeline = Pipeline.build(config, ctx, extra_sinks={"overlay": overlay, "tap": tap})
    ready = asyncio.Event()
    running = asyncio.create_task(pipeline.run(on_ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), seconds(60))
        async with chromium(*fake_microphone(wav)) as browser:
            # bypass_csp lets Playwright poll; the page must be safe even without its CSP
            page = await browser.new_page(bypass_csp=True)
            await page.goto(ctx.report.urls["mic"])
            await page.click("#start")
            await page.wait_for_function(
                "document.querySelector('#status').textContent === 'sending'",
                timeout=seconds(20) * 1000,
            )
            await until(
                lambda: "fellow americans" in " ".join(c.text.lower() for c in tap.finals),
                limit_s=60,
                what="JFK's words as finals",
            )
            assert await page.evaluate("document.querySelector('#level').value") > 0
            other = await browser.new_page(bypass_csp=True)
            await other.goto(ctx.report.urls["mic"])
            await other.click("#start")
            await other.wait_for_function(
                "document.querySelector('#status').textContent.includes('already sending')",
                timeout=seconds(20) * 1000,
            )
    finally:
        pipeline.stop()
        await asyncio.wait_for(running, seconds(30))
    assert ctx.metrics.counters.get("source.gap_ms", 0) == 0


def test_source_browser_needs_the_overlay_and_https_needs_both_files(tmp_path) -> None:
    done = canvascap("run", "--source", "browser", "--no-overlay")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "canvascap: error: --source browser needs the overlay server: drop --input/--no-overlay"
    ]
    done = canvascap("run", "--source", "browser", "--tls-cert", str(tmp_path / "cert.pem"))
    assert done.returncode == 2 and "needs both --tls-cert and --tls-key" in done.stderr
    missing = canvascap(
        "run", "--source", "browser", "--tls-cert", str(tmp_path / "c.pem"),
        "--tls-key", str(tmp_path / "k.pem"),
    )  # fmt: skip
    assert missing.returncode == 2
    assert "cannot use" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for localhost and its key (PEM files)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


async def test_with_a_certificate_pages_and_sockets_are_served_over_https(certificate) -> None:
    cert, key = certificate
    ctx = Context(session="tls")
    ctx.services.add(AudioIngest(ctx.metrics, deliver=lambda pcm: None, accepting=True))
    sink = OverlaySink(OverlayOptions(port=0, tls_cert=cert, tls_key=key), ctx)
    await sink.prepare()
    try:
        assert ctx.report.urls["mic"].startswith("https://127.0.0.1:")
        assert ctx.report.urls["feed"].startswith("wss://")
        trust = ssl.create_default_context(cafile=cert)
        trust.check_hostname = False
        async with chromium("--ignore-certificate-errors") as browser:
            page = await browser.new_page()
            await page.goto(ctx.report.urls["mic"])
            assert await page.evaluate("window.isSecureContext")
            assert await page.evaluate("typeof navigator.mediaDevices.getUserMedia") == "function"
        async with connect(sink.page_url("/ws", scheme="ws"), ssl=trust) as socket:
            snapshot = json.loads(await socket.recv())
        assert snapshot["type"] == "snapshot" and snapshot["session"] == "tls"
    finally:
        await sink.aclose()
