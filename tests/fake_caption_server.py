"""A stand-in for the caption ingestion of Zoom or YouTube (neither can be reached here).

It records every POST (its ``seq``, ``lang``, content type and body), answers like the
platforms do, and can fail the first requests or hold every request without answering.
``accepted`` holds the POSTs it answered with 200, in order; a platform keeps one caption
per ``seq``, so a retry of an accepted ``seq`` is not a second caption.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Received:
    """One POST as the server saw it."""

    seq: int
    lang: str | None
    content_type: str
    body: str
    at: float


class FakeCaptionServer:
    """Runs on a background thread; ``fail_first`` and ``stall`` may change while it runs."""

    def __init__(self, answer: str = "", path: str = "/closedcaption") -> None:
        self.fail_first = 0
        self.stall = False
        self.answer = answer
        """What an accepted POST's body says (YouTube answers with its time)."""
        self.received: list[Received] = []
        self.accepted: list[Received] = []
        self.released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received = Received(
                    int(query["seq"][0]),
                    query.get("lang", [None])[0],
                    self.headers.get("Content-Type", ""),
                    body.decode("utf-8"),
                    time.time(),
                )
                fake.received.append(received)
                if fake.stall:
                    fake.released.wait(60)
                    return
                if url.path != path or "id" not in query:
                    return self._reply(403, "Unauthorized")
                if fake.fail_first > 0:
                    fake.fail_first -= 1
                    return self._reply(500, "Internal Server Error")
                if not any(a.seq == received.seq for a in fake.accepted):
                    fake.accepted.append(received)
                self._reply(200, fake.answer() if callable(fake.answer) else fake.answer)

            def _reply(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = (
            f"http://127.0.0.1:{self.server.server_address[1]}{path}"
            "?id=7&ns=ab%3D%3D&signature=SECRET123"
        )
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeCaptionServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
