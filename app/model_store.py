"""The CPU translation models on this machine: list, fetch and remove language pairs.

A pair's model is the folder ``<models>/<src>-<tgt>/`` (``engines.marian``). Fetching
gets its files from one of two kinds of source:

* by default the model hub, where OPUS-MT models converted for CTranslate2 are published
  (``opus-mt-<src>-<tgt>-ctranslate2``); the hub's file list gives each file's checksum
  (SHA-256 for large files, the git blob hash for small ones);
* ``$CANVASCAP_MODELS_URL``, a mirror an organisation hosts: any static HTTP server
  with ``<url>/<pair>/SHA256SUMS`` (``sha256sum`` output) beside the pair's files.

Every file is checked against its checksum before the pair is installed; a download cut
short is resumed from where it stopped (HTTP ``Range``); the pair appears only once all
of its files are in and checked.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from canvascap.pipeline.errors import UserError
from canvascap.stages.translation.engines.marian import MODEL_FILES, default_models_dir

__all__ = ["HUB", "FileSpec", "fetch_pair", "installed_pairs", "remove_pair", "source_for"]

HUB = "https://huggingface.co"
HUB_REPO = "gaudi/opus-mt-{pair}-ctranslate2"
"""Where the hub keeps each pair's converted model."""
WANTED = (*MODEL_FILES, "config.json", "shared_vocabulary.json")
"""The files a pair's folder gets (those the hub has)."""
CHUNK = 1 << 16
Progress = Callable[[str, int, int], None]
"""Called with (file, bytes so far, bytes in all) as a download goes."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a pair: where it is, how long, and its checksum."""

    name: str
    url: str
    size: int | None
    algorithm: str
    """``sha256``, or ``git-sha1`` (a git blob's hash, as the hub gives small files)."""
    digest: str


class _Hub:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def files(self, client: httpx.Client, pair: str) -> list[FileSpec]:
        repo = HUB_REPO.format(pair=pair)
        listing = _get(client, f"{self.base}/api/models/{repo}/tree/main", pair).json()
        found = []
        for entry in listing:
            name = entry.get("path", "")
            if name not in WANTED:
                continue
            lfs = entry.get("lfs")
            url = f"{self.base}/{repo}/resolve/main/{name}"
            if lfs:
                found.append(FileSpec(name, url, int(lfs["size"]), "sha256", lfs["oid"]))
            else:
                found.append(FileSpec(name, url, int(entry["size"]), "git-sha1", entry["oid"]))
        return found


class _Mirror:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def files(self, client: httpx.Client, pair: str) -> list[FileSpec]:
        sums = _get(client, f"{self.base}/{pair}/SHA256SUMS", pair).text
        found = []
        for line in sums.splitlines():
            digest, _, name = line.strip().partition("  ")
            name = name.lstrip("*")
            if name in WANTED:
                found.append(FileSpec(name, f"{self.base}/{pair}/{name}", None, "sha256", digest))
        return found


def source_for(url: str | None = None) -> _Hub | _Mirror:
    """The mirror ``$CANVASCAP_MODELS_URL`` names, else the hub."""
    mirror = url or os.environ.get("CANVASCAP_MODELS_URL")
    return _Mirror(mirror) if mirror else _Hub(os.environ.get("CANVASCAP_MODELS_HUB", HUB))


def installed_pairs(folder: Path | None = None) -> list[str]:
    """The pairs whose models are complete in ``folder``."""
    folder = folder or default_models_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if all((p / f).is_file() for f in MODEL_FILES))


def remove_pair(pair: str, folder: Path | None = None) -> bool:
    """Delete a pair's model; whether there was one."""
    target = (folder or default_models_dir()) / pair
    if not target.is_dir():
        return False
    shutil.rmtree(target)
    return True


def fetch_pair(
    pair: str,
    folder: Path | None = None,
    progress: Progress | None = None,
    url: str | None = None,
) -> Path:
    """Download a pair's model into ``folder`` (resuming what an earlier try left),
    check every file, then install it. Raises ``UserError`` saying what failed."""
    folder = folder or default_models_dir()
    target = folder / pair
    partial = folder / f".{pair}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    source = source_for(url)
    try:
        with httpx.Client(follow_redirects=True, timeout=30) as client:
            specs = source.files(client, pair)
            missing = [f for f in MODEL_FILES if f not in {s.name for s in specs}]
            if missing:
                raise UserError(f"the model source has no {', '.join(missing)} for {pair}")
            for spec in specs:
                _download(client, spec, partial / spec.name, pair, progress)
    except httpx.HTTPError as error:
        where = getattr(error.request, "url", "the model source") if _has_request(error) else ""
        raise UserError(
            f"cannot fetch {pair} ({type(error).__name__} at {where}): check the connection, "
            f"or set CANVASCAP_MODELS_URL to a mirror, or copy the model to {target}"
        ) from None
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    return target


def _download(
    client: httpx.Client, spec: FileSpec, path: Path, pair: str, progress: Progress | None
) -> None:
    """One file, resumed if part of it is there, then checked."""
    if path.exists() and _matches(path, spec):
        return
    have = path.stat().st_size if path.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", spec.url, headers=headers) as response:
        if response.status_code == 416:  # what is there is longer than the file: start over
            path.unlink()
            return _download(client, spec, path, pair, progress)
        if response.status_code == 404:
            raise UserError(f"no model for {pair} at {spec.url}: check the pair's name")
        response.raise_for_status()
        resumed = response.status_code == 206
        total = spec.size or (have if resumed else 0) + int(
            response.headers.get("content-length", 0)
        )
        with path.open("ab" if resumed else "wb") as out:
            done = have if resumed else 0
            for chunk in response.iter_bytes():  # as it arrives: a cut keeps what came
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(spec.name, done, total)
    if not _matches(path, spec):
        path.unlink()
        raise UserError(
            f"{spec.name} of {pair} does not match its checksum ({spec.algorithm}): it was "
            "deleted; fetch again, or check the mirror"
        )


def _matches(path: Path, spec: FileSpec) -> bool:
    if spec.size is not None and path.stat().st_size != spec.size:
        return False
    if spec.algorithm == "git-sha1":
        digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    else:
        digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest() == spec.digest.lower()


def _get(client: httpx.Client, url: str, pair: str) -> httpx.Response:
    response = client.get(url)
    if response.status_code == 404:
        raise UserError(f"no model for {pair} at {url}: check the pair's name (e.g. en-es)")
    response.raise_for_status()
    return response


def _has_request(error: httpx.HTTPError) -> bool:
    try:
        error.request  # noqa: B018 - raises when the error carries none
    except RuntimeError:
        return False
    return True
