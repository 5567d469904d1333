"""``sink.overlay``: serves the caption overlay and its live feed on one port.

One ``websockets`` server answers plain HTTP for the pages (``/`` control page,
``/overlay``, ``/watch``, ``/mic``, their assets) and ``/healthz`` (JSON metrics), and
upgrades ``/ws`` to the caption feed (see ``web.protocol``) and ``/ingest`` to audio from
a browser's microphone (``web.ingest_socket``). With ``tls_cert``/``tls_key`` it speaks
HTTPS and WSS, which browsers require before they let a page from another computer use
the microphone.

This module is the I/O shell. Who may open what is decided by ``web.access`` without
I/O; which clients get which revision, and who is too slow, by ``web.fanout``; what
new clients are sent first by ``web.book``. Nothing a client does can delay the
pipeline or the other clients.

Security by default: the server binds to 127.0.0.1. Bound to any other address it
requires a token (``?token=...``) for the control page, the feed and ``/healthz``.
Only the files shipped in ``web/static`` are served; every other path is 404. Caption
text is put into pages as text, never as HTML.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import resource
import secrets
import socket
import ssl
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from canvascap.captions.ingest import AudioIngest
from canvascap.captions.profanity import for_display
from canvascap.captions.speaker_names import SpeakerNames
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.tasks import cancel_and_wait
from canvascap.pipeline.types import Caption
from canvascap.web.access import SOCKETS, WILDCARDS, AccessRules, is_loopback, token_of
from canvascap.web.book import CaptionBook
from canvascap.web.fanout import FanOutBook, FeedClient
from canvascap.web.http import CONTENT_TYPES, plain, response, without_body
from canvascap.web.ingest_socket import (
    INGEST_REFUSED,
    NO_INGEST,
    UNSUPPORTED_MESSAGE,
    receive_microphone,
)
from canvascap.web.options import OverlayOptions
from canvascap.web.protocol import (
    PROTOCOL_VERSION,
    UNSUPPORTED_VERSION,
    decode_client_message,
    encode_caption,
    encode_snapshot,
)

__all__ = ["INGEST_REFUSED", "NO_INGEST", "OverlayOptions", "OverlaySink"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"

# Pages by URL path; anything not listed here (and not an asset) is 404.
_PAGES = {"/": "index.html", "/overlay": "overlay.html", "/watch": "watch.html", "/mic": "mic.html"}
GOING_AWAY = 1001
"""Close code when the session ends."""
TOO_SLOW = 1013
"""Close code for a feed client whose queue is full of finals ("try again later")."""
RELAY_FLUSH_S = 2.0
"""How long the last finals may take to reach clients when the session ends."""


class OverlaySink:
    """Serves the overlay pages and pushes every caption revision to every client."""

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None
    Options = OverlayOptions

    def __init__(self, options: OverlayOptions, ctx: Context) -> None:
        self.name = "overlay"
        self.options = options
        self.ctx = ctx
        self._display = for_display(ctx)
        self.book = CaptionBook(options.history)
        self.fanout: FanOutBook[ServerConnection] = FanOutBook(options.client_queue)
        self.speaker_names = ctx.services.get(SpeakerNames)
        """Where renames from the control page go (``None``: they are ignored)."""
        self.token = options.token
        self.viewer_token = options.viewer_token
        if not is_loopback(options.host):
            self.token = self.token or secrets.token_urlsafe(16)
            self.viewer_token = self.viewer_token or secrets.token_urlsafe(16)
        self.access = AccessRules(
            options.host, self.token, self.viewer_token, options.origins or [],
            options.allowed_hosts,
        )  # fmt: skip
        self._files = _static_files()
        self._server: Server | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._started_ns = ctx.clock.now_ns()
        self._max_connections = options.max_connections or _connections_the_fd_limit_allows()
        self.port: int | None = None
        self._qr = b""

    @property
    def open_connections(self) -> int:
        """Connections open now, those still in their handshake included: each holds a
        file descriptor, so the cap counts them all."""
        return len(self._server.handler_tasks) if self._server is not None else 0

    @property
    def clients(self) -> set[FeedClient[ServerConnection]]:
        """The feed clients connected now."""
        return self.fanout.clients

    # -- lifecycle -------------------------------------------------------------------
    async def prepare(self) -> None:
        """Start listening, so the URL can be printed before audio flows."""
        try:
            self._server = await serve(
                self._handle,
                self.options.host,
                self.options.port,
                process_request=self._process_request,
                max_size=self.options.max_message_bytes,
                server_header="canvascap",
                ssl=self._tls(),
            )
        except OSError as error:
            raise UserError(
                f"cannot serve the overlay on {self.options.host}:{self.options.port}: "
                f"{error.strerror}; choose another with --port (or --set overlay.port=0)"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        report = self.ctx.report
        report.urls["overlay"] = self.page_url("/overlay")
        report.urls["control"] = self.page_url("/")
        report.urls["feed"] = self.page_url("/ws", scheme="ws")
        report.urls["watch"] = self.watch_url
        ingest = self.ctx.services.get(AudioIngest)
        if ingest is not None and ingest.accepting:
            report.urls["mic"] = self.page_url("/mic")
        self._qr = _qr_svg(self.watch_url)

    def _tls(self) -> ssl.SSLContext | None:
        """The server's TLS settings, or a one-line error naming the file at fault."""
        if self.options.tls_cert is None or self.options.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.options.tls_cert, self.options.tls_key)
        except (OSError, ssl.SSLError) as error:
            raise UserError(
                f"cannot use {self.options.tls_cert} with {self.options.tls_key} for HTTPS: "
                f"{getattr(error, 'strerror', None) or error}; give a PEM certificate and "
                "its private key"
            ) from None
        return context

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Apply each revision to the book and queue it for every client."""
        async for received in inbox:
            caption = self._display(received)
            if not self.book.apply(caption):
                continue
            for client in self.fanout.publish(caption):
                self.ctx.metrics.count("overlay.clients_dropped")
                self._close_later(client.connection, TOO_SLOW, "client too slow")

    async def aclose(self) -> None:
        """Send every client what is queued for it, close it (1001, going away) and stop
        listening."""
        self.fanout.close()
        if self._relays:
            await asyncio.wait(set(self._relays), timeout=RELAY_FLUSH_S)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), RELAY_FLUSH_S)
            self._server = None

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` returns."""
        return {
            "session": self.ctx.session,
            "uptime_s": round((self.ctx.clock.now_ns() - self._started_ns) / 1e9, 1),
            "clients": len(self.clients),
            "watch_url": self.watch_url,
            **self.ctx.metrics.snapshot(),
        }

    # -- addresses -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of this server, without the token."""
        return self._base_url("http")

    def page_url(self, path: str, scheme: str = "http") -> str:
        """URL of a page on this server, with the token when one is needed."""
        suffix = f"?token={self.token}" if self.token else ""
        return f"{self._base_url(scheme)}{path}{suffix}"

    @property
    def watch_url(self) -> str:
        """The audience page, as phones on the network reach it, with the viewer token."""
        host = self.options.host
        if host in WILDCARDS:
            host = _network_address()
        suffix = f"?token={self.viewer_token}" if self.viewer_token else ""
        return f"{self._base_url('http', host)}/watch{suffix}"

    def _base_url(self, scheme: str, host: str | None = None) -> str:
        if self.options.tls_cert is not None:
            scheme = {"http": "https", "ws": "wss"}[scheme]
        host = host or self.options.host
        shown = "127.0.0.1" if host in WILDCARDS else host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"{scheme}://{shown}:{self.port}"

    # -- HTTP ------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        refusal = self.access.decide(request, self.open_connections, self._max_connections)
        if refusal is not None:
            if refusal.counter:
                self.ctx.metrics.count(refusal.counter)
            answer = refusal.response
        elif urlsplit(request.path).path in SOCKETS:
            return None  # go on with the WebSocket handshake
        else:
            answer = self._page(request)
        return without_body(answer) if request.method == "HEAD" else answer

    def _page(self, request: Request) -> Response:
        """A page, an asset or ``/healthz``; 404 for anything else."""
        path = urlsplit(request.path).path
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return plain(HTTPStatus.NOT_FOUND, "not found\n")
        if path == "/healthz":
            return response(HTTPStatus.OK, json.dumps(self.health()).encode(), "application/json")
        if path == "/watch-qr.svg":
            return response(HTTPStatus.OK, self._qr, "image/svg+xml")
        if path not in self._files:
            return plain(HTTPStatus.NOT_FOUND, "not found\n")
        body, content_type = self._files[path]
        return response(HTTPStatus.OK, body, content_type)

    # -- WebSockets ------------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        request = connection.request
        path = request.path if request is not None else "/ws"
        if urlsplit(path).path == "/ingest":
            await receive_microphone(connection, self.ctx.services.get(AudioIngest))
            return
        asked = parse_qs(urlsplit(path).query).get("v")
        if asked and asked[0] != str(PROTOCOL_VERSION):
            await connection.close(
                UNSUPPORTED_VERSION,
                f"this server speaks feed protocol version {PROTOCOL_VERSION}, not "
                f"{asked[0][:8]}: reload the page or update the client",
            )
            return
        await self._feed(connection, admin=self.access.opens(token_of(path), admin_only=True))

    async def _feed(self, connection: ServerConnection, admin: bool) -> None:
        """A feed client: a snapshot, then every revision; renames from an admin."""
        client = self.fanout.join(connection)
        relay = asyncio.create_task(self._relay(client))
        self._relays.add(relay)
        relay.add_done_callback(self._relays.discard)
        try:
            await connection.send(encode_snapshot(self.ctx.session, self.book.snapshot()))
            async for message in connection:
                parsed = decode_client_message(message)
                if parsed is None:
                    await connection.close(UNSUPPORTED_MESSAGE, "unsupported message")
                    break
                if parsed["type"] == "rename" and admin:
                    self._rename(parsed)
        except ConnectionClosed:
            pass
        finally:
            ending = client.queue.closed  # the session ends: the relay sends the rest
            self.fanout.leave(client)
            if ending:
                await asyncio.wait({relay}, timeout=RELAY_FLUSH_S)
            await cancel_and_wait(relay)

    def _rename(self, message: dict[str, Any]) -> None:
        """A name for a speaker label, from the control page (admin only): captions
        labelled from now on carry it; an empty name gives the label back."""
        label, name = str(message.get("label", "")), str(message.get("name", ""))
        if self.speaker_names is not None and self.speaker_names.rename(label, name):
            log.info("speaker %s is now shown as %s", label, name.strip() or label)

    async def _relay(self, client: FeedClient[ServerConnection]) -> None:
        """Send the client's queue until it closes, then say the session ended."""
        try:
            async for caption in client.queue:
                await client.connection.send(encode_caption(caption))
            await client.connection.close(GOING_AWAY, "session ended")
        except ConnectionClosed:
            pass

    def _close_later(self, connection: ServerConnection, code: int, reason: str) -> None:
        log.info("disconnecting an overlay client: %s", reason)
        task = asyncio.get_running_loop().create_task(connection.close(code, reason))
        self._closing.add(task)  # keep a reference until it has run
        task.add_done_callback(self._closing.discard)


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Pages and assets by URL path, read once (no disk I/O on the event loop while
    serving): nothing else on disk can ever be reached."""
    routes = {path: STATIC / name for path, name in _PAGES.items()}
    routes.update(
        (f"/{p.name}", p)
        for p in STATIC.iterdir()
        if p.suffix in CONTENT_TYPES and p.suffix != ".html"
    )
    return {path: (file.read_bytes(), CONTENT_TYPES[file.suffix]) for path, file in routes.items()}


def _network_address() -> str:
    """This machine's address on its network, as phones in the room would reach it.

    Connecting a UDP socket sends nothing; it only makes the system choose the address
    it would send from.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _qr_svg(text: str) -> bytes:
    """A QR code of ``text``, as an SVG image."""
    import segno

    image = io.BytesIO()
    segno.make(text, error="m").save(image, kind="svg", scale=5, border=2)
    return image.getvalue()


def _connections_the_fd_limit_allows() -> int:
    """Connections that leave room for the session's own files, models and threads."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1000
    return max(8, min(1000, soft - 64))
