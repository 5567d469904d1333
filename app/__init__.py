"""canvascap: real-time speech captions and translation.

Everything installs under this one namespace, in layers that point one way:

* ``canvascap.pipeline``: the core runtime (messages, channels, the stage contract,
  config, registry, runner, metrics). It imports nothing above it.
* ``canvascap.captions``: what the stages and the web server share about captions
  (subtitle cues, file formats, masking, audio helpers, network audio, speaker
  names). It imports only the core.
* ``canvascap.stages`` and ``canvascap.web``: the stages, and the overlay server (a
  sink). They import the core and ``canvascap.captions``.
* ``canvascap.cli``, ``canvascap.bench`` and the modules here: the application, which
  wires presets, stages and the web server into sessions.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("canvascap")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
