"""An ordinary instruct model behind an OpenAI-compatible server: llama.cpp, Ollama,
LM Studio, or vLLM serving something other than DiffusionGemma.

Each (caption, language) line is one short request (``chat_lines``), as many at once as
the server has slots, each held to one clean line by what the server takes
(``server_kind.constraint``). A server that refuses the constraint (HTTP 400) is asked
without it from then on, said once. Lines that come back unusable are missing, so the
stage shows a stand-in and asks once more; a server that cannot be reached fails the
whole request, so the stage's outage warning applies.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from canvascap.pipeline.errors import UserError
from canvascap.pipeline.metrics import Metrics
from canvascap.stages.glossary import Glossary
from canvascap.stages.translation.asking import Answer, ShowDraft
from canvascap.stages.translation.chat_lines import chat_messages, clean_line
from canvascap.stages.translation.engines.backend import BackendError, LlmOptions, server_client
from canvascap.stages.translation.engines.server_kind import (
    ServerKind,
    answer_text,
    constraint,
    identify,
)
from canvascap.stages.translation.packing import Earlier, Job

__all__ = ["ChatServerEngine", "probe_server"]

log = logging.getLogger(__name__)

RETRY_TEMPERATURE = 0.7
"""How freely a line asked again is sampled."""
MAX_PARALLEL = 4
"""Requests in flight at most, whatever the server says: more only queue there."""


async def probe_server(client: httpx.AsyncClient) -> ServerKind:
    """What the server is: its model list, and llama.cpp's ``/props`` where it answers."""
    try:
        response = await client.get("/models")
        response.raise_for_status()
        models = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise BackendError(str(error) or type(error).__name__) from None
    props = None
    root = str(client.base_url).rstrip("/").removesuffix("/v1")
    try:
        answer = await client.get(f"{root}/props")
        if answer.status_code == 200:
            props = answer.json()
    except (httpx.HTTPError, ValueError):
        pass  # not llama.cpp, or an older one: the model list is enough
    return identify(models, props)


class ChatServerEngine:
    """The ``Engine`` for an ordinary chat model: a line per request, cleaned."""

    drafts_hold = False  # answers come whole, and are only previews when settled

    def __init__(
        self,
        options: LlmOptions,
        server: ServerKind,
        glossary: Glossary | None = None,
        metrics: Metrics | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.options = options
        self.server = server
        self.glossary = glossary
        self.metrics = metrics or Metrics()
        self.client = client or server_client(options)
        self.model = options.model or (server.models[0] if server.models else None)
        self.constrained = bool(constraint(server.kind))
        """Whether answers are held to one clean line (until the server refuses it)."""
        self._slots = asyncio.Semaphore(max(1, min(MAX_PARALLEL, server.slots)))

    def count_tokens(self, text: str) -> int:
        """Words: each line is its own request, so there is no canvas to fill."""
        return len(text.split())

    async def start(self) -> None:
        """Check the named model is served."""
        if self.options.model and self.server.models and self.model not in self.server.models:
            raise UserError(
                f"the server at {self.options.url} does not serve '{self.model}' "
                f"(it serves: {', '.join(self.server.models)}); fix --llm-model"
            )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    async def translate(
        self, pairs: list[tuple[Job, str]], context: list[Earlier], show_draft: ShowDraft
    ) -> Answer:
        """Every line of ``pairs``, each its own request, the server's slots at once."""
        results = await asyncio.gather(
            *(self._line(job, lang) for job, lang in pairs), return_exceptions=True
        )
        found: dict[tuple[int, str], str] = {}
        missing: list[tuple[int, str]] = []
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures and len(failures) == len(results):
            raise failures[0]  # nothing answered: the server is down, not a bad line
        for (job, lang), result in zip(pairs, results, strict=True):
            if isinstance(result, str):
                found[(job.id, lang)] = result
            else:
                missing.append((job.id, lang))
        self.metrics.count("translate.requests")
        self.metrics.count("translate.lines_requested", len(pairs))
        self.metrics.count("translate.lines_missing", len(missing))
        return Answer(found, missing, pinned=False)

    async def _line(self, job: Job, lang: str) -> str | None:
        """One line, or None when the answer was no usable line."""
        async with self._slots:
            content = await self._ask(job, lang)
        line = clean_line(answer_text(self.server.kind, content), job.text, job.lang, lang)
        if line is None:
            self.metrics.count("translate.lines_implausible")
        return line

    async def _ask(self, job: Job, lang: str) -> str:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": chat_messages(job.text, job.lang, lang, self.glossary),
            # The first answer is the model's likeliest; a line asked again (the first
            # was unusable) is sampled, or the same loop would come back.
            "temperature": 0 if job.attempts == 0 else RETRY_TEMPERATURE,
            "max_tokens": 3 * len(job.text.split()) + 16,
        }
        if job.attempts:
            body["seed"] = job.attempts
        if self.constrained:
            body.update(constraint(self.server.kind))
        try:
            response = await self.client.post("/chat/completions", json=body)
            if response.status_code == 400 and self.constrained:
                self._unconstrained(response.text[:200])
                body = {k: v for k, v in body.items() if k not in constraint(self.server.kind)}
                response = await self.client.post("/chat/completions", json=body)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
        except httpx.HTTPError as error:
            raise BackendError(str(error) or type(error).__name__) from None
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise BackendError(f"the server sent a malformed answer: {error}") from None
        return content if isinstance(content, str) else ""

    def _unconstrained(self, detail: str) -> None:
        """The server refused the form constraint: ask without it, said once."""
        self.constrained = False
        log.warning(
            "the %s server refused a constrained answer (%s); lines are asked plainly and cleaned",
            self.server.kind,
            " ".join(detail.split()),
        )
