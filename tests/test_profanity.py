"""--profanity mask: listed words are masked wherever people see captions, partials and
words still being heard included, and never in the JSON-lines transcript."""

from __future__ import annotations

import json
import subprocess

from canvascap.captions.profanity import DisplayOptions, Masker, default_words
from canvascap.pipeline.services import Services
from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import run_stage
from canvascap.pipeline.types import Caption
from canvascap.stages.sinks.transcript import TranscriptSink
from canvascap.web.testing import overlay_server
from tests.browser import chromium
from tests.cli import canvascap
from tests.overlay_helpers import caption

MASK = Masker(frozenset({"cunt", "shit", "fuck"}))


def test_listed_words_keep_their_first_letter_and_nothing_else_changes() -> None:
    assert MASK.mask("Oh shit, what the FUCK. Shits happen!") == (
        "Oh s***, what the F***. S**** happen!"
    )
    assert MASK.mask("Shitake mushrooms in Scunthorpe") == "Shitake mushrooms in Scunthorpe"


def test_a_partial_masks_a_listed_word_while_it_is_still_being_heard() -> None:
    # The greedy partial of "what your country" once read "What you are, c..." on screen.
    assert MASK.mask("What you are, cun", still_heard=True) == "What you are, c**"
    assert MASK.mask("What you are, cun", still_heard=False) == "What you are, cun"
    assert MASK.mask("count on it", still_heard=True) == "count on it"
    assert MASK.mask("we cu", still_heard=True) == "we cu"  # too little to tell
    partial = Caption(1, 0, False, "ask what you are, cun", "ask what you are, cun", "en", 0, 1, 0)
    shown = MASK.shown(partial)
    assert shown.text == shown.source == "ask what you are, c**"


def test_the_built_in_list_is_off_by_default_and_replaceable() -> None:
    assert Masker.from_options(DisplayOptions()) is None
    built_in = Masker.from_options(DisplayOptions(profanity="mask"))
    assert built_in is not None and "fuck" in built_in.words == default_words()
    own = Masker.from_options(DisplayOptions(profanity="mask", profanity_words=["darn"]))
    assert own is not None and own.mask("darn it, shit") == "d*** it, shit"


async def test_subtitles_are_masked_and_the_json_transcript_is_verbatim(tmp_path) -> None:
    ctx = Context(session="masked", services=Services(MASK))
    sink = TranscriptSink(TranscriptSink.Options(out_dir=str(tmp_path)), ctx)
    await sink.prepare()
    await run_stage(sink, [caption(0, "This is shit."), caption(1, "Fine again.")])
    await sink.aclose()
    records = [json.loads(line) for line in (tmp_path / "masked.jsonl").read_text().splitlines()]
    assert records[0]["text"] == "This is shit."
    srt = (tmp_path / "masked.srt").read_text()
    vtt = (tmp_path / "masked.vtt").read_text()
    assert "This is s***." in srt and "This is s***." in vtt and "shit" not in srt + vtt


async def test_the_overlay_and_its_feed_show_masked_words() -> None:
    masked = Context(session="test", services=Services(MASK))
    async with overlay_server(ctx=masked) as (sink, feed), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0")
        await feed.send(caption(0, "what you are, cun", final=False))
        await page.wait_for_function("document.querySelector('.caption') !== null")
        await page.wait_for_function(
            "document.querySelector('#captions').textContent.includes('c**')"
        )
        assert "cun" not in await page.inner_text("#captions")


def test_run_with_profanity_mask_masks_the_terminal_and_subtitles_only(tmp_path) -> None:
    spoken = tmp_path / "spoken.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(spoken),
         "Well, this whole thing is bullshit. Let us start again."],
        check=True,
    )  # fmt: skip
    done = canvascap(
        "run", "--input", str(spoken), "--no-realtime", "--no-overlay", "--profanity", "mask",
        "--out", str(tmp_path), "--session", "masked",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "is b*******." in done.stdout and "bullshit" not in done.stdout
    assert "b*******" in (tmp_path / "masked.srt").read_text()
    assert "bullshit" in (tmp_path / "masked.jsonl").read_text()  # the record is verbatim
