"""``/ingest``: audio from a remote participant's browser microphone (the ``/mic`` page).

Framing: first a JSON text hello, ``{"type": "hello", "stream": ID, "sample_rate":
16000}``; then binary blocks, each the index of its first sample (unsigned 64-bit,
little-endian) followed by 16 kHz mono PCM16. The blocks go to the session's
``AudioIngest``, which a ``source.browser`` stage turns into frames.
"""

from __future__ import annotations

import json
import logging
import struct

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from canvascap.captions.audio import SAMPLE_RATE
from canvascap.captions.ingest import AudioIngest

__all__ = ["INGEST_REFUSED", "NO_INGEST", "UNSUPPORTED_MESSAGE", "receive_microphone"]

log = logging.getLogger(__name__)

INGEST_REFUSED = 4409
"""Close code for a second browser microphone while one is sending."""
NO_INGEST = 4404
"""Close code for a browser microphone when the session takes no browser audio."""
UNSUPPORTED_MESSAGE = 1003
"""Close code for a message the server does not take (a bad hello, a binary feed message)."""
SAMPLE_INDEX = struct.Struct("<Q")
"""The first sample's index, before each block of browser audio."""


async def receive_microphone(connection: ServerConnection, ingest: AudioIngest | None) -> None:
    """Take one browser's microphone until it disconnects, or refuse it with a reason."""
    if ingest is None or not ingest.accepting:
        await connection.close(
            NO_INGEST,
            "this session takes no browser audio: start canvascap with --source browser",
        )
        return
    try:
        stream = _stream_of(await connection.recv())
    except ConnectionClosed:
        return
    if stream is None:
        await connection.close(
            UNSUPPORTED_MESSAGE, f"send a hello with a stream and {SAMPLE_RATE} Hz"
        )
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
            if isinstance(message, str) or len(message) < SAMPLE_INDEX.size + 2:
                continue
            (first,) = SAMPLE_INDEX.unpack_from(message)
            ingest.push(connection, first, bytes(message[SAMPLE_INDEX.size :]))
    except ConnectionClosed:
        pass
    finally:
        ingest.release(connection)
        log.info("the browser microphone disconnected")


def _stream_of(hello: str | bytes) -> str | None:
    """The stream a hello names, or ``None`` when it is no valid hello."""
    try:
        parsed = json.loads(hello)
        if parsed.get("sample_rate") != SAMPLE_RATE:
            return None
        return str(parsed["stream"])[:64]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
