"""Options of ``sink.overlay``, the overlay server (``web.server``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["OverlayOptions"]


class OverlayOptions(BaseModel):
    """Options of ``sink.overlay``."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    """Address to listen on; anything but loopback requires a token."""
    port: int = Field(8765, ge=0, le=65535)
    """TCP port; 0 picks a free one."""
    token: str | None = None
    """Access token; generated when the host is not loopback and none is given. An empty
    token is refused: it would leave a server open to the network unprotected."""
    viewer_token: str | None = None
    """Read-only token for the audience page (``/watch``) and the feed: it opens neither
    the control page nor the health endpoint. Generated like ``token``."""
    origins: list[str] | None = None
    """Extra web origins allowed to open the feed (``["*"]`` for any)."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names, besides loopback ones and ``host``, that browsers may use to reach the
    server (e.g. ``studio.lan``). Any other ``Host`` header is refused, so a web page
    cannot reach the server through a rebound DNS name."""
    max_connections: int = Field(0, ge=0)
    """Feed connections (overlays, control pages, tools) served at once; more are
    answered 503. 0: as many as the process's file-descriptor limit safely allows (at
    most 1000)."""
    history: int = Field(20, ge=1)
    """Finals kept for the snapshot sent to new clients."""
    client_queue: int = Field(32, ge=2)
    """Revisions queued per client before it counts as stalled."""
    max_message_bytes: int = Field(4096, ge=64)
    """Largest message a client may send: small control messages, and 40 ms blocks of
    browser audio (1,288 bytes)."""
    tls_cert: str | None = None
    """PEM certificate (``--tls-cert``): serve HTTPS and WSS. Browsers let a page use
    the microphone only over HTTPS unless it comes from this computer."""
    tls_key: str | None = None
    """The certificate's PEM private key (``--tls-key``)."""

    @field_validator("token", "viewer_token")
    @classmethod
    def _token_not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError(
                "an empty token would leave the server unprotected: remove the key to have "
                "one generated, or give a token"
            )
        return value

    @model_validator(mode="after")
    def _cert_with_key(self) -> OverlayOptions:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("HTTPS needs both --tls-cert and --tls-key")
        return self
