"""The overlay server over real sockets: feed, fan-out, health, and security."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time

import pytest
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from canvascap.web.book import CaptionBook
from canvascap.web.server import OverlayOptions
from canvascap.web.testing import overlay_server
from tests.cli import cli_env, wait_for_line
from tests.overlay_helpers import caption, http_get
from tests.timing import seconds, until


def feed_url(sink, token: str | None = None) -> str:
    suffix = f"?token={token}" if token else ""
    return f"ws://127.0.0.1:{sink.port}/ws{suffix}"


async def test_snapshot_then_one_message_per_revision() -> None:
    async with overlay_server(session="s1") as (sink, feed):
        await feed.send(caption(0, "earlier final"))
        await feed.send(caption(1, "open part", final=False))
        await until(lambda: len(sink.book.snapshot()) == 2, what="both lines in the book")
        async with connect(feed_url(sink)) as client:
            snapshot = json.loads(await client.recv())
            assert snapshot["v"] == 2 and snapshot["type"] == "snapshot"
            assert snapshot["session"] == "s1"
            assert [(c["id"], c["final"]) for c in snapshot["captions"]] == [(0, True), (1, False)]
            await feed.send(caption(1, "open part grows", rev=1, final=False, stable_chars=9))
            message = json.loads(await client.recv())
            assert message == {
                **message,
                "type": "caption",
                "id": 1,
                "rev": 1,
                "final": False,
                "text": "open part grows",
                "stable_chars": 9,
                "lang": "en",
                "role": "spoken",
                "source": "open part grows",
            }
            assert {"start_s", "end_s"} <= message.keys()


async def test_a_client_that_asks_for_another_protocol_version_is_told_which_to_use() -> None:
    async with overlay_server() as (sink, _):
        async with connect(feed_url(sink) + "?v=1") as client:
            with pytest.raises(ConnectionClosed) as closed:
                await client.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert "version 2" in closed.value.rcvd.reason and "reload" in closed.value.rcvd.reason


def test_book_keeps_recent_finals_and_open_partials_and_ignores_stale_revisions() -> None:
    book = CaptionBook(history=2)
    for cid in range(4):
        assert book.apply(caption(cid, f"final {cid}"))
    assert book.apply(caption(4, "partial", final=False, rev=3))
    assert not book.apply(caption(4, "older", final=False, rev=2))
    assert not book.apply(caption(3, "after final", rev=9))
    assert [c.text for c in book.snapshot()] == ["final 2", "final 3", "partial"]
    assert book.apply(caption(4, "", rev=4))  # retracted: it was not speech
    assert [c.id for c in book.snapshot()] == [2, 3]


TRAVERSALS = [
    "/../pyproject.toml",
    "/%2e%2e/pyproject.toml",
    "/%252e%252e/pyproject.toml",
    "/..%2fpyproject.toml",
    "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/../server.py",
    "/overlay.js/../../README.md",
    "//etc/passwd",
    "/web/server.py",
    "/server.py",
    "/index.html",
    "/static/overlay.js",
    "/overlay.js%00.png",
    "/.%2e/.%2e/etc/passwd",
]


async def test_only_the_shipped_pages_and_assets_are_served() -> None:
    async with overlay_server() as (sink, _):
        for path, kind in (
            ("/", "text/html"),
            ("/overlay", "text/html"),
            ("/overlay.js", "text/javascript"),
            ("/feed.js", "text/javascript"),
            ("/overlay.css", "text/css"),
        ):
            status, body, content_type = await asyncio.to_thread(http_get, sink.port, path)
            assert status == 200 and body and content_type.startswith(kind), path
        for path in TRAVERSALS:
            status, body, _ = await asyncio.to_thread(http_get, sink.port, path)
            assert status == 404, path
            assert b"[build-system]" not in body and b"root:" not in body


async def test_non_loopback_bind_requires_the_token_everywhere_but_the_overlay_page() -> None:
    async with overlay_server(host="0.0.0.0") as (sink, feed):
        token = sink.token
        assert token and len(token) >= 16
        assert sink.page_url("/overlay").endswith(f"/overlay?token={token}")
        for path in ("/", "/healthz", "/?token=wrong"):
            status, *_ = await asyncio.to_thread(http_get, sink.port, path)
            assert status == 401, path
        with pytest.raises(InvalidStatus) as refused:
            async with connect(feed_url(sink)):
                pass
        assert refused.value.response.status_code == 401
        status, body, _ = await asyncio.to_thread(http_get, sink.port, f"/healthz?token={token}")
        assert status == 200 and json.loads(body)["status"] == "ok"
        async with connect(feed_url(sink, token)) as client:
            assert json.loads(await client.recv())["type"] == "snapshot"


async def test_health_reports_uptime_clients_and_edges() -> None:
    async with overlay_server() as (sink, feed), connect(feed_url(sink)) as _client:
        await until(lambda: len(sink.clients) == 1, what="the client joined")
        status, body, _ = await asyncio.to_thread(http_get, sink.port, "/healthz")
        health = json.loads(body)
        assert status == 200
        assert health["clients"] == 1 and health["uptime_s"] >= 0
        assert {"edges", "counters", "session"} <= health.keys()


async def test_browsers_on_other_sites_cannot_read_the_feed() -> None:
    async with overlay_server() as (sink, _):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(feed_url(sink), origin="http://evil.example"):
                pass
        assert refused.value.response.status_code == 403
        own = f"http://127.0.0.1:{sink.port}"
        async with connect(feed_url(sink), origin=own) as client:
            assert json.loads(await client.recv())["type"] == "snapshot"
    async with overlay_server(origins=["https://studio.example"]) as (sink, _):
        async with connect(feed_url(sink), origin="https://studio.example") as client:
            assert json.loads(await client.recv())["type"] == "snapshot"


@pytest.mark.parametrize("bad", ["not json", json.dumps([1, 2]), b"\x00binary", "x" * 10_000])
async def test_a_misbehaving_client_is_closed_alone(bad) -> None:
    async with overlay_server() as (sink, feed):
        async with connect(feed_url(sink)) as good, connect(feed_url(sink), max_size=None) as evil:
            await good.recv()
            await evil.recv()
            await evil.send(bad)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(evil.recv(), seconds(5))
            assert closed.value.rcvd.code in (1003, 1009)
            await feed.send(caption(0, "still flowing"))
            assert (
                json.loads(await asyncio.wait_for(good.recv(), seconds(5)))["text"]
                == "still flowing"
            )
            await good.send(json.dumps({"type": "ping"}))  # a valid message is fine
            await feed.send(caption(1, "and more"))
            assert json.loads(await asyncio.wait_for(good.recv(), seconds(5)))["text"] == "and more"


async def _stalled_client(sink) -> socket.socket:
    """A client that completes the WebSocket handshake and then never reads again,
    with a tiny receive buffer: a frozen browser tab, for the server's purposes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", sink.port))
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{sink.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    assert (await loop.sock_recv(sock, 12)).startswith(b"HTTP/1.1 101")
    return sock


async def _fan_out_latencies(stalled: bool, clients: int = 50, finals: int = 200) -> dict:
    """Feed finals at a steady pace; time their arrival at every healthy client."""
    received: dict[int, dict[int, int]] = {}
    async with overlay_server(client_queue=32) as (sink, feed):
        stuck = await _stalled_client(sink) if stalled else None
        # Before the others join, fill the stalled client's socket buffers to the brim.
        for cid in range(-600, 0):
            await feed.send(caption(cid, "filler " * 600))
        healthy = [await connect(feed_url(sink)) for _ in range(clients - int(stalled))]

        async def listen(index: int, client) -> None:
            received[index] = {}
            await client.recv()  # snapshot
            ready.add(index)
            while len(received[index]) < finals:
                message = json.loads(await client.recv())
                if message["id"] >= 0:
                    received[index][message["id"]] = time.monotonic_ns()

        ready: set[int] = set()
        listeners = [asyncio.create_task(listen(i, c)) for i, c in enumerate(healthy)]
        await until(lambda: len(ready) == len(healthy), what="every client got its snapshot")
        sent: dict[int, int] = {}
        for cid in range(finals):
            item = caption(cid, f"final number {cid}")
            sent[cid] = item.origin_ns
            await feed.send(item)
            await asyncio.sleep(0.005)  # speech's pace: a final every 5 ms
        await asyncio.wait_for(asyncio.gather(*listeners), seconds(60))
        dropped = sink.ctx.metrics.counters["overlay.clients_dropped"]
        for client in healthy:
            await client.close()
        if stuck is not None:
            stuck.close()
    latencies = [(at - sent[cid]) / 1e6 for got in received.values() for cid, at in got.items()]
    return {
        "complete": all(len(got) == finals for got in received.values()),
        "p50_ms": statistics.median(latencies),
        "dropped": dropped,
    }


@pytest.mark.slow
async def test_fifty_clients_one_stalled_all_others_get_every_final_without_delay() -> None:
    baseline = await _fan_out_latencies(stalled=False)
    with_stall = await _fan_out_latencies(stalled=True)
    assert baseline["complete"] and with_stall["complete"]
    assert with_stall["dropped"] == 1  # the stalled client was cut loose, nobody else
    assert baseline["dropped"] == 0
    # The pipeline-side latency does not move (generous bound for a shared 2-core box).
    assert with_stall["p50_ms"] <= baseline["p50_ms"] * 2 + 20, (baseline, with_stall)


UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


async def test_a_page_reaching_the_server_through_a_rebound_name_is_refused() -> None:
    async with overlay_server() as (sink, feed):
        await feed.send(caption(0, "private meeting"))
        evil = f"evil.example:{sink.port}"
        rebound = {"Host": evil, "Origin": f"http://{evil}", **UPGRADE}
        status, body, _ = await asyncio.to_thread(http_get, sink.port, "/ws", rebound)
        assert status == 403 and b"private" not in body
        for path in ("/", "/healthz", "/overlay"):
            status, *_ = await asyncio.to_thread(http_get, sink.port, path, {"Host": evil})
            assert status == 403, path
        for host in ("localhost", "127.0.0.1", "127.0.0.2", "[::1]", "cam.localhost"):
            headers = {"Host": f"{host}:{sink.port}"}
            status, *_ = await asyncio.to_thread(http_get, sink.port, "/healthz", headers)
            assert status == 200, host
    async with overlay_server(allowed_hosts=["studio.lan"]) as (sink, _):
        headers = {"Host": f"studio.lan:{sink.port}"}
        status, *_ = await asyncio.to_thread(http_get, sink.port, "/healthz", headers)
        assert status == 200


async def test_only_get_and_head_are_served_and_head_has_no_body() -> None:
    async with overlay_server() as (sink, _):
        for method in ("DELETE", "TRACE", "FOO", "POST", "PUT"):
            status, body, _ = await asyncio.to_thread(http_get, sink.port, "/", None, method)
            assert status == 405 and b"<html" not in body, method
        _, page, _ = await asyncio.to_thread(http_get, sink.port, "/overlay")
        connection = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=seconds(10))
        try:
            await asyncio.to_thread(connection.request, "HEAD", "/overlay")
            response = await asyncio.to_thread(connection.getresponse)
            assert response.status == 200
            assert int(response.getheader("Content-Length")) == len(page)
            assert await asyncio.to_thread(response.read) == b""
        finally:
            connection.close()


def test_an_empty_token_is_refused() -> None:
    for empty in ("", "   "):
        with pytest.raises(ValidationError, match="an empty token would leave"):
            OverlayOptions(host="0.0.0.0", token=empty)


async def test_viewers_above_the_cap_are_refused_cleanly() -> None:
    async with overlay_server(max_connections=3) as (sink, feed):
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3):
                client = await stack.enter_async_context(connect(feed_url(sink)))
                assert json.loads(await client.recv())["type"] == "snapshot"
            with pytest.raises(InvalidStatus) as refused:
                async with connect(feed_url(sink)):
                    pass
            assert refused.value.response.status_code == 503
            status, body, _ = await asyncio.to_thread(http_get, sink.port, "/healthz")
            assert status == 200 and json.loads(body)["counters"]["overlay.feeds_refused"] == 1
        # once viewers leave, new ones get in
        await until(lambda: sink.open_connections == 0, what="the viewers' connections closed")
        async with connect(feed_url(sink)) as client:
            assert json.loads(await client.recv())["type"] == "snapshot"


async def test_four_hundred_viewers_under_a_low_descriptor_limit_neither_crash_nor_flood(
    jfk, tmp_path
) -> None:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    process = await asyncio.to_thread(
        subprocess.Popen,
        [
            sys.executable,
            "-m",
            "canvascap",
            "run",
            "--input",
            str(jfk),
            "--port",
            "0",
            "--out",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        preexec_fn=low_limit,
    )
    try:
        line = await asyncio.to_thread(wait_for_line, process, "overlay http://")
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        url = f"ws://127.0.0.1:{port}/ws"
        outcomes: list[object] = []

        async def viewer() -> None:
            try:
                async with connect(url) as client:
                    await client.recv()
                    outcomes.append("in")
                    await asyncio.sleep(2)
            except InvalidStatus as refused:
                outcomes.append(refused.response.status_code)

        await asyncio.gather(*(viewer() for _ in range(400)))
        status, body, _ = await asyncio.to_thread(http_get, port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=seconds(60))
    print(f"{outcomes.count('in')} viewers in, {outcomes.count(503)} refused")
    assert 100 <= outcomes.count("in") < 256
    assert outcomes.count(503) == 400 - outcomes.count("in")
    assert process.returncode == 0 and len(stderr) < 4000, stderr[-2000:]


async def test_the_viewer_token_opens_the_audience_page_and_the_feed_only() -> None:
    async with overlay_server(host="0.0.0.0") as (sink, feed):
        admin, viewer = sink.token, sink.viewer_token
        assert admin and viewer and admin != viewer
        assert sink.watch_url.endswith(f"/watch?token={viewer}")
        for path, opens in (
            ("/watch", True),
            ("/", False),
            ("/healthz", False),
            ("/watch-qr.svg", False),
        ):
            status, body, _ = await asyncio.to_thread(http_get, sink.port, f"{path}?token={viewer}")
            assert (status == 200) is opens, path
            assert admin.encode() not in body  # the admin token never leaks to viewers
        async with connect(feed_url(sink, viewer)) as client:
            assert json.loads(await client.recv())["type"] == "snapshot"
        for path in ("/", "/healthz", "/watch-qr.svg", "/watch"):
            status, *_ = await asyncio.to_thread(http_get, sink.port, f"{path}?token={admin}")
            assert status == 200, path
        status, *_ = await asyncio.to_thread(http_get, sink.port, "/watch")
        assert status == 401
