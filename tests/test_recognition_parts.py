"""The recogniser's collaborators, each on its own: captioner, lost speech, glossary,
speaker turns. Scripted stand-ins replace Whisper and the voice encoder here (neither
can be driven to an exact hypothesis); the real ones run in test_streaming.py,
test_glossary.py and test_speakers.py."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from canvascap.pipeline.metrics import Metrics
from canvascap.pipeline.types import Caption, Utterance, Word
from canvascap.stages.glossary import Glossary
from canvascap.stages.recognition.captioner import UtteranceCaptioner
from canvascap.stages.recognition.gate import GateOptions, LostSpeech, Transcript
from canvascap.stages.recognition.options import AsrOptions
from canvascap.stages.recognition.speaker_turns import SpeakerTurns
from canvascap.stages.recognition.terms import GlossaryTerms
from canvascap.stages.speakers.labeler import LabelledTurn

SECOND = 16_000


def utterance(rev: int, final: bool = False, seconds: float = 1.0, uid: int = 0) -> Utterance:
    audio = np.zeros(int(seconds * SECOND), dtype=np.float32)
    return Utterance(uid, rev, final, audio, 10.0, 10.0 + seconds, 1)


def heard(text: str, logprob: float = -0.3, speech_s: float = 3.0) -> Transcript:
    return Transcript(text=text, lang="en", avg_logprob=logprob, speech_s=speech_s)


def test_settled_words_are_sent_as_a_final_and_the_rest_goes_on_as_a_new_line() -> None:
    metrics = Metrics()
    captioner = UtteranceCaptioner(AsrOptions(commit_finals=True, commit_min_words=2), metrics)
    out: list[Caption] = []
    for rev, text in enumerate(
        ["ask not what", "ask not what your country", "ask not what your country can"]
    ):
        snap = utterance(rev)
        line = captioner.open(snap)
        assert captioner.forced_words(snap, line) == " ".join(line.prefix.words)
        out += captioner.captions(snap, line, heard(text))
    finals = [c for c in out if c.final]
    assert [c.text for c in finals] == ["ask not what", "your country"]
    assert len({c.id for c in finals} | {out[-1].id}) == 3  # each piece a caption of its own
    assert out[-1].text == "can" and not out[-1].final
    assert {c.utterance for c in out} == {0}  # one line on screen
    assert metrics.counters["asr.commit_finals"] == 2


def test_a_rejected_final_retracts_only_what_was_shown() -> None:
    captioner = UtteranceCaptioner(AsrOptions(), Metrics())
    first = utterance(0)
    line = captioner.open(first)
    assert captioner.retraction(first, line, "en") == []  # a partial: nothing to take back
    shown = captioner.captions(first, line, heard("thank you"))
    final = utterance(1, final=True)
    retracted = captioner.retraction(final, captioner.open(final), "en")
    assert [(c.id, c.final, c.text) for c in retracted] == [(shown[0].id, True, "")]
    assert captioner.live(0) is None


def test_finals_feed_the_prompt_history() -> None:
    captioner = UtteranceCaptioner(AsrOptions(), Metrics())
    for uid, text in enumerate(["The first sentence.", "The second one."]):
        snap = utterance(0, final=True, uid=uid)
        captioner.captions(snap, captioner.open(snap), heard(text))
    assert captioner.history == "The first sentence. The second one."


def test_lost_speech_is_told_once_and_counted_every_time() -> None:
    notice = LostSpeech(translating=False)
    unsure = heard("mumble", speech_s=4.0)
    assert notice.lost(unsure, "low confidence")
    warning = notice.warning(unsure, "low confidence")
    assert warning is not None and "4 s of speech" in warning and "--model small" in warning
    assert notice.warning(unsure, "low confidence") is None
    assert not notice.lost(heard("x", speech_s=0.5), "low confidence")  # too little speech
    assert not notice.lost(unsure, "repetition loop")  # not a matter of doubt
    assert "--llm" in (LostSpeech(translating=True).warning(unsure, "low confidence") or "")


class Recogniser:
    """Answers each decode from a script, recording the prompts it was given."""

    def __init__(self, *answers: Transcript) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def transcribe(self, audio, *, prompt, prefix, final, language) -> Transcript:  # type: ignore[no-untyped-def]
        self.prompts.append(prompt)
        return self.answers.pop(0)

    def detect_language(self, audio: np.ndarray) -> list[tuple[str, float]]:
        return [("en", 1.0)]

    def is_common_word(self, word: str) -> bool:
        return word.lower() in {"can", "camp", "the", "on", "deploy"}


def test_a_final_that_may_hold_a_term_is_decoded_again_and_the_surer_decode_wins() -> None:
    metrics = Metrics()
    glossary = Glossary(keep=["Kubernetes", "Siobhan"])
    whisper = Recogniser(heard("Deploy on Kubernetes.", logprob=-0.2))
    terms = GlossaryTerms(glossary, whisper, similarity=0.85, metrics=metrics)
    first = heard("Deploy on Cuba netes.", logprob=-0.6)
    chosen = terms.redecode(whisper, np.zeros(SECOND), first, prompt="", prefix="", language="en")
    assert chosen.text == "Deploy on Kubernetes."
    assert whisper.prompts == [terms.prompt] and "Kubernetes" in terms.prompt
    assert metrics.counters["asr.glossary_decodes"] == 1
    plain = heard("Nothing like a term here.")
    assert (
        terms.redecode(whisper, np.zeros(SECOND), plain, prompt="", prefix="", language="en")
        is plain
    )


def test_near_misspellings_are_set_to_the_term_and_uses_are_counted() -> None:
    metrics = Metrics()
    terms = GlossaryTerms(Glossary(keep=["Siobhan"]), Recogniser(), 0.85, metrics)
    said = Caption(0, 0, True, "Ask Siobahn.", "Ask Siobahn.", "en", 0, 1, 0, 12)
    fixed = terms.fix(said)
    assert fixed.text == "Ask Siobhan." and fixed.stable_chars == len("Ask Siobhan.")
    assert metrics.counters["glossary.fixed.Siobhan"] == 1
    assert metrics.counters["glossary.used.Siobhan"] == 1


class Voices:
    """A labeler whose turns are scripted: who speaks when."""

    def __init__(self, turns: list[LabelledTurn], now: str = "S1") -> None:
        self.turns = turns
        self.now = now
        self.provisional_calls = 0

    def provisional(self, audio: np.ndarray) -> str:
        self.provisional_calls += 1
        return self.now

    def final_turns(self, audio: np.ndarray, start_s: float) -> list[LabelledTurn]:
        return self.turns


def test_a_partial_label_is_decided_again_only_after_a_second_of_new_audio() -> None:
    voices = Voices([])
    captioner = UtteranceCaptioner(AsrOptions(), Metrics())
    turns = SpeakerTurns(voices, Recogniser(), GateOptions(), Metrics(), captioner.new_id)  # type: ignore[arg-type]
    line = captioner.open(utterance(0, seconds=1.0))
    partial = Caption(0, 0, False, "hi", "hi", "en", 10, 11, 0)
    for seconds in (1.0, 1.5, 2.1):
        labelled = turns.label(utterance(0, seconds=seconds), [partial], line)
        assert labelled[0].speaker == "S1"
    assert voices.provisional_calls == 2


def test_a_final_spoken_by_two_is_decoded_again_per_turn() -> None:
    two = [LabelledTurn(10.0, 12.0, "S1"), LabelledTurn(12.0, 14.0, "S2")]
    whisper = Recogniser(heard("Good morning."), heard("Hello, Ana."))
    metrics = Metrics()
    captioner = UtteranceCaptioner(AsrOptions(), metrics)
    captioner.new_id()  # the final's own id
    turns = SpeakerTurns(Voices(two), whisper, GateOptions(), metrics, captioner.new_id)  # type: ignore[arg-type]
    final = Caption(0, 2, True, "Good morning.", "Good morning.", "en", 10.0, 14.0, 0)
    pieces = turns.label(utterance(2, final=True, seconds=4.0), [final], None)
    assert [(c.id, c.speaker, c.text) for c in pieces] == [
        (0, "S1", "Good morning."),
        (1, "S2", "Hello, Ana."),
    ]
    assert metrics.counters["asr.speaker_splits"] == 1


def test_a_final_after_words_sent_early_is_split_by_its_words_times() -> None:
    two = [LabelledTurn(10.0, 12.0, "S1"), LabelledTurn(12.0, 14.0, "S2")]
    turns = SpeakerTurns(
        Voices(two), Recogniser(), GateOptions(), Metrics(), iter(range(5, 9)).__next__
    )  # type: ignore[arg-type]
    words = tuple(
        Word(w, s, s + 0.4)
        for w, s in (("yes", 11.0), ("right.", 11.5), ("Next", 12.5), ("one.", 13.0))
    )
    rest = Caption(
        3, 0, True, "yes right. Next one.", "yes right. Next one.", "en", 11.0, 14.0, 0, words=words
    )
    pieces = turns.label(utterance(4, final=True, seconds=4.0), [rest], None)
    assert [(c.id, c.speaker, c.text) for c in pieces] == [
        (3, "S1", "yes right."),
        (5, "S2", "Next one."),
    ]
    assert replace(pieces[0], speaker="") != pieces[0]


def test_text_whisper_did_not_translate_is_labelled_with_the_language_heard() -> None:
    from canvascap.stages.recognition.translated import translation_lang

    # What Whisper base wrote for real speech, asked to translate it into English.
    translated = [
        ("fr", " Under the consulate, it becomes the conservator of the ZO and Forel."),
        ("pt", " A washing machine can not be learned in an office."),
        ("de", " The rear of this portal lying in the room was used as a small hall."),
    ]
    for heard, text in translated:
        assert translation_lang(text, heard) == "en", text
    # ... and what it wrote when it did not translate: the speech as heard.
    untranslated = [
        ("fr", "Sous le consulat il devient conservateur des eaux et forêts."),
        ("es", "Las arenas son blanquecinas de grano medio y tiene muy poca asistencia."),
        ("de", "Der hinter diesem Portal liegenden Raum wurde als Leichenhalle genutzt."),
        ("th", "บุษ แม่นือภาษาลาเบินอยู่"),  # synthetic French speech, heard as Thai
    ]
    for heard, text in untranslated:
        assert translation_lang(text, heard) == heard, text
    assert translation_lang("Thank you.", "fr") == "en"  # too short to doubt
