"""Names given to speaker labels while a session runs (the control page's rename row).

The web server takes renames from an admin's control page; the recogniser's speaker
labeler reads the names each time it labels a caption. Both hold this one object.
"""

from __future__ import annotations

import re

__all__ = ["MAX_NAME_CHARS", "SpeakerNames"]

_LABEL = re.compile(r"S[1-9][0-9]{0,2}")
MAX_NAME_CHARS = 40
"""Longer names are cut: a caption line has little room for them."""


class SpeakerNames:
    """Label (``S2``) to the name people see (``Ana``), over the configuration's names."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        """Read live by the labeler: a rename applies to captions labelled after it."""

    def rename(self, label: str, name: str) -> bool:
        """Show ``label`` as ``name`` from now on (an empty name gives the label back);
        whether ``label`` is a speaker label at all."""
        if not _LABEL.fullmatch(label):
            return False
        name = name.strip()
        if name:
            self.names[label] = name[:MAX_NAME_CHARS]
        else:
            self.names.pop(label, None)
        return True
