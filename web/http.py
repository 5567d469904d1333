"""Plain HTTP answers of the overlay server: every response carries the same safe headers."""

from __future__ import annotations

from http import HTTPStatus

from websockets.datastructures import Headers
from websockets.http11 import Response

__all__ = ["CONTENT_TYPES", "plain", "response", "without_body"]

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors *"
)


def plain(status: HTTPStatus, text: str) -> Response:
    """A short text answer (errors, refusals)."""
    return response(status, text.encode(), "text/plain; charset=utf-8")


def response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    """An answer that is never cached or sniffed, and loads nothing from elsewhere."""
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", _SECURITY_POLICY),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def without_body(answer: Response) -> Response:
    """The answer to a HEAD: a GET's headers, Content-Length included, and no body."""
    return Response(answer.status_code, answer.reason_phrase, answer.headers, b"")
