"""The overlay's wire format: versioned JSON, encoded by pure functions.

On connect a client receives one ``snapshot``; after that, one ``caption`` message per
caption revision. Every message is a whole replacement for one caption line, keyed by
``(id, lang)``, so no diffing is needed. The client rule:

* keep, per ``(id, lang)``, the revision with the highest ``rev``; ignore older ones;
* a final is the last revision of its line and never changes afterwards;
* a snapshot with a different ``session`` than the one held means a new session:
  forget everything and start from the snapshot.

Version 2 messages::

    {"v": 2, "type": "snapshot", "session": "...", "captions": [<caption>, ...]}
    {"v": 2, "type": "caption", "id": 7, "rev": 3, "final": false, "text": "...",
     "source": "...", "lang": "en", "role": "spoken", "start_s": 12.4, "end_s": 15.1,
     "stable_chars": 18, "utterance": 4, "continues_word": false, "speaker": "S1"}

``role`` says what the line is: ``spoken`` (the recognised words), ``cleaned`` (the
spoken line cleaned up; it replaces the spoken revisions under the same key) or
``translation`` (into ``lang``; until the translation arrives its text may be the
spoken text). Displays choose lines by role, never by comparing texts or languages.
``text`` is what to show in ``lang``; ``source`` is the recognised text in the spoken
language (the same as ``text`` when nothing translated it); ``stable_chars`` is the
length of the prefix of ``text`` that later revisions keep unchanged; ``start_s`` and
``end_s`` are media time in seconds. ``utterance`` groups captions into lines: words
sent as finals while the person was still speaking come as several captions of one
utterance, to be shown one after another on the same line (-1: show on its own).
``continues_word`` marks a piece whose text starts with the rest of the previous
piece's last word ("just" sent, then "ly be considered"): show it without a space.
``speaker`` is who said the line (``S1``, ``S2``, ... or a name the user gave a label),
empty when speaker labels are off; a new speaker starts a new line. ``stand_in`` marks a
translation line whose text is the spoken words, shown while no translation is: style
it as such (canvascap's pages show it dimmed), never pass it on as a translation.

Versions: 2 added ``role`` to version 1. A client reads the ``v`` of every message and
ignores messages of a version it does not know; canvascap's own pages reload
themselves to get the matching code. A client that asks for another version
(``/ws?v=1``) is refused with close code 4400 and a reason saying which version this
server speaks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from canvascap.pipeline.types import Caption

__all__ = [
    "CLIENT_MESSAGES",
    "PROTOCOL_VERSION",
    "UNSUPPORTED_VERSION",
    "caption_fields",
    "decode_client_message",
    "encode_caption",
    "encode_snapshot",
]

PROTOCOL_VERSION = 2
UNSUPPORTED_VERSION = 4400
"""Close code for a client that asked for a protocol version this server does not speak."""
CLIENT_MESSAGES = frozenset({"ping", "rename"})
"""What a client may send: ``ping`` (keeps a proxy from closing an idle socket) and, from
the control page with the admin token, ``rename`` (``{"type": "rename", "label": "S2",
"name": "Ana"}``). Anything else closes the connection with 1003."""


def caption_fields(caption: Caption) -> dict[str, Any]:
    """The JSON object for one caption revision (without the envelope)."""
    return {
        "id": caption.id,
        "rev": caption.rev,
        "final": caption.final,
        "text": caption.text,
        "source": caption.source,
        "lang": caption.lang,
        "role": str(caption.role),
        "start_s": round(caption.start_s, 3),
        "end_s": round(caption.end_s, 3),
        "stable_chars": caption.stable_chars,
        "utterance": caption.utterance,
        "continues_word": caption.continues_word,
        "speaker": caption.speaker,
        "stand_in": caption.stand_in,
    }


def decode_client_message(message: str | bytes) -> dict[str, Any] | None:
    """A client's message if it is one clients may send (a JSON object whose ``type`` is
    in ``CLIENT_MESSAGES``); ``None`` for anything else, binary messages included."""
    if isinstance(message, bytes):
        return None
    try:
        parsed = json.loads(message)
    except ValueError:
        return None
    if isinstance(parsed, dict) and parsed.get("type") in CLIENT_MESSAGES:
        return parsed
    return None


def encode_caption(caption: Caption) -> str:
    """A ``caption`` message."""
    message = {"v": PROTOCOL_VERSION, "type": "caption", **caption_fields(caption)}
    return json.dumps(message, ensure_ascii=False)


def encode_snapshot(session: str, captions: Iterable[Caption]) -> str:
    """A ``snapshot`` message: recent finals and open partials, oldest first."""
    message = {
        "v": PROTOCOL_VERSION,
        "type": "snapshot",
        "session": session,
        "captions": [caption_fields(c) for c in captions],
    }
    return json.dumps(message, ensure_ascii=False)
