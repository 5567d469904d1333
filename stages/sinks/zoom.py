"""``sink.zoom``: captions inside a Zoom meeting, through its closed-caption API token.

The host copies the meeting's caption URL ("API token") in Zoom (*Show Captions* →
*Set up manual captioner* → *Copy the API token*) and gives it to ``--zoom-url`` or the
``CANVASCAP_ZOOM_URL`` environment variable. Zoom takes each caption as a ``text/plain``
UTF-8 POST to that URL with ``seq`` (one more for each new caption, the same for a
retry) and ``lang`` (language and country, ``en-US``). Zoom asks for every error code
to be retried and for every POST to have a timeout; ``CaptionDelivery`` does both.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption
from canvascap.stages.sinks.delivery import CaptionDelivery, DeliveryOptions, Post

__all__ = ["ZoomCaptions", "ZoomOptions", "zoom_language"]

# Zoom's own codes where they differ from language-COUNTRY of the main country.
_ZOOM_CODES = {
    "en": "en-US",
    "ja": "jp-JP",
    "zh": "zh-CN",
    "ko": "ko-KR",
    "pt": "pt-PT",
    "sv": "sv-SE",
    "da": "da-DK",
    "cs": "cs-CZ",
    "el": "el-GR",
    "he": "he-IL",
    "uk": "uk-UA",
    "vi": "vi-VN",
    "hi": "hi-IN",
    "ar": "ar-SA",
    "fa": "fa-IR",
}


def zoom_language(lang: str) -> str:
    """Zoom's code for a language: ``en`` → ``en-US``, ``de`` → ``de-DE``; ``pt-BR`` stays."""
    if "-" in lang:
        return lang
    return _ZOOM_CODES.get(lang, f"{lang}-{lang.upper()}")


class ZoomOptions(DeliveryOptions):
    """Options of ``sink.zoom``."""

    url_env: str = "CANVASCAP_ZOOM_URL"
    zoom_lang: str | None = Field(None, pattern=r"^[a-z]{2}-[A-Z]{2}$")
    """Zoom's language code, when the default one for the language is not the right one
    (e.g. ``pt-BR``)."""


class ZoomCaptions(CaptionDelivery):
    """Sends final captions to a Zoom meeting."""

    Options: ClassVar[type[BaseModel]] = ZoomOptions
    label: ClassVar[str] = "Zoom"

    def __init__(self, options: ZoomOptions, ctx: Context) -> None:
        super().__init__(options, ctx)
        self.name = "zoom"
        self._zoom_lang = options.zoom_lang

    def post_for(self, caption: Caption, seq: int) -> Post:
        """A plain-text POST with ``seq`` and ``lang``."""
        lang = self._zoom_lang or zoom_language(caption.lang)
        return Post({"seq": str(seq), "lang": lang}, caption.text, "text/plain; charset=utf-8")
