"""Who or what caused an event: carried by every event."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Channel(StrEnum):
    FEED = "feed"
    MANUAL = "manual"
    EXCEL = "excel"
    STAFF = "staff"
    SYSTEM = "system"
    FINANCE = "finance"


class Provenance(NamedTuple):
    """An immutable value (a named tuple: the feed builds one per record)."""

    actor: str
    channel: Channel
    source: str

    def as_kwargs(self) -> dict[str, str]:
        return {"actor": self.actor, "channel": str(self.channel), "source": self.source}
