"""Who or what caused an event: carried by every event."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    FEED = "feed"
    MANUAL = "manual"
    EXCEL = "excel"
    STAFF = "staff"
    SYSTEM = "system"
    FINANCE = "finance"


@dataclass(frozen=True, slots=True)
class Provenance:
    actor: str
    channel: Channel
    source: str

    def as_kwargs(self) -> dict[str, str]:
        return {"actor": self.actor, "channel": str(self.channel), "source": self.source}
