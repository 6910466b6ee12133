"""The stored event of a plain new registration, encoded without building the aggregate.

The feed's bulk is new devices decided ``PAYMENT_PENDING``: one ``Registered`` event each. Building
a ``DeviceRegistration`` through the library and mapping its event costs more than deciding the
request and storing the row together. ``RegisteredEncoder`` writes the very bytes the library's
mapper writes for that event (tests/unit/test_registered_encoding.py compares them on generated
requests), and declines — returns ``None`` — whenever the mapper would do more than JSON: a
compressor or a cipher configured, or a transcoder that is not the plain JSON one.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]  # what JSONEncoder(ensure_ascii=False) uses
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from domain.provenance import Provenance
from domain.registration import DeviceRegistration

#: The event's fields, in the order the mapper writes them (``originator_id`` and the version are columns).
FIELDS = ("originator_id", "originator_version", "timestamp", "originator_topic", "actor", "channel", "source",
          "campaign_id", "serial", "device_type", "customer_no", "installed_on", "outcome", "amount_cents")

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_q = encode_basestring


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
            and tuple(f.name for f in dataclasses.fields(DeviceRegistration.Registered)) == FIELDS
        )
        self.topic = get_topic(DeviceRegistration.Registered)
        self.originator_topic = get_topic(DeviceRegistration)
        self._at: tuple[datetime, str] | None = None

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
        # The mapper's JSON of the event's state, written field by field in the mapper's order (the
        # dictionary and the encoder's machinery cost more than the rest of the record's decision).
        state = "".join((
            self._prefix(at), _q(by.actor), ',"channel":', _q(str(by.channel)), ',"source":', _q(by.source),
            ',"campaign_id":', _q(campaign_id), ',"serial":', _q(serial), ',"device_type":', _q(device_type),
            ',"customer_no":', _q(customer_no), ',"installed_on":{"_type_":"date_iso","_data_":',
            _q(installed_on.isoformat()), '},"outcome":', _q(outcome), ',"amount_cents":', int.__repr__(amount_cents),
            "}",
        ))
        return StoredEvent(
            originator_id=originator_id,
            originator_version=1,
            topic=self.topic,
            state=state.encode("utf8"),
        )

    def _prefix(self, at: datetime) -> str:
        # A batch shares one timestamp: encode the start of the state once.
        if self._at is None or self._at[0] is not at:
            timestamp = {"_type_": "datetime_iso", "_data_": at.isoformat()}
            topic = _q(self.originator_topic)
            self._at = (at, f'{{"timestamp":{_dumps(timestamp)},"originator_topic":{topic},"actor":')
        return self._at[1]
