"""Speaker labels: who said each caption, live and for a whole file.

Voice prints come from the real encoder (Resemblyzer's GE2E, installed with
``canvascap[speakers]``) over real recordings of different people: the public-domain
clips in ``tests/data`` and, for the diarization error rate, the development data set's
three-speaker recording with its reference turns.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from canvascap.bench.diarization import Segment, der, read_rttm, segments_of
from canvascap.captions import formats
from canvascap.captions.subtitles import join_pieces
from canvascap.pipeline.types import Caption
from canvascap.stages.speakers.clusters import OnlineSpeakers, cluster_offline, turns
from canvascap.stages.speakers.labeler import LabelledTurn, SpeakerOptions, split_by_turns
from canvascap.testing import caption_file
from tests.cli import canvascap
from tests.conftest import decode, write_wav

RNG = np.random.default_rng(7)
VOICES = np.linalg.qr(RNG.normal(size=(256, 4)))[0].T  # four unlike voices


def spoken(voice: int, noise: float = 0.3) -> np.ndarray:
    """A print of ``voice``, blurred as a real utterance's is."""
    return VOICES[voice] + RNG.normal(scale=noise / 16, size=256)


def line(cid: int, text: str, start_s: float, end_s: float, speaker: str = "") -> Caption:
    return Caption(cid, 0, True, text, text, "en", start_s, end_s, 0, len(text), speaker=speaker)


# --- grouping voices (pure) -------------------------------------------------------


def test_voices_are_labelled_in_the_order_they_are_first_heard_and_recognised_again() -> None:
    speakers = OnlineSpeakers(threshold=0.75)
    heard = [speakers.assign(spoken(v)) for v in (2, 0, 2, 3, 0, 3, 2)]
    assert heard == [0, 1, 0, 2, 1, 2, 0]


def test_past_the_most_speakers_a_new_voice_joins_the_nearest() -> None:
    speakers = OnlineSpeakers(threshold=0.75, max_speakers=2)
    heard = [speakers.assign(spoken(v)) for v in (0, 1, 2)]
    assert heard[:2] == [0, 1] and heard[2] in (0, 1)


def test_a_short_utterance_needs_less_likeness_to_join_a_known_speaker() -> None:
    speakers = OnlineSpeakers(threshold=0.75)
    speakers.assign(VOICES[0])
    blurred = VOICES[0] + 1.1 * VOICES[1]  # similarity about 0.67
    assert speakers.peek(blurred) == 1  # a long utterance this unlike is someone new
    assert speakers.peek(blurred, threshold=0.6) == 0


def _windows(voices: list[int]) -> tuple[list[np.ndarray], list[tuple[float, float]]]:
    """Encoder windows of 1.6 s every 0.5 s, one voice each."""
    return [spoken(v) for v in voices], [(i * 0.5, i * 0.5 + 1.6) for i in range(len(voices))]


def test_a_change_of_voice_inside_an_utterance_is_found_where_it_happens() -> None:
    windows, spans = _windows([0] * 10 + [1] * 8)
    found = turns(windows, spans, threshold=0.6, min_turn_s=2.0)
    assert len(found) == 2
    assert found[0].windows == tuple(range(10)) and found[1].windows == tuple(range(10, 18))
    assert 5.0 <= found[1].start_s <= 5.6  # the tenth window (4.5-6.1 s) is the last of A
    assert found[0].start_s == 0.0 and found[1].end_s == spans[-1][1]


def test_a_moment_of_another_voice_does_not_split_an_utterance() -> None:
    windows, spans = _windows([0] * 6 + [1] + [0] * 6)  # a cough, a laugh
    assert len(turns(windows, spans, threshold=0.6, min_turn_s=2.0)) == 1
    windows, spans = _windows([0] * 12)
    assert len(turns(windows, spans, threshold=0.6, min_turn_s=2.0)) == 1


def test_the_whole_file_groups_voices_by_everything_they_said() -> None:
    prints = [spoken(v) for v in (1, 0, 1, 2, 0)]
    assert cluster_offline(prints, [2.0] * 5, threshold=0.75) == [0, 1, 0, 2, 1]
    assert cluster_offline([], [], threshold=0.75) == []


def test_a_caption_is_cut_at_the_sentence_end_nearest_a_change_of_voice() -> None:
    caption = line(4, "Thanks, that is all from me. Ben, over to you now.", 10.0, 15.0)
    found = [LabelledTurn(10.0, 12.6, "S1"), LabelledTurn(12.6, 15.0, "S2")]
    first, second = split_by_turns(caption, found)
    assert (first.text, first.speaker) == ("Thanks, that is all from me.", "S1")
    assert (second.text, second.speaker) == ("Ben, over to you now.", "S2")
    assert first.end_s == second.start_s and first.start_s == 10.0 and second.end_s == 15.0
    assert split_by_turns(caption, found[:1])[0].speaker == "S1"


# --- the diarization error rate ---------------------------------------------------


def test_the_diarization_error_rate_counts_missed_speech_false_alarms_and_confusion() -> None:
    reference = [Segment(0, 10, "ana"), Segment(10, 20, "ben")]
    assert der(reference, [Segment(0, 10, "S2"), Segment(10, 20, "S1")], 0)["der"] == 0
    one_voice = der(reference, [Segment(0, 20, "S1")], 0)
    assert one_voice["confusion"] == pytest.approx(0.5) and one_voice["der"] == pytest.approx(0.5)
    half = der(reference, [Segment(0, 10, "S1")], 0)
    assert half["missed"] == pytest.approx(0.5)
    extra = der(reference, [Segment(0, 10, "S1"), Segment(10, 25, "S2")], 0)
    assert extra["false_alarm"] == pytest.approx(0.25)
    collared = der(reference, [Segment(0.2, 9.8, "S1"), Segment(10.2, 20, "S2")], 0.25)
    assert collared["der"] == 0  # boundaries within the collar are not scored


# --- transcript formats --------------------------------------------------------------


def test_subtitles_and_transcripts_say_who_speaks() -> None:
    captions = [
        line(0, "Good morning everyone.", 0.0, 1.5, "S1"),
        line(1, "Morning!", 2.0, 2.8, 'Ana <b>&"'),
    ]
    srt = formats.to_srt(captions)
    assert "\nS1: Good morning everyone.\n" in srt
    vtt = formats.to_vtt(captions)
    assert "\n<v S1>Good morning everyone.\n" in vtt
    assert '\n<v Ana b">Morning!\n' in vtt  # a voice tag cannot hold < > &
    assert formats.to_text(captions) == 'S1: Good morning everyone.\nAna <b>&": Morning!\n'
    record = formats.caption_record(captions[1])
    assert formats.caption_from_record(record, spoken=True).speaker == 'Ana <b>&"'
    unlabelled = line(2, "no labels", 3.0, 4.0)
    assert formats.to_srt([unlabelled]).splitlines()[2] == "no labels"


def test_pieces_of_one_utterance_from_two_people_stay_apart_in_subtitles() -> None:
    first = replace(line(0, "so that is decided.", 0.0, 2.0, "S1"), utterance=3)
    second = replace(line(1, "Agreed.", 2.0, 3.0, "S2"), utterance=3)
    assert [c.text for c in join_pieces([first, second])] == ["so that is decided.", "Agreed."]
    same = replace(second, speaker="S1")
    assert [c.text for c in join_pieces([first, same])] == ["so that is decided. Agreed."]


# --- real voices ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_people(data_dir: Path, jfk: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An LJSpeech reader, JFK, a LibriVox reader, then the first reader again, with a
    second of silence after each."""
    lj = decode(data_dir / "en" / "ljspeech" / "LJ001-0008.wav")
    librivox = decode(
        data_dir / "en" / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav"
    )
    gap = np.zeros(16_000, np.float32)
    audio = np.concatenate([lj, gap, decode(jfk), gap, librivox, gap, lj, gap])
    return write_wav(tmp_path_factory.mktemp("speakers") / "three.wav", audio)


@pytest.mark.slow
def test_transcribe_labels_three_people_in_webvtt_and_srt(three_people: Path, tmp_path) -> None:
    out = tmp_path / "three.vtt"
    done = canvascap("transcribe", str(three_people), "--speakers", "-o", str(out))
    assert done.returncode == 0, done.stderr
    voices = re.findall(r"^<v ([^>]+)>", out.read_text(encoding="utf-8"), re.MULTILINE)
    # JFK's 11 s come as several cues; the first reader comes back at the end.
    assert voices[0] == "S1" and voices[-1] == "S1", voices
    assert voices[1] == "S2" and "S3" in voices, voices
    jfk_cues = voices[1 : voices.index("S3")]
    assert set(jfk_cues) == {"S2"}, voices
    named = canvascap(
        "transcribe", str(three_people), "--speakers", "--format", "srt",
        "--set", "asr.speakers.names.S1=Ana",
    )  # fmt: skip
    assert named.returncode == 0, named.stderr
    assert re.search(r"^Ana: has never been surpassed", named.stdout, re.MULTILINE), named.stdout


@pytest.mark.slow
def test_two_voices_in_one_breath_become_two_captions_with_each_persons_words(
    data_dir: Path, jfk: Path, tmp_path
) -> None:
    librivox = decode(
        data_dir / "en" / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav"
    )
    kennedy = decode(jfk)[8_000 : 7 * 16_000]
    clip = write_wav(
        tmp_path / "joined.wav",
        np.concatenate([librivox[:-3_200], kennedy, np.zeros(16_000, np.float32)]),
    )  # no pause between the two: one utterance for the speech detector
    tap, ctx = asyncio.run(caption_file(str(clip), overrides=["asr.speakers.enabled=true"]))
    first = [c for c in tap.finals if c.utterance == 0]
    assert [c.speaker for c in first] == ["S1", "S2"], first
    assert "dashwood" in first[0].text.lower()
    assert "fellow america" in first[1].text.lower()  # the second voice's words are kept
    assert first[0].end_s <= first[1].start_s
    partials = [s.caption for s in tap.seen if not s.caption.final and s.caption.text]
    assert all(p.speaker for p in partials)
    assert ctx.metrics.snapshot()["counters"]["asr.speaker_splits"] == 1


@pytest.mark.slow
def test_the_diarization_error_rate_on_three_speakers_is_at_most_a_fifth(shared_dir) -> None:
    rttm = shared_dir / "multispeaker" / "falcon_3speakers.rttm"
    tap, _ = asyncio.run(
        caption_file(str(rttm.with_suffix(".wav")), overrides=["asr.speakers.enabled=true"])
    )
    scores = der(read_rttm(rttm), segments_of(tap.finals))
    assert scores["der"] <= 0.20, scores
    assert len({c.speaker for c in tap.finals}) == 3


def test_without_the_speakers_extra_a_one_line_error_says_what_to_install(jfk, tmp_path) -> None:
    # A stand-in package that fails to import, as a missing one does: the real one is
    # installed here.
    shadow = tmp_path / "shadow" / "resemblyzer"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named resemblyzer')\n")
    done = canvascap(
        "transcribe", str(jfk), "--speakers", PYTHONPATH=f"{shadow.parent}:{Path.cwd()}"
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "canvascap: error: speaker labels need the speakers extra: "
        "pip install 'canvascap[speakers]'"
    ]


def test_a_name_given_while_the_session_runs_wins_over_the_configured_one() -> None:
    options = SpeakerOptions(names={"S1": "Ana", "S2": "Ben"})
    assert [options.shown(i) for i in range(3)] == ["Ana", "Ben", "S3"]
    renamed = {"S2": "Bea", "S3": "Cy"}
    assert [options.shown(i, renamed) for i in range(3)] == ["Ana", "Bea", "Cy"]
