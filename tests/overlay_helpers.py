"""Captions for overlay tests, and a raw HTTP client that sends paths as given."""

from __future__ import annotations

import http.client
import time

from canvascap.pipeline.types import Caption, Role
from tests.timing import seconds


def caption(
    cid: int,
    text: str,
    rev: int = 0,
    final: bool = True,
    lang: str = "en",
    source: str | None = None,
    stable_chars: int = 0,
    role: Role = Role.SPOKEN,
) -> Caption:
    """A caption revision stamped with the current time as its origin."""
    return Caption(
        cid,
        rev,
        final,
        source if source is not None else text,
        text,
        lang,
        float(cid),
        float(cid) + 1.0,
        time.monotonic_ns(),
        stable_chars,
        role=role,
    )


def http_get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, bytes, str]:
    """A raw request: the path (and any Host header) is sent exactly as given."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=seconds(10))
    headers = headers or {}
    try:
        connection.putrequest(method, path, skip_accept_encoding=True, skip_host="Host" in headers)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        connection.close()
