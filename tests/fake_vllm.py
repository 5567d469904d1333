"""A stand-in for a vLLM server running DiffusionGemma (vLLM cannot run here).

It mimics what a client of vLLM can observe: ``GET /v1/models``; streamed
``POST /v1/chat/completions`` sending one chunk per committed canvas (one, for
``max_tokens <= 256``); HTTP 400 for the fields vLLM refuses on diffusion models
(``temperature`` other than 1, ``seed``, ``response_format``, ...). Its "model" answers
each requested ``id|lang|`` line with a tagged copy of the caption, so tests can check
the mapping. ``mode`` switches it to slow, garbage, a 120 kB answer (``huge``), HTTP
500, missing lines, or a
connection held open with a byte every half second (``trickle``, on the chat request;
``trickle_models``, on the model list).

Like vLLM it serves ``POST /tokenize`` and honours ``vllm_xargs.diffusion_seed_canvas``
and ``diffusion_pinned``: pinned positions keep their seed token, and the "model"
writes only the free positions between them, so a pinned ``id|lang|`` label cannot be
changed. Its tokenizer gives one token per word (with its leading space) and per
newline, with ``<pad>`` (0) and ``<turn|>`` (1) as special tokens. Mode ``old`` refuses the
seed canvas with HTTP 400, as a vLLM from before template infilling would; mode
``ignores_xargs`` takes the seed canvas but writes the lines in reverse order, as an
OpenAI-compatible server that drops fields it does not know would.

Given another DiffusionGemma ``model`` (a quantized checkpoint), it serves that name the
same way. Given an ordinary instruct model, it is vLLM serving that model:
it takes ``temperature`` and ``structured_outputs`` (refused with HTTP 400 in mode
``no_structured``), and answers ``Translate to Spanish: words`` with the words in
reverse order, quoted and labelled (``Spanish: "words reversed"``), as small models
write.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "google/diffusiongemma-26B-A4B-it"
REFUSED = (
    "seed",
    "response_format",
    "min_p",
    "logit_bias",
    "min_tokens",
    "bad_words",
    "allowed_token_ids",
)


SPECIALS = {"<pad>": 0, "<turn|>": 1}
PIECE = re.compile(r"<pad>|<turn\|>|\n| ?[^\s]+|\s")
VOCABULARY: dict[str, int] = {}  # grows as pieces are seen: one id per word, as a BPE's
FIRST_ID = 16  # ids below this are special


NEW_PIECE = threading.Lock()


def tokenize(text: str) -> list[int]:
    """One token per word with its leading space, per newline, per special token."""
    ids = []
    for piece in PIECE.findall(text):
        if piece in SPECIALS:
            ids.append(SPECIALS[piece])
            continue
        with NEW_PIECE:
            ids.append(VOCABULARY.setdefault(piece, FIRST_ID + len(VOCABULARY)))
    return ids


def detokenize(ids: list[int]) -> str:
    pieces = {token: piece for piece, token in VOCABULARY.items()}
    return "".join(pieces[t] for t in ids if t >= FIRST_ID)


def fill_canvas(prompt: str, seed: list[int], pinned: list[int], drop_last: bool) -> str:
    """What the fake model writes into a seed canvas: each free run after a pinned
    ``id|lang|`` label gets `` [lang] caption``; the canvas is read up to ``<turn|>``."""
    captions = dict(re.findall(r"^\[(\d+)\] \([^)]*\) <<< (.*) >>>$", prompt, re.M))
    held = set(pinned)
    canvas = list(seed)
    runs: list[tuple[int, int]] = []
    position = 0
    while position < len(canvas):
        if position in held:
            position += 1
            continue
        start = position
        while position < len(canvas) and position not in held:
            position += 1
        runs.append((start, position))
    slots = []
    for start, end in runs:
        line = detokenize(canvas[:start]).rsplit("\n", 1)[-1]
        label = re.match(r"(\d+)\|([\w-]+)\|(.*)$", line)
        canvas[start:end] = [SPECIALS["<pad>"]] * (end - start)
        if label is not None and end < len(canvas):
            slots.append((start, end, *label.groups()))
    for index, (start, end, cid, lang, kept) in enumerate(slots):
        if drop_last and index == len(slots) - 1:
            continue  # left as padding: the model wrote nothing there
        whole = f" [{lang}] {captions.get(cid, '')}"
        # Pinned words already shown: write only what follows them.
        rest = whole[len(kept) :] if kept and whole.startswith(kept) else whole
        ids = tokenize(rest)[: end - start]
        canvas[start : start + len(ids)] = ids
    if SPECIALS["<turn|>"] in canvas:
        canvas = canvas[: canvas.index(SPECIALS["<turn|>"])]
    return detokenize(canvas)


def answer_for(prompt: str, drop_last: bool = False) -> str:
    """The lines a perfect model would write: ``id|lang| [lang] caption text``."""
    captions = dict(re.findall(r"^\[(\d+)\] \([^)]*\) <<< (.*) >>>$", prompt, re.M))
    wanted = re.findall(r"^(\d+)\|([\w-]+)\| <", prompt, re.M)
    if drop_last:
        wanted = wanted[:-1]
    return "\n".join(f"{cid}|{lang}| [{lang}] {captions[cid]}" for cid, lang in wanted)


class FakeVllm:
    """Runs on a background thread; ``mode`` may change while it runs."""

    def __init__(self, port: int = 0, model: str = MODEL) -> None:
        self.model = model
        self.mode = "ok"
        self.delay_s = 0.0
        self.stopping = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.tokenized: list[str] = []
        self.refused: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/v1/models":
                    return self._send(404, {"error": "not found"})
                if fake.mode == "trickle_models":
                    return self._trickle()
                model = {"id": fake.model, "object": "model", "owned_by": "vllm"}
                self._send(200, {"object": "list", "data": [model]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/tokenize":
                    fake.tokenized.append(body["prompt"])
                    ids = tokenize(body["prompt"])
                    return self._send(200, {"tokens": ids, "count": len(ids)})
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                fake.requests.append(body)
                if "diffusion" not in fake.model.lower():
                    return self._chat(body)
                problem = fake.check(body)
                if problem:
                    fake.refused.append(problem)
                    return self._send(400, {"error": {"message": problem}})
                if fake.mode == "error500":
                    return self._send(500, {"error": {"message": "engine died"}})
                if fake.mode == "trickle":
                    return self._trickle()
                time.sleep(fake.delay_s)
                prompt = body["messages"][-1]["content"]
                if fake.mode == "garbage":
                    text = "ﾟ*ﾟ nonsense ]]] |||\n{{{ no lines here"
                elif fake.mode == "huge":
                    text = "0|es| " + "la " * 40_000
                elif "diffusion_seed_canvas" in body.get("vllm_xargs", {}):
                    xargs = body["vllm_xargs"]
                    text = fill_canvas(
                        prompt,
                        xargs["diffusion_seed_canvas"],
                        xargs.get("diffusion_pinned", []),
                        drop_last=fake.mode == "missing",
                    )
                    if fake.mode == "ignores_xargs":
                        text = "\n".join(reversed(answer_for(prompt).splitlines()))
                else:
                    text = answer_for(prompt, drop_last=fake.mode == "missing")
                self._stream(text)

            def _chat(self, body: dict[str, Any]) -> None:
                """An ordinary model: one line, quoted and labelled, words reversed."""
                if fake.mode == "no_structured" and "structured_outputs" in body:
                    fake.refused.append("structured_outputs")
                    return self._send(400, {"error": {"message": "unknown field"}})
                time.sleep(fake.delay_s)
                asked = re.match(r"Translate to (\w+): (.*)", body["messages"][-1]["content"])
                if asked is None:
                    text = "I can only translate."
                else:
                    text = f'{asked[1]}: "{" ".join(reversed(asked[2].split()))}"'
                message = {"role": "assistant", "content": text}
                self._send(200, {"choices": [{"index": 0, "message": message}]})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _trickle(self) -> None:
                """Hold the connection open, sending one byte of nothing every half
                second: each read gets something, so no per-read timeout ever fires."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    while not fake.stopping.is_set():
                        self.wfile.write(b"1\r\n\n\r\n")
                        self.wfile.flush()
                        fake.stopping.wait(0.5)
                except OSError:
                    pass  # the client gave up

            def _stream(self, text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunks = [
                    {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
                    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                ]
                for chunk in [*(f"data: {json.dumps(c)}\n\n" for c in chunks), "data: [DONE]\n\n"]:
                    raw = chunk.encode()
                    self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def check(self, body: dict[str, Any]) -> str | None:
        """What vLLM would refuse in this request, if anything."""
        if body.get("temperature", 1.0) != 1.0:
            return "temperature must be 1.0 for diffusion models"
        for name in REFUSED:
            if name in body:
                return f"{name} is not supported for diffusion models"
        if body.get("max_tokens", 0) > 256:
            return "max_tokens must be at most one canvas (256)"
        xargs = body.get("vllm_xargs", {})
        if "diffusion_seed_canvas" in xargs:
            if self.mode == "old":
                return "unknown vllm_xargs key: diffusion_seed_canvas"
            seed, pinned = xargs["diffusion_seed_canvas"], xargs.get("diffusion_pinned", [])
            if len(seed) != 256:
                return f"diffusion_seed_canvas must hold canvas_length (256) ids, not {len(seed)}"
            if not all(isinstance(p, int) and 0 <= p < 256 for p in pinned):
                return "diffusion_pinned positions must lie in the canvas"
        return None

    def __enter__(self) -> FakeVllm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
