"""What the translate stage translates with: a language model, or a CPU translation model.

``Engine`` is the stage's one view of either. ``LlmEngine`` sends packed canvases to a
DiffusionGemma backend (``asking``); ``ServerEngine`` asks an OpenAI-compatible server
what it serves, and talks to an ordinary chat model one line at a time
(``engines.chat_server``); ``MarianEngine`` batches each language pair
through CTranslate2 (``engines.marian``), on any CPU. The stage's policy - deadlines,
stand-ins, settled words, back-off - is the same for both.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from canvascap.pipeline.errors import UserError
from canvascap.pipeline.metrics import Metrics
from canvascap.stages.glossary import Glossary
from canvascap.stages.translation.asking import Answer, ShowDraft, ask, make_backend
from canvascap.stages.translation.engines.backend import (
    BackendError,
    LlmBackend,
    server_client,
)
from canvascap.stages.translation.engines.marian import (
    MarianModels,
    default_models_dir,
    pair_name,
)
from canvascap.stages.translation.engines.server_kind import ServerKind, is_diffusion_model
from canvascap.stages.translation.options import TranslateOptions
from canvascap.stages.translation.packing import Earlier, Job

__all__ = ["Engine", "LlmEngine", "MarianEngine", "ServerEngine", "make_engine", "missing_model"]

log = logging.getLogger(__name__)


class Engine(Protocol):
    """Translates the lines of one request."""

    @property
    def drafts_hold(self) -> bool:
        """Whether drafts it shows are kept by its answer (only then are they stable)."""
        ...

    def count_tokens(self, text: str) -> int:
        """How long a text is, for packing requests."""
        ...

    async def start(self) -> None:
        """Load models or reach the server; raise ``UserError`` for what cannot work."""
        ...

    async def aclose(self) -> None:
        """Release what ``start`` opened."""
        ...

    async def translate(
        self, pairs: list[tuple[Job, str]], context: list[Earlier], show_draft: ShowDraft
    ) -> Answer:
        """The lines for ``pairs``: those found and those missing."""
        ...


class LlmEngine:
    """A DiffusionGemma backend, asked for packed canvases."""

    def __init__(
        self, backend: LlmBackend, glossary: Glossary | None, canvas_tokens: int, metrics: Metrics
    ) -> None:
        self.backend = backend
        self.glossary = glossary
        self.canvas_tokens = canvas_tokens
        self.metrics = metrics

    @property
    def drafts_hold(self) -> bool:
        """The backend's own word."""
        return self.backend.drafts_hold

    def count_tokens(self, text: str) -> int:
        """The backend's tokens."""
        return self.backend.count_tokens(text)

    async def start(self) -> None:
        """Load the model or check the server."""
        await self.backend.start()

    async def aclose(self) -> None:
        """Close the backend."""
        await self.backend.aclose()

    async def translate(
        self, pairs: list[tuple[Job, str]], context: list[Earlier], show_draft: ShowDraft
    ) -> Answer:
        """One packed request."""
        return await ask(
            self.backend,
            pairs,
            context,
            self.glossary,
            self.canvas_tokens,
            show_draft,
            self.metrics,
        )


def missing_model(pair: str, folder: Path) -> str:
    """How to get a pair's model, in words."""
    return (
        f"no translation model for {pair} in {folder}: run 'canvascap models fetch {pair}' "
        f"(offline: copy the pair's folder to {folder / pair}, or point CANVASCAP_MODELS "
        "at a folder that holds it)"
    )


def make_engine(options: TranslateOptions, metrics: Metrics, glossary: Glossary | None) -> Engine:
    """The engine the options name."""
    if options.engine == "ctranslate2":
        folder = Path(options.models).expanduser() if options.models else None
        return MarianEngine(
            options.sources, options.targets, folder, _device(options.device), metrics
        )
    if options.backend == "openai" and options.kind != "diffusion":
        return ServerEngine(options, metrics, glossary)
    return LlmEngine(make_backend(options, metrics), glossary, options.canvas_tokens, metrics)


class ServerEngine:
    """An OpenAI-compatible server, asked what it serves before the first request:
    DiffusionGemma gets packed canvases (``LlmEngine``), any other model one line per
    request (``ChatServerEngine``)."""

    def __init__(
        self, options: TranslateOptions, metrics: Metrics, glossary: Glossary | None
    ) -> None:
        self.options = options
        self.metrics = metrics
        self.glossary = glossary
        self.inner: Engine | None = None
        self.server: ServerKind | None = None

    @property
    def drafts_hold(self) -> bool:
        """The chosen engine's word; nothing holds before it is chosen."""
        return self.inner.drafts_hold if self.inner is not None else False

    def count_tokens(self, text: str) -> int:
        """The chosen engine's count, else a safe estimate (3 characters a token)."""
        if self.inner is not None:
            return self.inner.count_tokens(text)
        return max(1, -(-len(text) // 3))

    async def start(self) -> None:
        """Probe the server, choose the engine, and start it."""
        if self.inner is None:
            self.inner = await self._choose()
        await self.inner.start()

    async def _choose(self) -> Engine:
        from canvascap.stages.translation.engines.chat_server import (
            ChatServerEngine,
            probe_server,
        )

        client = server_client(self.options)
        try:
            async with asyncio.timeout(self.options.timeout_s):
                self.server = await probe_server(client)
        except TimeoutError:
            await client.aclose()
            raise BackendError(f"no answer within {self.options.timeout_s:g} s") from None
        except BaseException:
            await client.aclose()
            raise
        model = self.options.model or next(iter(self.server.models), "")
        if self.options.kind == "auto" and is_diffusion_model(model):
            await client.aclose()
            log.info("%s serves %s: packed canvases", self.server.kind, model)
            backend = make_backend(self.options, self.metrics)
            return LlmEngine(backend, self.glossary, self.options.canvas_tokens, self.metrics)
        log.info("%s serves %s, a chat model: one line per request", self.server.kind, model)
        return ChatServerEngine(self.options, self.server, self.glossary, self.metrics, client)

    async def aclose(self) -> None:
        """Close the chosen engine."""
        if self.inner is not None:
            await self.inner.aclose()

    async def translate(
        self, pairs: list[tuple[Job, str]], context: list[Earlier], show_draft: ShowDraft
    ) -> Answer:
        """The chosen engine's lines (the stage starts the engine before asking)."""
        if self.inner is None:
            await self.start()
        assert self.inner is not None
        return await self.inner.translate(pairs, context, show_draft)


def _device(device: str) -> str:
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class MarianEngine:
    """Marian models on CTranslate2: each language pair batched, in one worker thread."""

    drafts_hold = True  # a settled translation is the target prefix of its final

    def __init__(
        self,
        sources: list[str],
        targets: list[str],
        folder: Path | None = None,
        device: str = "cpu",
        metrics: Metrics | None = None,
    ) -> None:
        self.sources = sources
        self.targets = targets
        self.models = MarianModels(folder or default_models_dir(), device=device)
        self.metrics = metrics or Metrics()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="marian")
        self._told: set[str] = set()

    def count_tokens(self, text: str) -> int:
        """Words: a pair's batch has no canvas to fill."""
        return len(text.split())

    async def start(self) -> None:
        """Check that every pair the session needs is there, and load them."""
        routes = []
        for source in self.sources:
            for target in self.targets:
                route = self.models.route(source, target)
                if route is None:
                    raise UserError(missing_model(pair_name(source, target), self.models.folder))
                routes += route
        loop = asyncio.get_running_loop()
        for name in dict.fromkeys(routes):
            await loop.run_in_executor(self._executor, self.models.translate, [name], ["."])

    async def aclose(self) -> None:
        """Let a batch still running finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def translate(
        self, pairs: list[tuple[Job, str]], context: list[Earlier], show_draft: ShowDraft
    ) -> Answer:
        """Every line of ``pairs``, one batch per language pair."""
        groups: dict[tuple[str, str], list[Job]] = defaultdict(list)
        for job, lang in pairs:
            groups[(job.lang, lang)].append(job)
        found: dict[tuple[int, str], str] = {}
        missing: list[tuple[int, str]] = []
        loop = asyncio.get_running_loop()
        for (source, target), jobs in groups.items():
            route = self.models.route(source, target)
            if route is None:
                self._tell_missing(source, target)
                missing += [(job.id, target) for job in jobs]
                continue
            texts = [job.text for job in jobs]
            prefixes = [job.kept.get(target, "") for job in jobs]
            lines = await loop.run_in_executor(
                self._executor, self.models.translate, route, texts, prefixes
            )
            self.metrics.count("translate.requests")
            self.metrics.count("translate.lines_requested", len(jobs))
            for job, line in zip(jobs, lines, strict=True):
                if line:
                    found[(job.id, target)] = line
                else:
                    missing.append((job.id, target))
        return Answer(found, missing, pinned=True)

    def _tell_missing(self, source: str, target: str) -> None:
        pair = pair_name(source, target)
        if pair not in self._told:
            self._told.add(pair)
            log.warning(
                "%s; its lines are shown untranslated", missing_model(pair, self.models.folder)
            )
