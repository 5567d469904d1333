"""The recogniser stage's policies: stable prefix, speech gate, retraction.

A scripted transcriber stands in for Whisper here so each policy can be driven through
exact hypotheses; the same policies run with the real model in test_streaming.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from canvascap.captions.subtitles import CueRules, cues
from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import run_stage
from canvascap.pipeline.types import Utterance
from canvascap.stages.recognition.asr import AsrOptions, AsrStage
from canvascap.stages.recognition.commit import CommitRule, Hypothesis, StablePrefix, repeat_start
from canvascap.stages.recognition.gate import GateOptions, Transcript, rejection_reason


class ScriptedTranscriber:
    """Returns the next scripted transcript and records what it was asked."""

    def __init__(self, script: list[Transcript]) -> None:
        self.script = list(script)
        self.calls: list[dict] = []

    def transcribe(self, audio, *, prompt, prefix, final, language) -> Transcript:
        self.calls.append({"prompt": prompt, "prefix": prefix, "final": final})
        return self.script.pop(0)


def snapshots(count: int, uid: int = 0) -> list[Utterance]:
    audio = np.zeros(16_000, dtype=np.float32)
    return [Utterance(uid, rev, rev == count - 1, audio, 0.0, 1.0, 1) for rev in range(count)]


def speech(text: str) -> Transcript:
    return Transcript(text=text, lang="en", avg_logprob=-0.3, no_speech_prob=0.05, speech_s=2.0)


def sure_of(text: str, *confidence: float) -> Transcript:
    """Speech with Whisper's probability for each word."""
    return replace(speech(text), word_confidence=confidence)


async def early_finals(script: list[Transcript], **options: float) -> list[str]:
    """The finals of one utterance, words sent as soon as they are committed (gate 0.5)."""
    stage = AsrStage(
        AsrOptions(commit_finals=True, commit_min_words=1, commit_confidence=0.5, **options),
        Context(session="t"),
        ScriptedTranscriber(script),
    )
    return [c.text for c in await run_stage(stage, snapshots(len(script))) if c.final]


async def test_agreed_words_become_stable_and_are_forced_into_later_partials() -> None:
    script = [
        speech("and so"),
        speech("and so my fellow"),
        speech("and so my fellow americans"),
        speech("And so my fellow Americans, ask not."),
    ]
    transcriber = ScriptedTranscriber(script)
    stage = AsrStage(AsrOptions(), Context(session="t"), transcriber)
    captions = await run_stage(stage, snapshots(4))
    stable = [c.text[: c.stable_chars] for c in captions]
    # rev 1 agrees with rev 0 on "and" ("so" is rev 1's last word, maybe cut off)
    assert stable[:3] == ["", "and so", "and so my fellow"]
    assert [call["prefix"] for call in transcriber.calls] == ["", "", "and so", ""]
    assert captions[-1].final and captions[-1].stable_chars == len(captions[-1].text)
    assert [c.rev for c in captions] == [0, 1, 2, 3]


async def test_final_rejected_after_partials_were_shown_retracts_them() -> None:
    noise = Transcript(
        text="Thank you.", lang="en", no_speech_prob=0.8, avg_logprob=-0.9, speech_s=0.1
    )
    stage = AsrStage(
        AsrOptions(), Context(session="t"), ScriptedTranscriber([speech("hello there"), noise])
    )
    captions = await run_stage(stage, snapshots(2))
    assert [(c.final, c.text) for c in captions] == [(False, "hello there"), (True, "")]


async def test_noise_never_shown_produces_no_caption_at_all() -> None:
    noise = Transcript(text="you", lang="en", no_speech_prob=0.6, avg_logprob=-1.0, speech_s=0.0)
    ctx = Context(session="t")
    stage = AsrStage(AsrOptions(), ctx, ScriptedTranscriber([noise] * 3))
    assert await run_stage(stage, snapshots(3)) == []
    assert ctx.metrics.counters["asr.rejected"] == 3


def test_gate_signals() -> None:
    gate = GateOptions()
    assert rejection_reason(speech("ask not what your country can do"), gate) is None
    cases = {
        "no words": Transcript(text=" ... ", lang="en", speech_s=2),
        "speech detector": Transcript(text="hello world", lang="en", speech_s=0.1),
        "whisper says no speech": Transcript(
            text="hello world", lang="en", speech_s=2, no_speech_prob=0.7, avg_logprob=-0.8
        ),
        "repetition": Transcript(text="la " * 40, lang="en", speech_s=2, compression_ratio=9),
        "repetition loop": Transcript(text="W-W-W-W-W-W-", lang="en", speech_s=2),
        "filler": Transcript(text="Thank you.", lang="en", speech_s=0.6),
        "filler on music": Transcript(text="Thank you.", lang="en", speech_s=3.5, avg_logprob=-1),
        "sound description": Transcript(text="[MUSIC PLAYING]", lang="en", speech_s=3),
    }
    for expected, transcript in cases.items():
        reason = rejection_reason(transcript, gate)
        assert reason is not None and expected.split()[0] in reason, (expected, reason)
    # the same filler with plenty of speech behind it is a real "thank you"
    assert rejection_reason(Transcript(text="Thank you.", lang="en", speech_s=2.0), gate) is None


def test_a_few_doubtful_words_on_whale_song_are_not_speech() -> None:
    # What faster-whisper 1.2.1 gave on the Glacier Bay humpback recording: the speech
    # detector was fooled and Whisper's no-speech probability low; only its confidence
    # in the words gives it away.
    whale = Transcript(
        text="You know what?", lang="en", no_speech_prob=0.33, avg_logprob=-1.16, speech_s=1.22
    )
    assert rejection_reason(whale, GateOptions()) == "a few doubtful words"
    # A short phrase a person said, as sure as the least sure in the English test set.
    spoken = replace(whale, text="Cool.", avg_logprob=-0.73)
    assert rejection_reason(spoken, GateOptions()) is None
    # A longer sentence is judged by the general thresholds only.
    longer = replace(whale, text="You know what we should do about the budget?")
    assert rejection_reason(longer, GateOptions()) is None


def test_stable_prefix_commits_what_two_partials_agree_on_except_the_last_word() -> None:
    prefix = StablePrefix()
    assert prefix.update("and so".split()).committed == []
    assert prefix.update("and so my fellow".split()).committed == ["and", "so"]
    agreed = prefix.update("And so, my fellow Americans".split()).committed
    # agreement ignores case and punctuation; the newest spelling is what is kept
    assert agreed == ["And", "so,", "my", "fellow"]


def test_stable_prefix_holds_back_a_doubtful_word_and_every_word_after_it() -> None:
    prefix = StablePrefix(CommitRule(confidence=0.5))
    prefix.update("had he married a".split(), (0.9, 0.9, 0.3, 0.9))
    agreement = prefix.update("had he married a woman".split(), (0.9, 0.9, 0.4, 0.9, 0.9))
    assert agreement.committed == ["had", "he"] and not agreement.passed_doubt


def test_stable_prefix_lets_a_doubt_through_when_sure_words_follow_it() -> None:
    prefix = StablePrefix(CommitRule(confidence=0.5, sure=0.9, past_doubt=3))
    prefix.update("Unless to be rather cold".split(), (0.25, 0.94, 1.0, 0.95, 0.5))
    agreement = prefix.update(
        "Unless to be rather cold-hearted".split(), (0.37, 0.93, 1.0, 0.99, 0.43)
    )
    assert agreement.committed == ["Unless", "to", "be", "rather"] and agreement.passed_doubt


def test_a_word_cut_where_the_forced_text_ends_is_glued_to_its_rest() -> None:
    decoded = Hypothesis.after_prefix("may justly be", ["may", "just"], frozenset(), ())
    assert decoded.words == ["may", "just", "ly", "be"]
    assert decoded.glued == {2} and decoded.text() == "may justly be"
    punctuated = Hypothesis.after_prefix("in casting, setting", ["in", "casting"], frozenset(), ())
    assert punctuated.words == ["in", "casting", "setting"] and not punctuated.glued


async def test_prompt_carries_recent_finals_when_enabled() -> None:
    transcriber = ScriptedTranscriber([speech("first sentence."), speech("second one.")])
    stage = AsrStage(AsrOptions(prompt_chars=8), Context(session="t"), transcriber)
    await run_stage(stage, [*snapshots(1, uid=0), *snapshots(1, uid=1)])
    assert [call["prompt"] for call in transcriber.calls] == ["", "entence."]


async def test_commit_finals_send_agreed_words_as_finals_while_speech_goes_on() -> None:
    script = [
        speech("one two three four"),
        speech("one two three four five"),
        speech("one two three four five six."),
    ]
    transcriber = ScriptedTranscriber(script)
    options = AsrOptions(commit_finals=True, commit_min_words=2)
    captions = await run_stage(AsrStage(options, Context(session="t"), transcriber), snapshots(3))
    assert [(c.id, c.rev, c.final, c.text) for c in captions] == [
        (0, 0, False, "one two three four"),
        (0, 1, True, "one two three four"),
        (1, 0, False, "five"),
        (1, 1, True, "five six."),
    ]
    # the final decode must keep the words already sent as finals
    assert transcriber.calls[-1] == {"prompt": "", "prefix": "one two three four", "final": True}
    assert captions[2].start_s == captions[1].end_s


async def test_a_final_that_stops_after_the_sent_words_keeps_what_the_partial_showed() -> None:
    script = [
        speech("and tender"),
        speech("and tender churl makes waste"),
        speech("and tender"),
    ]  # forced to continue, Whisper stopped at once
    options = AsrOptions(commit_finals=True, commit_min_words=2)
    captions = await run_stage(
        AsrStage(options, Context(session="t"), ScriptedTranscriber(script)), snapshots(3)
    )
    finals = [c.text for c in captions if c.final]
    assert finals == ["and tender", "churl makes waste"]


async def test_a_doubtful_word_waits_for_the_final_with_the_words_after_it() -> None:
    script = [
        sure_of("had he married a", 0.9, 0.9, 0.3, 0.9),
        sure_of("had he married a woman", 0.9, 0.9, 0.4, 0.9, 0.9),
        sure_of("had he married a woman of", 0.9, 0.9, 0.4, 0.9, 0.9, 0.9),
        speech("had he married a woman of means."),
    ]
    transcriber = ScriptedTranscriber(script)
    options = AsrOptions(commit_finals=True, commit_min_words=1, commit_confidence=0.5)
    captions = await run_stage(AsrStage(options, Context(session="t"), transcriber), snapshots(4))
    finals = [c.text for c in captions if c.final]
    # "married" had two agreeing partials but a low probability: it and every word after
    # it wait for the final, decoded over the whole utterance
    assert finals == ["had he", "married a woman of means."]
    assert [c.text[: c.stable_chars] for c in captions if not c.final][-1] == ""


@pytest.mark.parametrize(
    ("sure", "expected"),
    [
        (0.0, ["ask not what your", "country can do."]),
        (0.9, ["ask not", "what your", "country can do."]),
    ],
)
async def test_words_whisper_is_sure_of_are_final_after_one_partial(
    sure: float, expected: list[str]
) -> None:
    script = [
        sure_of("ask not what your", 0.99, 0.95, 0.6, 0.99),  # "what": agree first
        sure_of("ask not what your country", 1.0, 1.0, 0.99, 0.99, 0.95),
        speech("ask not what your country can do."),
    ]
    finals = await early_finals(script, commit_sure=sure)
    # "country" is sure too, but it is the last word heard: it may still be cut off
    assert finals == expected


@pytest.mark.parametrize(
    ("past_doubt", "expected"),
    [
        (0, ["Unless to be rather cold-hearted and selfish."]),
        (3, ["Unless to be rather", "cold-hearted and selfish."]),
    ],
)
async def test_a_doubtful_first_word_goes_through_when_the_words_after_it_are_sure(
    past_doubt: int, expected: list[str]
) -> None:
    script = [
        sure_of("Unless to be rather cold", 0.25, 0.94, 1.0, 0.95, 0.5),
        sure_of("Unless to be rather cold-hearted", 0.37, 0.93, 1.0, 0.99, 0.43),
        speech("Unless to be rather cold-hearted and selfish."),
    ]
    finals = await early_finals(script, commit_sure=0.9, commit_past_doubt=past_doubt)
    # "Unless" is doubtful in both partials, but "to be rather" after it is sure: the
    # sentence need not wait for its end
    assert finals == expected


async def test_a_doubtful_word_with_doubtful_words_after_it_still_waits() -> None:
    script = [
        sure_of("how do you marry the", 0.3, 0.95, 0.4, 0.95, 0.9),
        sure_of("how do you marry the woman", 0.3, 0.96, 0.45, 0.97, 0.92, 0.8),
        speech("had he married a woman."),
    ]
    finals = await early_finals(script, commit_sure=0.9, commit_past_doubt=3)
    assert finals == ["had he married a woman."]


def test_past_doubt_without_a_sure_threshold_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="commit_past_doubt needs commit_sure"):
        AsrOptions(commit_confidence=0.5, commit_past_doubt=3)


async def test_without_word_confidence_agreement_alone_commits() -> None:
    script = [speech("one two three"), speech("one two three four"), speech("one two three four.")]
    options = AsrOptions(commit_finals=True, commit_min_words=1, commit_confidence=0.5)
    stage = AsrStage(options, Context(session="t"), ScriptedTranscriber(script))
    finals = [c.text for c in await run_stage(stage, snapshots(3)) if c.final]
    assert finals == ["one two three", "four."]


async def test_a_word_whisper_runs_on_from_after_it_was_sent_is_shown_whole() -> None:
    script = [
        speech("when the crafts mentor"),
        speech("when the crafts men took"),
        speech("when the craftsmen took care that"),  # forced to start "when the crafts"
        speech("when the craftsmen took care that beautiful."),  # forced, glued as shown
    ]
    transcriber = ScriptedTranscriber(script)
    options = AsrOptions(commit_finals=True, commit_min_words=1)
    captions = await run_stage(AsrStage(options, Context(session="t"), transcriber), snapshots(4))
    finals = [c for c in captions if c.final]
    assert [c.text for c in finals] == ["when the crafts", "men took", "care that beautiful."]
    # "men" is the rest of "crafts": displays join the pieces into one word ...
    assert [c.continues_word for c in finals] == [False, True, False]
    assert [cue.text for cue in cues(finals, CueRules(line_chars=80))] == [
        "when the craftsmen took care that beautiful."
    ]
    # ... and later decodes are forced to start with the word as Whisper wrote it.
    assert transcriber.calls[-1]["prefix"] == "when the craftsmen took"


async def test_punctuation_after_a_sent_word_is_not_a_word_of_its_own() -> None:
    script = [
        speech("in casting and"),
        speech("in casting setting"),
        speech("in casting, setting or printing"),  # forced to start "in casting"
        speech("in casting, setting or printing."),
    ]
    options = AsrOptions(commit_finals=True, commit_min_words=1)
    stage = AsrStage(options, Context(session="t"), ScriptedTranscriber(script))
    finals = [c.text for c in await run_stage(stage, snapshots(4)) if c.final]
    assert finals == ["in casting", "setting", "or printing."]


LOOPED = (
    "And it is worth mention in passing that, as an example of fine typography, "
    "and it is worth mention in passing that, as an example of fine typography,"
)


async def test_an_utterance_whisper_starts_over_at_its_end_is_shown_once() -> None:
    script = [speech("And it is worth mention"), speech(LOOPED)]
    ctx = Context(session="t")
    stage = AsrStage(AsrOptions(), ctx, ScriptedTranscriber(script))
    captions = await run_stage(stage, snapshots(2))
    assert captions[-1].final
    assert captions[-1].text == (
        "And it is worth mention in passing that, as an example of fine typography,"
    )
    assert ctx.metrics.counters["asr.repeats_cut"] == 1


async def test_a_repeat_after_words_sent_as_finals_is_cut_from_the_rest_only() -> None:
    script = [
        speech("And it is worth mention in"),
        speech("And it is worth mention in passing"),
        speech(LOOPED),
    ]
    options = AsrOptions(commit_finals=True, commit_min_words=1)
    captions = await run_stage(
        AsrStage(options, Context(session="t"), ScriptedTranscriber(script)), snapshots(3)
    )
    finals = " ".join(c.text for c in captions if c.final)
    assert finals == "And it is worth mention in passing that, as an example of fine typography,"


def test_only_a_run_of_four_words_or_more_said_twice_in_a_row_is_a_repeat() -> None:
    said = "ask not what your country can do for you, ask what you can do for your country"
    assert repeat_start(said.split()) is None
    assert repeat_start("I think, I think we should go".split()) is None
    words = LOOPED.split()
    assert repeat_start(words) == 14 and words[14] == "and"
    # Words already sent are never cut, even where they repeat.
    assert repeat_start("one two three four one two three four".split(), start=5) is None


async def test_clear_speech_dropped_as_too_unsure_is_said_once(caplog) -> None:
    unsure = Transcript(
        text="the sand is white and the grass is medium",
        lang="en",
        no_speech_prob=0.1,
        avg_logprob=-1.4,
        speech_s=4.0,
    )
    noise = Transcript(text="Thank you.", lang="en", no_speech_prob=0.8, avg_logprob=-1.4)
    ctx = Context(session="t")
    stage = AsrStage(AsrOptions(), ctx, ScriptedTranscriber([unsure, noise, unsure]))
    utterances = [*snapshots(1, uid=0), *snapshots(1, uid=1), *snapshots(1, uid=2)]
    with caplog.at_level("WARNING"):
        assert await run_stage(stage, utterances) == []
    told = [r.getMessage() for r in caplog.records if "not captioned" in r.getMessage()]
    assert len(told) == 1 and "4 s of speech" in told[0] and "--model small" in told[0]
    assert ctx.metrics.counters["asr.unsure_speech"] == 2
