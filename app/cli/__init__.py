"""The ``canvascap`` command: live captions, whole-file transcripts, devices, benchmarks.

The application layer: it turns flags into preset overrides, wires stages and the web
server into a session, and prints what the session reports. Nothing below it imports it.
"""

from __future__ import annotations

import logging

from canvascap.cli import commands
from canvascap.cli.parser import build_parser
from canvascap.cli.session import say
from canvascap.cli.translate import bench_translate, llm_check
from canvascap.pipeline.errors import StageFailed, UserError

__all__ = ["build_parser", "main"]

log = logging.getLogger("canvascap")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``canvascap`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="canvascap: %(levelname)s %(name)s: %(message)s",
    )
    # The HTTP client logs every request's full URL, and caption URLs carry credentials.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        if args.command == "devices":
            return commands.devices()
        if args.command == "transcribe":
            return commands.transcribe(args)
        if args.command == "transcript":
            return commands.convert_transcript(args)
        if args.command == "llm":
            return llm_check(args)
        if args.command == "models":
            return commands.models(args)
        if args.command == "bench":
            if args.bench_command == "speakers":
                return commands.bench_speakers(args)
            if args.bench_command == "mic":
                return commands.bench_mic(args)
            return bench_translate(args) if args.bench_command else commands.bench(args)
        return commands.run(args)
    except UserError as error:
        say(f"error: {error}")
        return 2
    except StageFailed as error:
        log.debug("stage failure", exc_info=error.error)
        say(str(error))
        return 1
    except KeyboardInterrupt:  # Ctrl-C before a session's own handlers are in place
        say("interrupted")
        return 130
