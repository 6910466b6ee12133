"""The stored event of a plain new registration, encoded without building the aggregate.

The feed's bulk is new devices decided ``PAYMENT_PENDING``: one ``Registered`` event each. Building
a ``DeviceRegistration`` through the library and mapping its event costs more than deciding the
request and storing the row together. ``RegisteredEncoder`` writes the very bytes the library's
mapper writes for that event (tests/unit/test_registered_encoding.py compares them on generated
requests), and declines — returns ``None`` — whenever the mapper would do more than JSON: a
compressor or a cipher configured, or a transcoder that is not the plain JSON one.

A decision keeps only the event's varying fields (``RegisteredRow``); they are encoded where the
batch is stored: by the feed worker's writer process (workers/feed_writer.py), which has spare time
while the worker decides the next batch, or by ``stored_events`` in the deciding process.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
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

    def row(
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
    ) -> RegisteredRow | None:
        """The event's varying fields, to be encoded by ``encode_rows`` where it is stored (the feed's
        writer process), or None when the mapper would do more than JSON."""
        if not self.usable:
            return None
        return (originator_id.bytes, by.actor, str(by.channel), by.source, campaign_id, serial, device_type,
                customer_no, installed_on.isoformat(), outcome, amount_cents)


#: (originator id as 16 bytes, actor, channel, source, campaign id, serial, device type, customer number,
#: installation date as ISO text, outcome, amount in cents): a ``Registered`` event before its encoding.
RegisteredRow = tuple[bytes, str, str, str, str, str, str, str, str, str, int]

TOPIC = get_topic(DeviceRegistration.Registered)
_ORIGINATOR_TOPIC = get_topic(DeviceRegistration)


def encode_rows(rows: Sequence[RegisteredRow], at: datetime) -> list[tuple[bytes, bytes]]:
    """(originator id, state) of each row: the mapper's JSON of the event's state, written field by
    field in the mapper's order (the dictionary and the encoder's machinery cost more than the rest of
    the record's decision). The rows of a batch share one timestamp: its start is encoded once."""
    timestamp = {"_type_": "datetime_iso", "_data_": at.isoformat()}
    prefix = f'{{"timestamp":{_dumps(timestamp)},"originator_topic":{_q(_ORIGINATOR_TOPIC)},"actor":'
    join, q, number = "".join, _q, int.__repr__
    return [
        (oid, join((
            prefix, q(actor), ',"channel":', q(channel), ',"source":', q(source), ',"campaign_id":', q(campaign),
            ',"serial":', q(serial), ',"device_type":', q(device_type), ',"customer_no":', q(customer_no),
            ',"installed_on":{"_type_":"date_iso","_data_":', q(installed_on), '},"outcome":', q(outcome),
            ',"amount_cents":', number(amount), "}",
        )).encode("utf8"))
        for oid, actor, channel, source, campaign, serial, device_type, customer_no, installed_on, outcome, amount
        in rows
    ]


def stored_events(rows: Sequence[RegisteredRow], at: datetime) -> list[StoredEvent]:
    return [StoredEvent(originator_id=UUID(bytes=oid), originator_version=1, topic=TOPIC, state=state)
            for oid, state in encode_rows(rows, at)]
