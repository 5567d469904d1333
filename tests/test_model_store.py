"""Fetching CPU translation models: checked, resumed, from the hub or a mirror.

A local HTTP server stands in for the model hub and for an organisation's mirror (the
real ones are out of reach here); it serves a tiny model built in the test, honours
``Range``, and can cut a download short, answer 404, or serve a damaged file.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from canvascap.bench.random_marian import build_pair
from canvascap.model_store import fetch_pair, installed_pairs, remove_pair
from canvascap.pipeline.errors import UserError
from canvascap.stages.translation.engines.marian import MarianModels
from tests.cli import canvascap

pytestmark = pytest.mark.slow


class Files(BaseHTTPRequestHandler):
    """Serves ``files`` (path to bytes) with ``Range``; cuts each path in ``cut`` once."""

    files: dict[str, bytes] = {}
    cut: set[str] = set()
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Range", "")))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged[6:].split("-")[0])
        part = body[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if self.path in self.cut:
            self.cut.discard(self.path)
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
            return
        self.wfile.write(part)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_pair(tmp_path_factory.mktemp("source"), "en-es")


@pytest.fixture
def server() -> Iterator[tuple[str, type[Files]]]:
    handler = type("Served", (Files,), {"files": {}, "cut": set(), "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def as_mirror(handler: type[Files], model: Path, pair: str = "en-es") -> None:
    sums = []
    for path in sorted(model.iterdir()):
        data = path.read_bytes()
        handler.files[f"/{pair}/{path.name}"] = data
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {path.name}")
    handler.files[f"/{pair}/SHA256SUMS"] = ("\n".join(sums) + "\n").encode()


def as_hub(handler: type[Files], model: Path, pair: str = "en-es") -> None:
    repo = f"gaudi/opus-mt-{pair}-ctranslate2"
    listing = []
    for path in sorted(model.iterdir()):
        data = path.read_bytes()
        handler.files[f"/{repo}/resolve/main/{path.name}"] = data
        entry: dict[str, object] = {"type": "file", "path": path.name, "size": len(data)}
        if path.suffix in (".bin", ".spm"):  # large files are kept in LFS: a SHA-256
            entry["oid"] = "0" * 40
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
        else:  # small ones by their git blob hash
            entry["oid"] = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
        listing.append(entry)
    handler.files[f"/api/models/{repo}/tree/main"] = json.dumps(listing).encode()


def test_a_pair_from_a_mirror_is_checked_installed_and_translates(server, model, tmp_path) -> None:
    url, handler = server
    as_mirror(handler, model)
    installed = fetch_pair("en-es", tmp_path, url=url)
    assert installed_pairs(tmp_path) == ["en-es"] and installed == tmp_path / "en-es"
    assert MarianModels(tmp_path).translate(["en-es"], ["good morning"])[0]
    assert remove_pair("en-es", tmp_path) and installed_pairs(tmp_path) == []


def test_from_the_hub_each_file_is_checked_against_the_hubs_own_hashes(
    server, model, tmp_path, monkeypatch
) -> None:
    url, handler = server
    as_hub(handler, model)
    monkeypatch.setenv("CANVASCAP_MODELS_HUB", url)
    monkeypatch.delenv("CANVASCAP_MODELS_URL", raising=False)
    fetch_pair("en-es", tmp_path)
    assert installed_pairs(tmp_path) == ["en-es"]
    assert any(path.startswith("/api/models/") for path, _ in handler.seen)


def test_a_cut_download_is_resumed_where_it_stopped(server, model, tmp_path) -> None:
    url, handler = server
    as_mirror(handler, model)
    handler.cut.add("/en-es/model.bin")
    with pytest.raises(UserError, match="cannot fetch en-es"):
        fetch_pair("en-es", tmp_path, url=url)
    assert installed_pairs(tmp_path) == []  # nothing half-installed
    fetch_pair("en-es", tmp_path, url=url)
    ranges = [r for path, r in handler.seen if path == "/en-es/model.bin"]
    assert ranges[0] == "" and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
    assert installed_pairs(tmp_path) == ["en-es"]


def test_a_damaged_file_is_refused_and_nothing_is_installed(server, model, tmp_path) -> None:
    url, handler = server
    as_mirror(handler, model)
    handler.files["/en-es/model.bin"] = b"not the model" * 100
    with pytest.raises(UserError, match="model.bin of en-es does not match its checksum"):
        fetch_pair("en-es", tmp_path, url=url)
    assert installed_pairs(tmp_path) == []


def test_an_unknown_pair_and_no_network_are_one_line_errors(server, tmp_path) -> None:
    url, _ = server
    missing = canvascap("models", "fetch", "xx-yy", CANVASCAP_MODELS=str(tmp_path),
                        CANVASCAP_MODELS_URL=url)  # fmt: skip
    assert missing.returncode == 2 and "no model for xx-yy" in missing.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
    offline = canvascap("models", "fetch", "es", CANVASCAP_MODELS=str(tmp_path),
                        CANVASCAP_MODELS_URL=nowhere)  # fmt: skip
    assert offline.returncode == 2 and "Traceback" not in offline.stderr
    errors = [line for line in offline.stderr.splitlines() if "error" in line]
    assert (
        len(errors) == 1
        and "cannot fetch en-es" in errors[0]
        and "CANVASCAP_MODELS_URL" in errors[0]
    )


def test_models_fetch_list_remove_from_the_command_line(server, model, tmp_path) -> None:
    url, handler = server
    as_mirror(handler, model)
    env = {"CANVASCAP_MODELS": str(tmp_path), "CANVASCAP_MODELS_URL": url}
    fetched = canvascap("models", "fetch", "es", **env)
    assert fetched.returncode == 0, fetched.stderr
    assert "en-es: fetched and checked" in fetched.stderr and "model.bin" in fetched.stderr
    assert canvascap("models", "list", **env).stdout.split() == ["en-es"]
    assert canvascap("models", "remove", "en-es", **env).returncode == 0
    assert canvascap("models", "list", **env).stdout.split() == []
