"""Session services: the objects that stages and the web server of one session share.

A feature that two parts of a session use together (network audio that the web server
receives and a source stage turns into frames, the names given to speaker labels on the
control page, what is masked before people see captions) is one object, built by the
application and handed to every stage in ``Context.services``. Each is found by its
type, so a stage asks for exactly what it uses and the core knows none of them.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Services"]

T = TypeVar("T")


class Services:
    """The services of one session, one object per type."""

    def __init__(self, *services: object) -> None:
        self._by_type: dict[type, object] = {}
        for service in services:
            self.add(service)

    def add(self, service: T) -> T:
        """Offer ``service`` to the session under its own type (replacing one held)."""
        self._by_type[type(service)] = service
        return service

    def get(self, kind: type[T]) -> T | None:
        """The session's ``kind`` service, or ``None`` when the application built none."""
        found = self._by_type.get(kind)
        return found if isinstance(found, kind) else None

    def __contains__(self, kind: type) -> bool:
        return kind in self._by_type
