"""Session services, speaker names, and ending tasks without swallowing cancellation."""

from __future__ import annotations

import asyncio

import pytest

from canvascap.captions.ingest import AudioIngest
from canvascap.captions.profanity import DisplayOptions, Masker, for_display
from canvascap.captions.speaker_names import SpeakerNames
from canvascap.pipeline.config import load_config
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.services import Services
from canvascap.pipeline.stage import Context
from canvascap.pipeline.tasks import cancel_and_wait
from canvascap.services import session_context
from tests.overlay_helpers import caption


def test_a_service_is_found_by_its_type_and_only_that() -> None:
    names = SpeakerNames()
    services = Services(names)
    assert services.get(SpeakerNames) is names
    assert services.get(Masker) is None
    assert SpeakerNames in services and Masker not in services


def test_a_session_of_a_preset_gets_its_services() -> None:
    plain = session_context("s", load_config(None))
    assert plain.services.get(SpeakerNames) is not None
    assert plain.services.get(AudioIngest) is not None
    assert plain.services.get(Masker) is None
    assert for_display(plain)(caption(0, "shit happens")).text == "shit happens"
    masked = session_context("s", load_config(None, ["display.profanity=mask"]))
    assert for_display(masked)(caption(0, "shit happens")).text == "s*** happens"


def test_a_wrong_display_setting_names_its_key() -> None:
    with pytest.raises(UserError, match=r"display\.profanity"):
        session_context("s", load_config(None, ["display.profanity=loud"]))


def test_speaker_names_take_labels_only_and_cut_long_names() -> None:
    names = SpeakerNames()
    assert names.rename("S2", "  Ana  ")
    assert not names.rename("root", "Mallory")
    assert names.rename("S3", "x" * 100)
    assert names.names == {"S2": "Ana", "S3": "x" * 40}
    assert names.rename("S2", "")
    assert names.names == {"S3": "x" * 40}


def test_the_masker_of_a_context_is_what_people_see() -> None:
    ctx = Context(
        session="s", services=Services(Masker.from_options(DisplayOptions(profanity="mask")))
    )
    assert for_display(ctx)(caption(0, "what the fuck", final=False)).text == "what the f***"


async def test_cancel_and_wait_ends_tasks_and_keeps_the_callers_cancellation() -> None:
    unwinding = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            unwinding.set()
            await asyncio.sleep(30)

    async def failing() -> None:
        raise RuntimeError("lost")

    broken = asyncio.create_task(failing())
    await asyncio.sleep(0)
    await cancel_and_wait(broken, None)  # its failure is retrieved, not raised
    child = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(child))
    await unwinding.wait()
    stopper.cancel()  # the one ending the child is itself cancelled: that must stop it
    with pytest.raises(asyncio.CancelledError):
        await stopper
    await cancel_and_wait(child)
    assert child.cancelled()
