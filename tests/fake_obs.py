"""A stand-in for OBS Studio's WebSocket server (obs-websocket v5), for the OBS sink.

OBS cannot run here. This server speaks what a client of OBS sees: the Hello with an
authentication challenge, Identify with the password's answer checked as OBS checks
it (closing with 4009 when it is wrong), Identified, and requests answered with a
request status. It records every ``SendStreamCaption``; ``streaming`` off makes it
refuse them as OBS does when no stream is running. Messages are MessagePack
(the ``obswebsocket.msgpack`` subprotocol) or JSON (``obswebsocket.json``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from typing import Any

import msgpack
from websockets.asyncio.server import ServerConnection, serve


def answer(password: str, salt: str, challenge: str) -> str:
    """The authentication string a client must send (obs-websocket's protocol)."""
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest())
    return base64.b64encode(hashlib.sha256(secret + challenge.encode()).digest()).decode()


class FakeObs:
    """Start with ``await start()``; ``captions`` holds (time, text) of each caption."""

    def __init__(self, password: str, port: int = 0) -> None:
        self.password = password
        self.port = port
        self.streaming = True
        self.fail_first = 0
        """Refuse this many captions first (OBS before its stream has started)."""
        self.stall = False
        """Take requests and never answer them."""
        self.captions: list[tuple[float, str]] = []
        self.refused = 0
        self.identified = 0
        self.captioned = asyncio.Event()
        """Set once a caption has been taken."""
        self._server: Any = None

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            subprotocols=["obswebsocket.msgpack", "obswebsocket.json"],  # type: ignore[list-item]
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """OBS quits: every connection closes."""
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handle(self, connection: ServerConnection) -> None:
        packed = connection.subprotocol == "obswebsocket.msgpack"

        def encode(message: dict[str, Any]) -> bytes | str:
            return msgpack.packb(message) if packed else json.dumps(message)

        def decode(raw: bytes | str) -> dict[str, Any]:
            return msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)

        salt, challenge = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        hello = {"obsWebSocketVersion": "5.5.0", "rpcVersion": 1}
        if self.password:
            hello["authentication"] = {"challenge": challenge, "salt": salt}
        await connection.send(encode({"op": 0, "d": hello}))
        identify = decode(await connection.recv())
        if identify["op"] != 1 or (
            self.password
            and identify["d"].get("authentication") != answer(self.password, salt, challenge)
        ):
            await connection.close(4009, "Authentication failed.")
            return
        self.identified += 1
        await connection.send(encode({"op": 2, "d": {"negotiatedRpcVersion": 1}}))
        async for raw in connection:
            request = decode(raw)["d"]
            if self.stall:
                continue
            ok = request["requestType"] != "SendStreamCaption" or self.streaming
            if ok and request["requestType"] == "SendStreamCaption" and self.fail_first > 0:
                self.fail_first -= 1
                ok = False
            if request["requestType"] == "SendStreamCaption":
                if ok:
                    self.captions.append((time.monotonic(), request["requestData"]["captionText"]))
                    self.captioned.set()
                else:
                    self.refused += 1
            status = {"result": ok, "code": 100 if ok else 501}
            if not ok:
                status["comment"] = "The output is not running."
            response = {
                "requestType": request["requestType"],
                "requestId": request["requestId"],
                "requestStatus": status,
            }
            await connection.send(encode({"op": 7, "d": response}))
            await asyncio.sleep(0)
