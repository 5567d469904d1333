"""``sink.obs``: closed captions in an OBS stream (CEA-608), through obs-websocket.

OBS Studio (28 and later) has a WebSocket server (*Tools* → *WebSocket Server
Settings*); its ``SendStreamCaption`` request puts text into the stream being sent as
CEA-608 captions, which viewers of YouTube, Twitch and others switch on and off. This
sink connects with the simpleobsws client (obs-websocket v5, password authentication),
lays finals out as 32-character rows rolling up 2 or 3 at a time, and sends a row at
a time, paced so it can be read (``max_cps``, faster than for files since it follows
the speaker). A row OBS refuses (it takes captions only while it streams) or does not
answer is sent again with back-off; when speech outruns reading, or OBS refuses for
long, the oldest waiting rows are dropped (counted) rather than falling behind. When
OBS quits or restarts, the sink reconnects with back-off. The password comes from the
config or an environment variable and is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from canvascap.captions.profanity import for_display
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.tasks import cancel_and_wait
from canvascap.pipeline.types import Caption
from canvascap.stages.sinks.cea608 import RollUp, reading_s, rows
from canvascap.stages.sinks.delivery import platform_line, untranslated

__all__ = ["ObsCaptions", "ObsOptions"]

log = logging.getLogger(__name__)


class ObsOptions(BaseModel):
    """Options of ``sink.obs``."""

    model_config = ConfigDict(extra="forbid")

    url: str = "ws://127.0.0.1:4455"
    """OBS's WebSocket server (``--obs``)."""
    password: SecretStr | None = None
    """Its password, or leave unset and use ``password_env``."""
    password_env: str = "CANVASCAP_OBS_PASSWORD"
    lang: str | None = None
    """Which line to send: unset for the spoken one, or a translation target."""
    rows: int = Field(2, ge=2, le=3)
    """Rows on screen at once (roll-up)."""
    max_cps: float = Field(25.0, gt=0)
    """Reading speed a row is paced for."""
    max_behind_s: float = Field(6.0, gt=0)
    """Reading time waiting to be sent beyond which the oldest rows are dropped."""
    max_backoff_s: float = Field(8.0, gt=0)


class ObsCaptions:
    """Sends final captions to OBS as CEA-608 roll-up rows."""

    Options: ClassVar[type[BaseModel]] = ObsOptions
    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None

    def __init__(self, options: ObsOptions, ctx: Context) -> None:
        self.name = "obs"
        self.options = options
        self.ctx = ctx
        self._shown_to_people = for_display(ctx)
        if not options.url.startswith(("ws://", "wss://")):
            raise UserError(
                f"--obs needs a ws:// address such as ws://127.0.0.1:4455, not {options.url}"
            )
        secret = options.password.get_secret_value() if options.password else None
        self._password = secret if secret is not None else os.environ.get(options.password_env, "")
        self._rows: deque[str] = deque()
        self._wake = asyncio.Event()
        self._ending = False
        self._display = RollUp(options.rows)
        self._client: Any = None

    async def prepare(self) -> None:
        """Check the client library is there; OBS itself may start later."""
        try:
            import simpleobsws  # noqa: F401 - only to fail before audio flows
        except ImportError:
            raise UserError("OBS captions need simpleobsws: pip install simpleobsws") from None
        # The client logs its handshake, which carries an answer derived from the password.
        logging.getLogger("simpleobsws").setLevel(logging.WARNING)

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Queue each wanted final as rows; a task of its own sends them."""
        sending = asyncio.create_task(self._send_rows())
        try:
            async for caption in inbox:
                if untranslated(caption, self.options.lang):
                    self.ctx.metrics.count("obs.untranslated")
                if not platform_line(caption, self.options.lang):
                    continue
                self._rows.extend(rows(self._shown_to_people(caption).text))
                self._keep_up()
                self._wake.set()
            self._ending = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(sending), self.options.max_behind_s)
        finally:
            await cancel_and_wait(sending)

    async def aclose(self) -> None:
        """Close the connection to OBS."""
        await self._disconnect()

    def _keep_up(self) -> None:
        """Drop the oldest rows while more than ``max_behind_s`` of reading waits."""
        cps = self.options.max_cps
        while sum(reading_s(r, cps) for r in self._rows) > self.options.max_behind_s:
            self._rows.popleft()
            self.ctx.metrics.count("obs.rows_dropped")

    async def _send_rows(self) -> None:
        delay_s = 0.5
        while True:
            if not self._rows:
                if self._ending:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if not await self._connected():
                continue
            row = self._rows[0]
            if await self._send(self._display.with_row(row)):
                self._rows.popleft()
                self._display.push(row)
                delay_s = 0.5
                await asyncio.sleep(reading_s(row, self.options.max_cps))
            else:
                await asyncio.sleep(delay_s)
                delay_s = min(self.options.max_backoff_s, delay_s * 2)
                self._keep_up()

    async def _send(self, text: str) -> bool:
        """Send one display to OBS; whether OBS took it."""
        import simpleobsws

        try:
            answer = await self._client.call(
                simpleobsws.Request("SendStreamCaption", {"captionText": text}), timeout=5
            )
        except (simpleobsws.MessageTimeout, simpleobsws.NotIdentifiedError, OSError) as error:
            self._report(f"no answer from OBS ({type(error).__name__})")
            await self._disconnect()
            return False
        if not answer.ok():
            # OBS refuses stream captions while it is not streaming.
            status = answer.requestStatus
            comment = status.comment or "is it streaming?"
            self._report(f"OBS refused the caption ({status.code}: {comment})")
            return False
        self.ctx.metrics.count("obs.sent")
        if self.ctx.metrics.recover(self.name):
            log.warning("OBS takes captions again")
        return True

    async def _connected(self) -> bool:
        """Connect (again) when needed, backing off while OBS is not there."""
        import simpleobsws

        if self._client is not None and self._client.identified:
            return True
        await self._disconnect()
        delay_s = 0.5
        while not self._ending or self._rows:
            client = simpleobsws.WebSocketClient(url=self.options.url, password=self._password)
            try:
                await client.connect()
                if await client.wait_until_identified(timeout=5):
                    self._client = client
                    return True
                problem = "OBS did not accept the password (--obs-password)"
                await client.disconnect()
            except (OSError, TimeoutError) as error:
                problem = f"cannot connect to OBS at {self.options.url} ({type(error).__name__})"
            self._report(problem)
            if self._ending:
                return False
            await asyncio.sleep(delay_s)
            delay_s = min(self.options.max_backoff_s, delay_s * 2)
        return False

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()

    def _report(self, problem: str) -> None:
        self.ctx.metrics.count("obs.failures")
        if self.ctx.metrics.degrade(self.name, problem):
            log.warning("%s; captions go on elsewhere, retrying", problem)
