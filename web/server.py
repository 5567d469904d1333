"""``sink.overlay``: serves the caption overlay and its live feed on one port.

One ``websockets`` server answers plain HTTP for the pages (``/`` control page,
``/overlay``, ``/watch``, ``/mic``, their assets) and ``/healthz`` (JSON metrics), and
upgrades ``/ws`` to the caption feed (see ``web.protocol``) and ``/ingest`` to audio from
a browser's microphone (the ``/mic`` page; ``source.browser`` takes it). With
``tls_cert``/``tls_key`` it speaks HTTPS and WSS, which browsers require before they
let a page from another computer use the microphone.

Fan-out follows the per-client queue pattern of websockets' broadcast guide: each client
has its own small coalescing channel and relay task. A browser tab or OBS source that
falls behind gets only the newest revision of each line instead of a backlog; one whose
queue is full of finals is disconnected (it reconnects and resumes from a snapshot).
Nothing a client does can delay the pipeline or the other clients.

Security by default: the server binds to 127.0.0.1. Bound to any other address it
requires a token (``?token=...``) for the control page, the feed and ``/healthz``.
Browsers may connect to the feed only from this server's own pages unless ``origins``
lists others. Only the files shipped in ``web/static`` are served; every other path is
404. Caption text is put into pages as text, never as HTML.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import ipaddress
import json
import logging
import re
import resource
import secrets
import socket
import ssl
import struct
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from canvascap.pipeline.audio import SAMPLE_RATE
from canvascap.pipeline.channel import Channel, Closed, Full, Policy, Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption
from canvascap.web.book import CaptionBook
from canvascap.web.protocol import (
    PROTOCOL_VERSION,
    UNSUPPORTED_VERSION,
    encode_caption,
    encode_snapshot,
)

__all__ = ["OverlaySink"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

# Pages by URL path; anything not listed here (and not an asset below) is 404.
_PAGES = {"/": "index.html", "/overlay": "overlay.html", "/watch": "watch.html", "/mic": "mic.html"}
# Paths that need the (admin) token when one is set, and those the read-only viewer
# token also opens. The overlay page itself holds no captions.
_ADMIN_ONLY = frozenset({"/", "/healthz", "/watch-qr.svg", "/mic", "/ingest"})
_SOCKETS = frozenset({"/ws", "/ingest"})
INGEST_REFUSED = 4409
"""Close code for a second browser microphone while one is sending."""
NO_INGEST = 4404
"""Close code for a browser microphone when the session takes no browser audio."""
_SPEAKER_LABEL = re.compile(r"S[1-9][0-9]{0,2}")
_SAMPLE_INDEX = struct.Struct("<Q")
"""The first sample's index, before each block of browser audio."""
_VIEWERS_TOO = frozenset({"/ws", "/watch"})


class OverlayOptions(BaseModel):
    """Options of ``sink.overlay``."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    """Address to listen on; anything but loopback requires a token."""
    port: int = Field(8765, ge=0, le=65535)
    """TCP port; 0 picks a free one."""
    token: str | None = None
    """Access token; generated when the host is not loopback and none is given. An empty
    token is refused: it would leave a server open to the network unprotected."""
    viewer_token: str | None = None
    """Read-only token for the audience page (``/watch``) and the feed: it opens neither
    the control page nor the health endpoint. Generated like ``token``."""
    origins: list[str] | None = None
    """Extra web origins allowed to open the feed (``["*"]`` for any)."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names, besides loopback ones and ``host``, that browsers may use to reach the
    server (e.g. ``studio.lan``). Any other ``Host`` header is refused, so a web page
    cannot reach the server through a rebound DNS name."""
    max_connections: int = Field(0, ge=0)
    """Feed connections (overlays, control pages, tools) served at once; more are
    answered 503. 0: as many as the process's file-descriptor limit safely allows (at
    most 1000)."""
    history: int = Field(20, ge=1)
    """Finals kept for the snapshot sent to new clients."""
    client_queue: int = Field(32, ge=2)
    """Revisions queued per client before it counts as stalled."""
    max_message_bytes: int = Field(4096, ge=64)
    """Largest message a client may send: small control messages, and 40 ms blocks of
    browser audio (1,288 bytes)."""
    tls_cert: str | None = None
    """PEM certificate (``--tls-cert``): serve HTTPS and WSS. Browsers let a page use
    the microphone only over HTTPS unless it comes from this computer."""
    tls_key: str | None = None
    """The certificate's PEM private key (``--tls-key``)."""

    @field_validator("token", "viewer_token")
    @classmethod
    def _token_not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError(
                "an empty token would leave the server unprotected: remove the key to have "
                "one generated, or give a token"
            )
        return value

    @model_validator(mode="after")
    def _cert_with_key(self) -> OverlayOptions:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("HTTPS needs both --tls-cert and --tls-key")
        return self


class _Client:
    """One connected feed client: its queue and connection."""

    def __init__(self, connection: ServerConnection, size: int) -> None:
        self.connection = connection
        self.queue: Channel[Caption] = Channel("overlay.client", size, Policy.COALESCE)


class OverlaySink:
    """Serves the overlay pages and pushes every caption revision to every client."""

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None
    Options = OverlayOptions

    def __init__(self, options: OverlayOptions, ctx: Context) -> None:
        self.name = "overlay"
        self.options = options
        self.ctx = ctx
        self.book = CaptionBook(options.history)
        self.clients: set[_Client] = set()
        self.token = options.token
        self.viewer_token = options.viewer_token
        if not _is_loopback(options.host):
            self.token = self.token or secrets.token_urlsafe(16)
            self.viewer_token = self.viewer_token or secrets.token_urlsafe(16)
        self._server: Server | None = None
        # Pages and assets by URL path, read once (no disk I/O on the event loop while
        # serving): nothing else on disk can ever be reached.
        routes = {path: STATIC / name for path, name in _PAGES.items()}
        routes.update(
            (f"/{p.name}", p)
            for p in STATIC.iterdir()
            if p.suffix in _CONTENT_TYPES and p.suffix != ".html"
        )
        self._files = {
            path: (file.read_bytes(), _CONTENT_TYPES[file.suffix]) for path, file in routes.items()
        }
        self._closing: set[asyncio.Task[None]] = set()
        self._started_ns = ctx.clock.now_ns()
        self._max_connections = options.max_connections or _connections_the_fd_limit_allows()
        self._hosts = {
            *_LOOPBACK_NAMES,
            options.host.lower(),
            *map(str.lower, options.allowed_hosts),
        }
        self.port: int | None = None
        self._qr = b""

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
        if self.ctx.ingest is not None:
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

    @property
    def _secure(self) -> bool:
        return self.options.tls_cert is not None

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
        if host in _WILDCARDS:
            host = _network_address()
        suffix = f"?token={self.viewer_token}" if self.viewer_token else ""
        return f"{self._base_url('http', host)}/watch{suffix}"

    def _base_url(self, scheme: str, host: str | None = None) -> str:
        if self._secure:
            scheme = {"http": "https", "ws": "wss"}[scheme]
        host = host or self.options.host
        shown = "127.0.0.1" if host in _WILDCARDS else host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"{scheme}://{shown}:{self.port}"

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Apply each revision to the book and queue it for every client."""
        async for received in inbox:
            caption = self.ctx.for_display(received)
            if not self.book.apply(caption):
                continue
            for client in list(self.clients):
                try:
                    client.queue.send_nowait(caption)
                except (Full, Closed):
                    self.ctx.metrics.count("overlay.clients_dropped")
                    self._drop(client, "client too slow")

    async def aclose(self) -> None:
        """Close every client (1001, going away) and stop listening."""
        for client in list(self.clients):
            client.queue.close()
        if self._server is not None:
            await asyncio.sleep(0.05)  # let relays flush the last finals
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
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

    # -- HTTP ------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.method not in ("GET", "HEAD"):
            return _plain(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD are served\n")
        response = self._answer(request)
        if response is not None and request.method == "HEAD":
            # The headers of a GET, Content-Length included, and no body.
            return Response(response.status_code, response.reason_phrase, response.headers, b"")
        return response

    def _answer(self, request: Request) -> Response | None:
        """The response to a GET or HEAD, or ``None`` to go on with a feed handshake."""
        url = urlsplit(request.path)
        path = url.path
        if not self._host_allowed(request.headers.get("Host", "")):
            self.ctx.metrics.count("overlay.hosts_refused")
            return _plain(HTTPStatus.FORBIDDEN, "unknown host name\n")
        if path in _ADMIN_ONLY and not self._authorized(url.query, admin_only=True):
            return _plain(HTTPStatus.UNAUTHORIZED, "a valid ?token= is needed\n")
        if path in _VIEWERS_TOO and not self._authorized(url.query, admin_only=False):
            return _plain(HTTPStatus.UNAUTHORIZED, "a valid ?token= is needed\n")
        if path in _SOCKETS:
            if request.method != "GET":
                return _plain(HTTPStatus.METHOD_NOT_ALLOWED, "a WebSocket needs GET\n")
            if not self._origin_allowed(request.headers.get("Origin"), request.headers):
                return _plain(HTTPStatus.FORBIDDEN, "origin not allowed\n")
            if self._open_connections() > self._max_connections:
                # Above the cap a clean refusal, before the process runs out of file
                # descriptors; browsers retry with back-off.
                self.ctx.metrics.count("overlay.feeds_refused")
                return _plain(HTTPStatus.SERVICE_UNAVAILABLE, "too many viewers; retry later\n")
            return None  # go on with the WebSocket handshake
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return _plain(HTTPStatus.NOT_FOUND, "not found\n")
        if path == "/healthz":
            body = json.dumps(self.health()).encode()
            return _response(HTTPStatus.OK, body, "application/json")
        if path == "/watch-qr.svg":
            return _response(HTTPStatus.OK, self._qr, "image/svg+xml")
        if path not in self._files:
            return _plain(HTTPStatus.NOT_FOUND, "not found\n")
        body, content_type = self._files[path]
        return _response(HTTPStatus.OK, body, content_type)

    def _authorized(self, query: str, admin_only: bool) -> bool:
        """Whether the request's token opens this path (the admin token opens all)."""
        if self.token is None:
            return True
        given = parse_qs(query).get("token", [""])[0].encode()
        tokens = (
            [self.token] if admin_only or not self.viewer_token else [self.token, self.viewer_token]
        )
        return any(hmac.compare_digest(given, token.encode()) for token in tokens)

    def _open_connections(self) -> int:
        """Connections open now, this one and those still in their handshake included:
        each holds a file descriptor."""
        return len(self._server.handler_tasks) if self._server is not None else 0

    def _host_allowed(self, host: str) -> bool:
        """Whether the ``Host`` header names this server (DNS rebinding is refused)."""
        if self.options.host in _WILDCARDS:
            return True  # reachable under any name, so a token is always required
        name = urlsplit(f"//{host}").hostname or ""
        if name in self._hosts or name.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def _origin_allowed(self, origin: str | None, headers: Headers) -> bool:
        if origin is None:
            return True  # not a browser page: OBS, scripts, other tools
        allowed = self.options.origins or []
        if "*" in allowed or origin in allowed:
            return True
        # The server's own pages, whatever name the browser used to reach it.
        host = headers.get("Host", "")
        return origin in (f"http://{host}", f"https://{host}")

    # -- WebSocket feed --------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        request = connection.request
        if request is not None and urlsplit(request.path).path == "/ingest":
            await self._ingest(connection)
            return
        asked = parse_qs(urlsplit(request.path).query).get("v") if request else None
        if asked and asked[0] != str(PROTOCOL_VERSION):
            await connection.close(
                UNSUPPORTED_VERSION,
                f"this server speaks feed protocol version {PROTOCOL_VERSION}, not "
                f"{asked[0][:8]}: reload the page or update the client",
            )
            return
        client = _Client(connection, self.options.client_queue)
        self.clients.add(client)
        relay = asyncio.create_task(self._relay(client))
        query = urlsplit(request.path).query if request else ""
        admin = self._authorized(query, admin_only=True)
        try:
            await connection.send(encode_snapshot(self.ctx.session, self.book.snapshot()))
            async for message in connection:
                parsed = _client_message(message)
                if parsed is None:
                    await connection.close(1003, "unsupported message")
                    break
                if parsed.get("type") == "rename" and admin:
                    self._rename(parsed)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            client.queue.close()
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await relay

    def _rename(self, message: dict[str, Any]) -> None:
        """A name for a speaker label, from the control page (admin only): captions
        labelled from now on carry it; an empty name gives the label back."""
        label, name = str(message.get("label", "")), str(message.get("name", "")).strip()
        if not _SPEAKER_LABEL.fullmatch(label):
            return
        if name:
            self.ctx.speaker_names[label] = name[:40]
        else:
            self.ctx.speaker_names.pop(label, None)
        log.info("speaker %s is now shown as %s", label, name or label)

    async def _ingest(self, connection: ServerConnection) -> None:
        """Audio from the ``/mic`` page: a hello naming its stream, then binary blocks,
        each the index of its first sample and 16 kHz mono PCM16."""
        ingest = self.ctx.ingest
        if ingest is None:
            await connection.close(
                NO_INGEST,
                "this session takes no browser audio: start canvascap with --source browser",
            )
            return
        try:
            hello = json.loads(await connection.recv())
            stream = str(hello["stream"])[:64]
            if hello.get("sample_rate") != SAMPLE_RATE:
                raise ValueError(hello.get("sample_rate"))
        except (ValueError, KeyError, TypeError):
            await connection.close(1003, f"send a hello with a stream and {SAMPLE_RATE} Hz")
            return
        except ConnectionClosed:
            return
        if not ingest.claim(connection, stream):
            await connection.close(
                INGEST_REFUSED,
                "another browser is already sending its microphone to this session; "
                "stop it there first",
            )
            return
        log.info("a browser microphone is connected")
        try:
            async for message in connection:
                if isinstance(message, str) or len(message) < _SAMPLE_INDEX.size + 2:
                    continue
                (first,) = _SAMPLE_INDEX.unpack_from(message)
                ingest.push(connection, first, bytes(message[_SAMPLE_INDEX.size :]))
        except ConnectionClosed:
            pass
        finally:
            ingest.release(connection)
            log.info("the browser microphone disconnected")

    async def _relay(self, client: _Client) -> None:
        try:
            async for caption in client.queue:
                await client.connection.send(encode_caption(caption))
            await client.connection.close(1001, "session ended")
        except ConnectionClosed:
            pass

    def _drop(self, client: _Client, reason: str) -> None:
        self.clients.discard(client)
        client.queue.close()
        log.info("disconnecting an overlay client: %s", reason)
        task = asyncio.get_running_loop().create_task(client.connection.close(1013, reason))
        self._closing.add(task)  # keep a reference until it has run
        task.add_done_callback(self._closing.discard)


def _client_message(message: str | bytes) -> dict[str, Any] | None:
    """A client's message if it is one clients may send: a small JSON object, ``ping``
    or (from the control page) ``rename``; ``None`` for anything else."""
    if isinstance(message, bytes):
        return None
    try:
        parsed = json.loads(message)
    except ValueError:
        return None
    if isinstance(parsed, dict) and parsed.get("type") in ("ping", "rename"):
        return parsed
    return None


_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
_LOOPBACK_NAMES = frozenset({"localhost"})


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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _plain(status: HTTPStatus, text: str) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8")


def _response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            (
                "Content-Security-Policy",
                "default-src 'self'; connect-src 'self' ws: wss:; "
                "style-src 'self' 'unsafe-inline'; frame-ancestors *",
            ),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)
