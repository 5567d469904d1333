"""The translate stage's memory of lines, without asyncio: what each decision shows."""

from __future__ import annotations

from canvascap.pipeline.types import Caption, Role
from canvascap.stages.translation.book import FORGET_AFTER, LineBook, whole_words


def spoken(cid: int, text: str, rev: int = 0, final: bool = True, stable: int = 0) -> Caption:
    return Caption(cid, rev, final, text, text, "en", float(cid), cid + 1.0, 0, stable)


def test_a_translation_is_a_new_line_of_its_caption_and_a_final_never_changes() -> None:
    book = LineBook(["es"], context_size=4)
    source = spoken(3, "good morning")
    book.add_final(source, now_s=10.0)
    first = book.revision(3, "es", "buenos", final=False)
    assert first is not None and (first.rev, first.final, first.role) == (
        0,
        False,
        Role.TRANSLATION,
    )
    assert first.source == "good morning" and first.words == ()
    assert book.revision(3, "es", "buenos", final=False) is None  # nothing new to show
    last = book.revision(3, "es", "buenos días", final=True)
    assert last is not None and (last.rev, last.stable_chars) == (1, len("buenos días"))
    assert book.revision(3, "es", "otra cosa", final=True) is None
    assert book.lag_since_final(3, now_s=10.5) == 0.5


def test_a_cleaned_line_replaces_the_spoken_one_under_its_key() -> None:
    book = LineBook(["es"], context_size=4)
    book.add_final(spoken(1, "um so yeah"), 0.0)
    raw = book.forward(spoken(1, "um so yeah", rev=4), final=False)
    cleaned = book.revision(1, "en", "So, yes.", final=True)
    assert raw is not None and raw.rev == 4 and not raw.final
    assert cleaned is not None and cleaned.rev == 5 and cleaned.role is Role.CLEANED
    assert book.forward(spoken(1, "um so yeah", rev=9), final=True) is None  # final is final


def test_a_confident_draft_only_grows() -> None:
    book = LineBook(["de"], context_size=4)
    book.add_final(spoken(0, "the weather is fine today"), 0.0)
    grown = book.draft(0, "de", "Das Wetter", None, confident=True)
    assert grown is not None and grown.stable_chars == len("Das Wetter")
    assert book.draft(0, "de", "Der Wetterbericht", None, confident=True) is None
    longer = book.draft(0, "de", "Das Wetter ist", None, confident=True)
    assert longer is not None and longer.stable_chars == len("Das Wetter ist")
    unsure = book.draft(0, "de", "Ganz anders", None, confident=False)
    assert unsure is not None and unsure.stable_chars == 0


def test_requests_get_the_finals_just_before_them_with_their_lines() -> None:
    book = LineBook(["es"], context_size=8)
    for cid, text in enumerate(["one", "two", "three", "four"]):
        book.add_final(spoken(cid, text), float(cid))
        book.revision(cid, "es", f"es {text}", final=cid != 2)
    earlier = book.earlier(first=3, count=2)
    assert [(e.id, e.text, e.lines) for e in earlier] == [
        (1, "two", {"es": "es two"}),
        (2, "three", {}),
    ]
    assert book.earlier(first=3, count=0) == []


def test_settled_words_are_asked_once_they_grow_and_kept_while_the_final_agrees() -> None:
    book = LineBook(["es"], context_size=4)
    partial = spoken(5, "we will look at the numbers", final=False, stable=len("we will look"))
    book.note_partial(partial, now_s=1.0)
    job = book.settled_job(partial)
    assert job is not None and job.text == "we will look" and job.langs == ["es"]
    book.keep(5, "we will look", "es", "veremos")
    assert book.settled_job(partial) is None  # no new settled words yet
    assert book.settled_lag(5, "we will look", now_s=1.5) == 0.5
    assert book.kept_for(spoken(5, "we will look at the numbers")) == {"es": "veremos"}
    book.keep(5, "we will look", "es", "veremos")
    assert book.kept_for(spoken(5, "we shall see the numbers")) == {}  # the final disagrees


def test_old_captions_are_forgotten_as_a_whole() -> None:
    book = LineBook(["es"], context_size=4)
    book.add_final(spoken(0, "first"), 0.0)
    book.revision(0, "es", "primero", final=True)
    book.add_final(spoken(FORGET_AFTER + 1, "much later"), 1.0)
    assert book.source(0) is None and book.shown_langs(0) == []
    assert book.shown_langs(FORGET_AFTER + 1) == []


def test_whole_words_cuts_a_settled_start_back_to_a_word_boundary() -> None:
    assert whole_words("hello there friend", 8) == "hello"
    assert whole_words("hello there friend", 11) == "hello there"
    assert whole_words("hello", 5) == "hello"


def test_a_final_never_rewrites_words_a_draft_showed_as_stable() -> None:
    book = LineBook(["es"], context_size=4)
    book.add_final(spoken(0, "we choose to go to the moon"), 0.0)
    shown = book.draft(0, "es", "Elegimos ir", None, confident=True)
    assert shown is not None and shown.stable_chars == len("Elegimos ir")
    extended = book.revision(0, "es", "Elegimos ir a la Luna", final=True)
    assert extended is not None and extended.text == "Elegimos ir a la Luna"
    book.add_final(spoken(1, "in this decade"), 0.0)
    book.draft(1, "es", "en esta", None, confident=True)
    given_up = book.revision(1, "es", "in this decade", final=True)  # untranslated
    assert given_up is not None and given_up.text == "en esta"
