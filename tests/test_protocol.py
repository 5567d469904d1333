"""The feed's wire format, encoded and decoded by web.protocol's pure functions."""

from __future__ import annotations

import json

from canvascap.pipeline.types import Caption, Role
from canvascap.web.protocol import (
    PROTOCOL_VERSION,
    decode_client_message,
    encode_caption,
    encode_snapshot,
)

FIELDS = {
    "v", "type", "id", "rev", "final", "text", "source", "lang", "role", "start_s",
    "end_s", "stable_chars", "utterance", "continues_word", "speaker", "stand_in",
}  # fmt: skip


def line(**changes: object) -> Caption:
    fields: dict[str, object] = dict(
        id=7, rev=3, final=False, source="good morning", text="buenos", lang="es",
        start_s=12.91234, end_s=14.1, origin_ns=5, stable_chars=0, utterance=6,
        role=Role.TRANSLATION, speaker="Ana",
    )  # fmt: skip
    fields.update(changes)
    return Caption(**fields)  # type: ignore[arg-type]


def test_a_caption_message_carries_every_documented_field() -> None:
    message = json.loads(encode_caption(line()))
    assert set(message) == FIELDS
    assert message["v"] == PROTOCOL_VERSION == 2
    assert (message["type"], message["role"], message["speaker"]) == (
        "caption",
        "translation",
        "Ana",
    )
    assert message["start_s"] == 12.912  # media time to the millisecond


def test_text_is_sent_as_text_whatever_it_holds() -> None:
    message = json.loads(encode_caption(line(text="<b>ñandú</b> & \u2028")))
    assert message["text"] == "<b>ñandú</b> & \u2028"
    assert "ñandú" in encode_caption(line(text="ñandú"))  # UTF-8, not \\u escapes


def test_a_snapshot_holds_its_session_and_the_captions_in_order() -> None:
    message = json.loads(encode_snapshot("20261203-1300", [line(id=1), line(id=2, final=True)]))
    assert (message["type"], message["session"]) == ("snapshot", "20261203-1300")
    assert [c["id"] for c in message["captions"]] == [1, 2]
    assert set(message["captions"][0]) == FIELDS - {"v", "type"}


def test_clients_may_send_only_ping_and_rename() -> None:
    assert decode_client_message('{"type": "ping"}') == {"type": "ping"}
    rename = '{"type": "rename", "label": "S2", "name": "Ana"}'
    assert decode_client_message(rename) == {"type": "rename", "label": "S2", "name": "Ana"}
    for other in ('{"type": "caption"}', "[1, 2]", "not json", b'{"type": "ping"}', '"ping"'):
        assert decode_client_message(other) is None, other
