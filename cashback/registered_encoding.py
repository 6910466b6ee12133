"""The stored event of a plain new registration, encoded without building the aggregate.

The feed's bulk is new devices decided ``PAYMENT_PENDING``: one ``Registered`` event each. Building
a ``DeviceRegistration`` through the library and mapping its event costs more than deciding the
request and storing the row together. ``RegisteredEncoder`` writes the very bytes the library's
mapper writes for that event (tests/unit/test_registered_encoding.py compares them on generated
requests), and declines — returns ``None`` — whenever the mapper would do more than JSON: a
compressor or a cipher configured, or a transcoder that is not the plain JSON one.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from domain.provenance import Provenance
from domain.registration import DeviceRegistration

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class RegisteredEncoder:
    """Stored ``DeviceRegistration.Registered`` events, byte for byte as ``mapper.to_stored_event``."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self.usable = (
            mapper.compressor is None
            and mapper.cipher is None
            and type(mapper.transcoder) is JSONTranscoder
            and "date_iso" in mapper.transcoder.names
            and "datetime_iso" in mapper.transcoder.names
            and getattr(DeviceRegistration.Registered, "class_version", 1) == 1
        )
        self.topic = get_topic(DeviceRegistration.Registered)
        self.originator_topic = get_topic(DeviceRegistration)
        self._at: tuple[datetime, dict[str, str]] | None = None

    def encode(
        self,
        originator_id: UUID,
        *,
        campaign_id: str,
        serial: str,
        device_type: str,
        customer_no: str,
        installed_on: date,
        outcome: str,
        amount_cents: int,
        by: Provenance,
        at: datetime,
    ) -> StoredEvent | None:
        if not self.usable:
            return None
        state = {
            "timestamp": self._timestamp(at),
            "originator_topic": self.originator_topic,
            "actor": by.actor,
            "channel": str(by.channel),
            "source": by.source,
            "campaign_id": campaign_id,
            "serial": serial,
            "device_type": device_type,
            "customer_no": customer_no,
            "installed_on": {"_type_": "date_iso", "_data_": installed_on.isoformat()},
            "outcome": outcome,
            "amount_cents": amount_cents,
        }
        return StoredEvent(
            originator_id=originator_id,
            originator_version=1,
            topic=self.topic,
            state=_dumps(state).encode("utf8"),
        )

    def _timestamp(self, at: datetime) -> dict[str, str]:
        # A batch shares one timestamp: encode it once.
        if self._at is None or self._at[0] is not at:
            self._at = (at, {"_type_": "datetime_iso", "_data_": at.isoformat()})
        return self._at[1]
