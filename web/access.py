"""Who may open what on the overlay server, decided without any I/O.

``AccessRules.decide`` looks at one HTTP request (method, ``Host``, path, token,
``Origin``) and returns the refusal to send (a ``Refusal``: the response, and the counter
it is counted under), or ``None`` when the request may go on to the page or the
WebSocket handshake. It holds no socket and reads no file, so every rule
is tested synchronously, as websockets tests its sans-I/O protocol.

The rules, in order:

* only GET and HEAD are served;
* the ``Host`` header must name this server (a page on a rebound DNS name is refused);
* with a token set (always off loopback), the admin token opens everything and the
  viewer token only the audience page and the feed;
* a WebSocket needs GET, an allowed ``Origin`` (this server's own pages unless
  ``origins`` lists others) and room under the connection cap.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.http11 import Request, Response

from canvascap.web.http import plain

__all__ = [
    "ADMIN_ONLY",
    "SOCKETS",
    "VIEWERS_TOO",
    "WILDCARDS",
    "AccessRules",
    "Refusal",
    "is_loopback",
    "token_of",
]

ADMIN_ONLY = frozenset({"/", "/healthz", "/watch-qr.svg", "/mic", "/ingest"})
"""Paths only the admin token opens when a token is set."""
VIEWERS_TOO = frozenset({"/ws", "/watch"})
"""Paths the read-only viewer token opens as well. The overlay page holds no captions."""
SOCKETS = frozenset({"/ws", "/ingest"})
"""Paths that upgrade to a WebSocket."""
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
"""Bind addresses that listen on every interface."""
_LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this computer."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_of(path: str) -> str:
    """The ``?token=`` a request path carries (empty when none)."""
    return parse_qs(urlsplit(path).query).get("token", [""])[0]


@dataclass(frozen=True)
class Refusal:
    """A request that is not served: what to answer, and what to count it as."""

    response: Response
    counter: str | None = None
    """The health counter for refusals worth watching (``overlay.hosts_refused``)."""

    @property
    def status(self) -> int:
        """The HTTP status of the answer."""
        return self.response.status_code


def _refuse(status: HTTPStatus, text: str, counter: str | None = None) -> Refusal:
    return Refusal(plain(status, text), counter)


@dataclass
class AccessRules:
    """The overlay server's access policy for one bind address and its tokens."""

    host: str
    """The address the server listens on."""
    token: str | None = None
    """The admin token; ``None``: everything is open (loopback only)."""
    viewer_token: str | None = None
    """The read-only token for ``/watch`` and the feed."""
    origins: list[str] = field(default_factory=list)
    """Web origins besides the server's own pages that may open the feed (``*``: any)."""
    allowed_hosts: Iterable[str] = ()
    """Host names, besides loopback ones and ``host``, that browsers may use."""

    def __post_init__(self) -> None:
        self._hosts = {*_LOOPBACK_NAMES, self.host.lower(), *map(str.lower, self.allowed_hosts)}

    def decide(
        self, request: Request, open_connections: int, max_connections: int
    ) -> Refusal | None:
        """The refusal for ``request``, or ``None`` to serve it (a page, or the handshake
        of a WebSocket). ``open_connections`` counts this one too."""
        if request.method not in ("GET", "HEAD"):
            return _refuse(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD are served\n")
        path = urlsplit(request.path).path
        host = request.headers.get("Host", "")
        if not self.host_allowed(host):
            return _refuse(HTTPStatus.FORBIDDEN, "unknown host name\n", "overlay.hosts_refused")
        token = token_of(request.path)
        if path in ADMIN_ONLY and not self.opens(token, admin_only=True):
            return _refuse(HTTPStatus.UNAUTHORIZED, "a valid ?token= is needed\n")
        if path in VIEWERS_TOO and not self.opens(token, admin_only=False):
            return _refuse(HTTPStatus.UNAUTHORIZED, "a valid ?token= is needed\n")
        if path not in SOCKETS:
            return None
        if request.method != "GET":
            return _refuse(HTTPStatus.METHOD_NOT_ALLOWED, "a WebSocket needs GET\n")
        if not self.origin_allowed(request.headers.get("Origin"), host):
            return _refuse(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if open_connections > max_connections:
            # Above the cap a clean refusal, before the process runs out of file
            # descriptors; browsers retry with back-off.
            return _refuse(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "too many viewers; retry later\n",
                "overlay.feeds_refused",
            )
        return None

    def opens(self, given: str, admin_only: bool) -> bool:
        """Whether the token ``given`` opens a path (the admin token opens all)."""
        if self.token is None:
            return True
        tokens = [self.token]
        if not admin_only and self.viewer_token:
            tokens.append(self.viewer_token)
        return any(hmac.compare_digest(given.encode(), token.encode()) for token in tokens)

    def host_allowed(self, host: str) -> bool:
        """Whether the ``Host`` header names this server (DNS rebinding is refused)."""
        if self.host in WILDCARDS:
            return True  # reachable under any name, so a token is always required
        name = urlsplit(f"//{host}").hostname or ""
        if name in self._hosts or name.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def origin_allowed(self, origin: str | None, host: str) -> bool:
        """Whether a page from ``origin`` may open a WebSocket here."""
        if origin is None:
            return True  # not a browser page: OBS, scripts, other tools
        if "*" in self.origins or origin in self.origins:
            return True
        # The server's own pages, whatever name the browser used to reach it.
        return origin in (f"http://{host}", f"https://{host}")
