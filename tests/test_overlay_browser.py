"""The overlay in a real browser (Debian's Chromium): live speech, reconnects, safety."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace

import pytest

from canvascap.pipeline.runner import Pipeline
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Role
from canvascap.testing import file_config
from canvascap.web.server import OverlayOptions, OverlaySink
from canvascap.web.testing import overlay_server
from tests.browser import RECORD_CAPTIONS, artifact, chromium
from tests.overlay_helpers import caption
from tests.timing import seconds, until


@pytest.mark.slow
async def test_live_speech_appears_in_the_overlay_partial_first(data_dir) -> None:
    clip = data_dir / "en" / "ljspeech" / "LJ001-0014.wav"  # one 10 s sentence
    ctx = Context(session="live")
    sink = OverlaySink(OverlayOptions(port=0), ctx)
    pipeline = Pipeline.build(
        file_config(str(clip), realtime=True), ctx, extra_sinks={"overlay": sink}
    )
    ready = asyncio.Event()
    running = asyncio.create_task(pipeline.run(on_ready=ready.set))
    async with chromium() as browser:
        # bypass_csp lets Playwright poll; the page must be safe even without its CSP
        page = await browser.new_page(viewport={"width": 1280, "height": 300}, bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0")
        await page.evaluate(RECORD_CAPTIONS)
        await asyncio.wait_for(ready.wait(), seconds(60))
        await page.wait_for_function(
            "[...document.querySelectorAll('#captions .caption.final')]"
            ".some(b => b.textContent.toLowerCase().includes('middle ages'))",
            timeout=seconds(60) * 1000,
        )
        events = await page.evaluate("window.__events")
        final_at = next(i for i, e in enumerate(events) if e["final"])
        assert any(not e["final"] and e["text"] for e in events[:final_at]), events
        background = await page.evaluate(
            "[getComputedStyle(document.documentElement).backgroundColor,"
            " getComputedStyle(document.body).backgroundColor]"
        )
        assert background == ["rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0)"]
        shot = artifact("overlay.png")
        await page.screenshot(path=str(shot), omit_background=True)
        corner, caption_box = await _alphas(browser, shot.read_bytes())
        assert corner == 0 and caption_box > 0  # see-through except for the captions
    await asyncio.wait_for(running, seconds(60))


async def _alphas(browser, png: bytes) -> list[int]:
    """Alpha of the screenshot's top-left pixel and of a pixel in the caption area."""
    page = await browser.new_page()
    return await page.evaluate(
        """async (b64) => {
            const image = new Image();
            image.src = 'data:image/png;base64,' + b64;
            await image.decode();
            const canvas = document.createElement('canvas');
            canvas.width = image.width;
            canvas.height = image.height;
            const context = canvas.getContext('2d');
            context.drawImage(image, 0, 0);
            const alpha = (x, y) => context.getImageData(x, y, 1, 1).data[3];
            return [alpha(4, 4), alpha(image.width / 2, image.height - 40)];
        }""",
        base64.b64encode(png).decode(),
    )


async def test_overlay_resumes_from_a_snapshot_after_a_server_restart() -> None:
    async with chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        async with overlay_server(session="first") as (sink, feed):
            port = sink.port
            await feed.send(caption(0, "before the restart"))
            await page.goto(f"{sink.url}/overlay?fade=0")
            await page.wait_for_function("document.body.innerText.includes('before the restart')")
        await page.wait_for_timeout(300)  # the page is now retrying with backoff
        async with overlay_server(session="second", port=port) as (_, feed):
            await feed.send(caption(0, "after the restart"))
            await feed.send(caption(1, "still going", final=False))
            await page.wait_for_function(
                "document.body.innerText.includes('still going')", timeout=seconds(20) * 1000
            )
            text = await page.inner_text("#captions")
            assert "after the restart" in text and "before the restart" not in text


async def test_caption_text_is_rendered_literally_never_as_html() -> None:
    hostile = (
        '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
        " &amp; &lt;b&gt; 😀"
    )
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0")
        await feed.send(caption(0, hostile))
        await feed.send(caption(1, "שלום לכולם", lang="he"))
        await page.wait_for_function("document.querySelectorAll('.caption').length === 2")
        await page.wait_for_timeout(200)
        texts = await page.eval_on_selector_all(".caption", "els => els.map(e => e.textContent)")
        assert texts == [hostile, "שלום לכולם"]
        assert await page.evaluate("window.__pwned === undefined")
        assert (
            await page.evaluate(
                "document.querySelectorAll('#captions img, #captions script, #captions b').length"
            )
            == 0
        )
        direction = await page.evaluate(
            "getComputedStyle(document.querySelector('#caption-1 .text')).direction"
        )
        assert direction == "rtl"


async def test_pieces_of_one_utterance_share_a_line() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 400}, bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0")
        await feed.send(replace(caption(0, "ask not what"), utterance=3))
        await feed.send(replace(caption(1, "your country", final=False), utterance=3))
        await feed.send(replace(caption(2, "can do for you"), utterance=4))
        await page.wait_for_function("document.querySelectorAll('.caption').length === 3")
        lines = await page.eval_on_selector_all("#captions > p", "ps => ps.map(p => p.textContent)")
        assert lines == ["ask not whatyour country", "can do for you"]  # the gap is CSS
        tops = await page.eval_on_selector_all(
            ".caption", "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
        )
        assert tops[0] == tops[1] < tops[2], "one row per utterance"


async def test_the_rest_of_a_word_joins_the_piece_before_it() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        overlay = await browser.new_page(bypass_csp=True)
        await overlay.goto(f"{sink.url}/overlay?fade=0")
        control = await browser.new_page(bypass_csp=True)
        await control.goto(f"{sink.url}/")
        await feed.send(replace(caption(0, "may just"), utterance=5))
        await feed.send(replace(caption(1, "ly be"), utterance=5, continues_word=True))
        await feed.send(replace(caption(2, "considered", final=False), utterance=5))
        await overlay.wait_for_function("document.querySelectorAll('.caption').length === 3")
        gaps = await overlay.eval_on_selector_all(
            ".caption", "els => els.map(e => getComputedStyle(e, '::before').content)"
        )
        assert gaps == ["none", "none", '" "']  # "may justly be considered"
        await control.wait_for_function(
            "document.querySelector('#transcript').innerText.includes('considered')"
        )
        row = await control.inner_text("#transcript p")
        assert row.endswith("may justly be considered"), row


async def test_url_parameters_choose_language_lines_and_style() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await page.goto(
            f"{sink.url}/overlay?fade=0&lang=es&show=both&size=20&color=ffcc00&align=left"
        )
        await feed.send(caption(0, "good morning"))
        await feed.send(
            caption(0, "buenos días", lang="es", source="good morning", role=Role.TRANSLATION)
        )
        await feed.send(caption(1, "only the source so far"))
        await page.wait_for_function("document.querySelectorAll('.caption').length === 2")
        await page.wait_for_function(
            "document.querySelector('#caption-0 .translation')?.textContent === 'buenos días'"
        )
        first = await page.inner_text("#caption-0")
        assert first.splitlines() == ["good morning", "buenos días"]
        style = await page.evaluate(
            "(() => { const s = getComputedStyle(document.querySelector('#captions'));"
            " return [s.fontSize, s.textAlign,"
            " getComputedStyle(document.querySelector('.text')).color]; })()"
        )
        assert style == ["20px", "left", "rgb(255, 204, 0)"]


async def test_after_a_reconnect_a_translation_showing_the_spoken_text_is_not_the_source() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0&lang=de&show=both")
        await feed.send(caption(0, "good morning"))
        # The German line was late, so it shows the spoken text for now.
        await feed.send(caption(0, "good morning", lang="de", final=False, role=Role.TRANSLATION))
        await page.wait_for_selector("#caption-0 .translation")
        langs = (
            "[...document.querySelectorAll('#caption-0 .text')]"
            ".map(e => e.lang || e.parentNode.lang)"
        )
        assert await page.evaluate(langs) == ["en", "de"]
        # OBS reloads the page: it connects again and builds everything from a snapshot,
        # in which the German line comes first.
        await page.reload()
        await page.evaluate(RECORD_CAPTIONS)
        await page.wait_for_selector("#caption-0 .translation")
        assert await page.evaluate(langs) == ["en", "de"]
        # The server restarts the feed: the page reconnects, keeps what it had, and
        # takes the snapshot.
        for client in list(sink.clients):
            await client.connection.close(1012, "restart")
        await feed.send(caption(1, "after the reconnect"))
        await page.wait_for_selector("#caption-1")
        assert await page.evaluate(langs) == ["en", "de"]
        assert await page.inner_text("#caption-0 .text:not(.translation)") == "good morning"


async def test_a_stand_in_is_styled_apart_until_its_translation_comes() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0&lang=es&show=both")
        await feed.send(caption(0, "good morning"))
        late = caption(0, "good morning", lang="es", final=False, role=Role.TRANSLATION)
        await feed.send(replace(late, stand_in=True))
        await page.wait_for_selector("#caption-0 .translation.stand-in")
        assert float(await page.evaluate(OPACITY)) < 1
        translated = caption(0, "buenos días", lang="es", source="good morning", rev=1)
        await feed.send(replace(translated, role=Role.TRANSLATION))
        await page.wait_for_function(
            "document.querySelector('#caption-0 .translation')?.textContent === 'buenos días'"
        )
        assert await page.query_selector("#caption-0 .translation.stand-in") is None
        watch = await browser.new_page(bypass_csp=True)
        await feed.send(caption(1, "the next line"))
        await feed.send(
            replace(caption(1, "the next line", lang="es", role=Role.TRANSLATION), stand_in=True)
        )
        await watch.goto(f"{sink.url}/watch?lang=es")
        await watch.wait_for_function("document.querySelectorAll('#lines p').length === 2")
        classes = await watch.evaluate(
            "[...document.querySelectorAll('#lines p')].map(p => p.className)"
        )
        assert classes == ["final", "pending"]


OPACITY = "getComputedStyle(document.querySelector('#caption-0 .translation')).opacity"


async def test_partial_shows_lighter_and_its_stable_words_stay_put() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0&align=left")
        await feed.send(caption(0, "so my fellow", final=False, stable_chars=5))
        await page.wait_for_selector("#caption-0.partial")
        box = await page.eval_on_selector(
            "#caption-0 .stable", "e => [e.textContent, e.getBoundingClientRect().x]"
        )
        await feed.send(
            caption(0, "so my fellow Americans ask", rev=1, final=False, stable_chars=12)
        )
        await page.wait_for_function(
            "document.querySelector('#caption-0').textContent.includes('ask')"
        )
        after = await page.eval_on_selector(
            "#caption-0 .stable", "e => [e.textContent, e.getBoundingClientRect().x]"
        )
        assert box[0] == "so my" and after[0] == "so my fellow" and box[1] == after[1]
        opacity = await page.eval_on_selector(
            "#caption-0 .tail", "e => getComputedStyle(e).opacity"
        )
        assert float(opacity) < 1
        await feed.send(caption(0, "So my fellow Americans, ask not.", rev=2))
        await page.wait_for_selector("#caption-0.final")


async def test_control_page_shows_transcript_health_and_a_working_overlay_url() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/")
        await feed.send(caption(0, "first final line"))
        await feed.send(replace(caption(1, "said in", final=True), utterance=7))
        await feed.send(replace(caption(2, "a partial <em>line</em>", final=False), utterance=7))
        await page.wait_for_function(
            "document.querySelector('#transcript').innerText.includes('a partial <em>line</em>')"
        )
        rows = await page.eval_on_selector_all("#transcript p", "ps => ps.map(p => p.innerText)")
        assert len(rows) == 2 and rows[1].endswith("said in a partial <em>line</em>"), rows
        assert await page.inner_text("#status") == "live"
        await page.wait_for_function(
            "document.querySelectorAll('#metrics tbody tr').length > 0"
            " || document.querySelector('#clients').textContent"
        )
        assert "overlay client" in await page.inner_text("#clients")
        await page.fill("input[name=lines]", "2")
        await page.fill("input[name=lang]", "de")
        url = await page.input_value("#overlay-url")
        assert url.startswith(f"{sink.url}/overlay?") and "lines=2" in url and "lang=de" in url
        preview = page.frame_locator("#preview")
        await preview.locator("#caption-0").wait_for()
        assert "first final line" in await preview.locator("#captions").inner_text()


async def test_overlay_with_a_token_reaches_the_feed_when_not_on_loopback_only() -> None:
    async with overlay_server(host="0.0.0.0") as (sink, feed), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await feed.send(caption(0, "shared across the network"))
        await page.goto(sink.page_url("/overlay") + "&fade=0")
        await page.wait_for_function(
            "document.body.innerText.includes('shared across the network')"
        )
        denied = await browser.new_page(bypass_csp=True)
        await denied.goto(f"{sink.url}/overlay?fade=0")
        await denied.wait_for_timeout(1000)
        assert await denied.inner_text("#captions") == ""


WHOLE_LINES = """
(() => {
  const box = document.querySelector('#captions').getBoundingClientRect();
  const lines = new Map();
  for (const text of document.querySelectorAll('#captions .text')) {
    for (const r of text.getClientRects()) lines.set(Math.round(r.bottom), r);
  }
  const shown = [...lines.values()].filter(r => r.bottom > box.top && r.top < box.bottom);
  const cut = shown.filter(r => r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5);
  return [shown.length, cut.length];
})()
"""


@pytest.mark.parametrize("lines", [1, 2, 3])
async def test_the_overlay_shows_exactly_n_whole_lines_rolling_up(lines) -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 720}, bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0&lines={lines}")
        sentences = [
            "The new schedule starts on Monday, so please check your calendars",
            "We are still waiting for the final numbers from the sales team",
            "If you have questions, write them in the chat and we will answer them",
            "Our next speaker has worked on public transport for twenty years",
        ]
        for cid, text in enumerate(sentences):
            await feed.send(caption(cid, text))
        await page.wait_for_selector("#caption-3")
        await page.wait_for_timeout(100)
        assert await page.evaluate(WHOLE_LINES) == [lines, 0]
        if lines == 3:
            await page.screenshot(path=str(artifact("overlay-3-lines.png")))
        await feed.send(caption(4, "Thank you all for coming, and see you next week"))
        await page.wait_for_selector("#caption-4")
        await page.wait_for_timeout(100)
        assert await page.evaluate(WHOLE_LINES) == [lines, 0]  # rolled up, still whole
        last = await page.inner_text("#captions")
        assert last.strip().endswith("see you next week")


async def test_without_a_box_the_letters_get_an_outline() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        stroke = "getComputedStyle(document.querySelector('.text')).webkitTextStrokeWidth"
        await feed.send(caption(0, "readable over a bright scene"))
        widths = []
        for query in ("bg=transparent", "", "bg=transparent&outline=0", "outline=5"):
            await page.goto(f"{sink.url}/overlay?fade=0&{query}")
            await page.wait_for_selector(".text")
            widths.append(await page.evaluate(stroke))
        assert widths == ["3px", "0px", "0px", "5px"]


async def test_the_control_page_previews_a_scaled_1920_by_1080_scene() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900}, bypass_csp=True)
        await page.goto(f"{sink.url}/")
        await feed.send(caption(0, "the preview shows this line as OBS would"))
        frame = page.frame_locator("#preview")
        await frame.locator("#caption-0").wait_for()
        size = await page.eval_on_selector(
            "#preview", "f => [f.offsetWidth, f.offsetHeight, f.getBoundingClientRect().width]"
        )
        box = await page.eval_on_selector("#preview-box", "b => b.clientWidth")
        assert size[:2] == [1920, 1080]  # the scene OBS renders
        assert abs(size[2] - box) < 2  # scaled to the width the page gives it
        text_height = await frame.locator(".text").evaluate("e => e.getBoundingClientRect().height")
        assert text_height > 42  # laid out at full size, then scaled: lines never re-wrap


PHONE = {"width": 390, "height": 844}


async def test_the_audience_page_shows_the_language_a_viewer_picks_on_a_phone() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(viewport=PHONE, bypass_csp=True)
        await page.goto(f"{sink.url}/watch")
        await page.wait_for_selector("#status.live")  # connected: every caption arrives live
        spanish = {0: "buenos días a todos", 1: "empecemos con las cifras"}
        for cid, english in enumerate(["good morning everyone", "let us start with the numbers"]):
            await feed.send(caption(cid, english))
            await feed.send(caption(cid, f"guten Tag {cid}", lang="de", role=Role.TRANSLATION))
            if cid in spanish:
                await feed.send(caption(cid, spanish[cid], lang="es", role=Role.TRANSLATION))
        await feed.send(caption(2, "and the plans for next year"))  # not translated yet
        await page.wait_for_function("document.querySelectorAll('#lines p').length === 3")
        shown = "[...document.querySelectorAll('#lines p')].map(p => [p.textContent, p.className])"
        assert [text for text, _ in await page.evaluate(shown)][0] == "good morning everyone"
        options = await page.eval_on_selector_all("#language option", "os => os.map(o => o.value)")
        assert options == ["", "de", "es"]
        await page.select_option("#language", "es")
        assert await page.evaluate(shown) == [
            ["buenos días a todos", "final"],
            ["empecemos con las cifras", "final"],
            ["and the plans for next year", "pending"],  # the spoken words until translated
        ]
        size = await page.eval_on_selector(
            "#lines", "e => parseFloat(getComputedStyle(e).fontSize)"
        )
        assert size >= 22  # large enough to read at arm's length
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await page.screenshot(path=str(artifact("watch-phone.png")))
        # The choice is remembered when the page is opened again.
        await page.reload()
        await page.wait_for_function("document.querySelectorAll('#lines p').length === 3")
        assert await page.input_value("#language") == "es"


async def test_the_audience_page_scrolls_back_and_returns_to_live() -> None:
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(viewport=PHONE, bypass_csp=True)
        await page.goto(f"{sink.url}/watch")
        await page.wait_for_selector("#status.live")  # connected: every caption arrives live
        for cid in range(40):
            await feed.send(caption(cid, f"line number {cid} of a long talk about many things"))
            await asyncio.sleep(0.02)  # as speech comes: a line at a time
        await page.wait_for_function("document.querySelectorAll('#lines p').length === 40")
        at_bottom = "(() => { const v = document.querySelector('#lines');"
        at_bottom += " return v.scrollTop + v.clientHeight >= v.scrollHeight - 8; })()"
        assert await page.evaluate(at_bottom)
        await page.eval_on_selector("#lines", "v => { v.scrollTop = 0; }")
        await page.wait_for_selector("#live:not([hidden])")
        await feed.send(caption(40, "a new line while reading back"))
        await page.wait_for_function("document.querySelectorAll('#lines p').length === 41")
        assert await page.eval_on_selector("#lines", "v => v.scrollTop") == 0  # left alone
        await page.click("#live")
        assert await page.evaluate(at_bottom)


async def test_the_control_page_gives_the_audience_page_and_its_qr_code() -> None:
    async with overlay_server() as (sink, _), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/")
        await page.wait_for_function("document.querySelector('#watch-url').href !== ''")
        assert await page.inner_text("#watch-url") == f"{sink.url}/watch"
        await page.wait_for_function("document.querySelector('#watch-qr').naturalWidth > 0")
        assert not await page.is_hidden("#watch-local")  # loopback: phones cannot reach it


async def test_the_control_page_counts_what_other_platforms_took_and_refused() -> None:
    async with overlay_server() as (sink, _), chromium() as browser:
        sink.ctx.metrics.count("zoom.sent", 12)
        sink.ctx.metrics.count("zoom.failures", 2)
        sink.ctx.metrics.degrade("zoom", "Zoom: HTTP 500")
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/")
        await page.wait_for_function("document.querySelector('#outputs').textContent !== ''")
        assert await page.inner_text("#outputs") == "Zoom: 12 sent, 2 failed attempt(s)"
        assert await page.inner_text("#alerts") == "zoom: Zoom: HTTP 500"


async def test_with_speakers_on_each_line_starts_with_who_said_it() -> None:
    hostile = "<img src=x onerror=window.__pwned=1>"
    async with overlay_server() as (sink, feed), chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 400}, bypass_csp=True)
        await page.goto(f"{sink.url}/overlay?fade=0&speakers=1")
        plain = await browser.new_page(bypass_csp=True)
        await plain.goto(f"{sink.url}/overlay?fade=0")
        await feed.send(replace(caption(0, "so that is decided."), utterance=3, speaker="S1"))
        # A partial's label is provisional: first taken for the same person...
        await feed.send(replace(caption(1, "Agreed", final=False), utterance=3, speaker="S1"))
        await page.wait_for_function("document.querySelectorAll('.caption').length === 2")
        rows = await page.eval_on_selector_all("#captions > p", "ps => ps.map(p => p.textContent)")
        assert rows == ["S1so that is decided.Agreed"]  # ": " and the gap are CSS
        # ...then found to be someone else, whose words start a line of their own.
        await feed.send(replace(caption(1, "Agreed.", rev=1), utterance=3, speaker=hostile))
        await page.wait_for_function("document.querySelectorAll('#captions > p').length === 2")
        rows = await page.eval_on_selector_all("#captions > p", "ps => ps.map(p => p.textContent)")
        assert rows == ["S1so that is decided.", f"{hostile}Agreed."]
        after = await page.evaluate(
            "getComputedStyle(document.querySelector('.speaker'), '::after').content"
        )
        assert after == '": "'
        assert await page.evaluate("document.querySelectorAll('#captions img').length") == 0
        assert await page.evaluate("window.__pwned === undefined")
        await plain.wait_for_function("document.querySelectorAll('.caption.final').length === 2")
        assert await plain.evaluate("document.querySelectorAll('.speaker').length") == 0
        control = await browser.new_page(bypass_csp=True)
        await control.goto(f"{sink.url}/")
        await control.wait_for_function("document.querySelectorAll('#transcript p').length === 2")
        rows = await control.eval_on_selector_all("#transcript p", "ps => ps.map(p => p.innerText)")
        assert rows[0].endswith("S1: so that is decided.") and rows[1].endswith(
            f"{hostile}: Agreed."
        ), rows
        await control.check("input[name=speakers]")
        assert "speakers=1" in await control.input_value("#overlay-url")


async def test_the_control_page_counts_each_glossary_term_heard() -> None:
    async with overlay_server() as (sink, _), chromium() as browser:
        sink.ctx.metrics.count("glossary.used.Kubernetes", 3)
        sink.ctx.metrics.count("glossary.fixed.Kubernetes", 1)
        sink.ctx.metrics.count("glossary.used.<b>Siobhan</b>", 1)
        page = await browser.new_page(bypass_csp=True)
        await page.goto(f"{sink.url}/")
        await page.wait_for_function("document.querySelector('#glossary').textContent !== ''")
        assert await page.inner_text("#glossary") == (
            "Glossary terms heard: Kubernetes 3 (1 set right), <b>Siobhan</b> 1"
        )


async def test_the_control_page_names_a_speaker_and_a_viewer_cannot() -> None:
    async with overlay_server(host="0.0.0.0") as (sink, _), chromium() as browser:
        page = await browser.new_page(bypass_csp=True)
        await page.goto(sink.page_url("/"))
        await page.wait_for_function("document.querySelector('#status').textContent === 'live'")
        await page.fill("#rename input[name=label]", "s2")
        await page.fill("#rename input[name=name]", "Ana <b>")
        await page.click("#rename button")
        await page.wait_for_function("document.querySelector('#renamed').textContent !== ''")
        assert await page.inner_text("#renamed") == "S2 is now Ana <b>"
        names = sink.speaker_names.names
        await until(lambda: names == {"S2": "Ana <b>"}, limit_s=5, what="the rename")
        viewer = await browser.new_page(bypass_csp=True)
        await viewer.goto(sink.watch_url)
        await viewer.wait_for_selector("#status.live")
        listening = len(sink.clients)
        await viewer.evaluate(
            """() => new Promise((done) => {
                const url = new URL('/ws' + location.search, location.href);
                url.protocol = 'ws:';
                const socket = new WebSocket(url);
                socket.onopen = () => {
                    socket.send(JSON.stringify({type: 'rename', label: 'S2', name: 'Mallory'}));
                    socket.close();
                };
                socket.onclose = done;
            })"""
        )
        # The server reads a client's messages in order before it lets the client go.
        await until(lambda: len(sink.clients) == listening, what="the viewer's socket handled")
        assert sink.speaker_names.names == {"S2": "Ana <b>"}  # the viewer token cannot rename
