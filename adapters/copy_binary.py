"""Stored events as rows of PostgreSQL's binary COPY format, built before the transaction.

The recorder takes the events table's lock to give a batch its notification ids; whatever it does
under that lock, every other writer waits for. So the rows are encoded first, without their ids,
and under the lock only the ids are spliced in: one ``bytes.join`` for the whole batch.

The columns are those of ``COPY … (originator_id, originator_version, topic, state, chain_hash,
notification_id) FROM STDIN (FORMAT BINARY)``, the id last so that each row is a ready-made prefix
plus twelve bytes. Format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import chain
from typing import Any
from uuid import UUID

COLUMNS = "originator_id, originator_version, topic, state, chain_hash, notification_id"

#: Signature, flags (no OIDs), header extension length (none).
HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(4) + bytes(4)
TRAILER = b"\xff\xff"

_FIELD_COUNT = struct.pack(">h", 6)
_LENGTH = struct.Struct(">i")
_INT8_FIELD = struct.Struct(">iq")  # length 8, then the int8


class RowEncoder:
    """Row prefixes (every column but the notification id) of stored events."""

    def __init__(self, uuid_ids: bool) -> None:
        self.uuid_ids = uuid_ids
        self._topics: dict[str, bytes] = {}

    def prefixes(self, events: Sequence[Any], chain_hashes: Sequence[bytes]) -> list[bytes]:
        """``events``: StoredEvents, or anything with their four attributes (workers/feed_writer.py)."""
        return [self.prefix(event, chain_hash) for event, chain_hash in zip(events, chain_hashes, strict=True)]

    def prefix(self, event: Any, chain_hash: bytes) -> bytes:
        ident = self._ident(event.originator_id)
        topic = self._topics.get(event.topic)
        if topic is None:
            raw = event.topic.encode("utf-8")
            topic = self._topics[event.topic] = _LENGTH.pack(len(raw)) + raw
        state = bytes(event.state)
        return b"".join((
            _FIELD_COUNT, _LENGTH.pack(len(ident)), ident, _INT8_FIELD.pack(8, event.originator_version), topic,
            _LENGTH.pack(len(state)), state, _LENGTH.pack(len(chain_hash)), chain_hash,
        ))

    def _ident(self, originator_id: UUID | str | bytes) -> bytes:
        if type(originator_id) is bytes:  # a UUID's 16 bytes (workers/feed_writer.py)
            return originator_id
        if self.uuid_ids:
            return originator_id.bytes if isinstance(originator_id, UUID) else UUID(str(originator_id)).bytes
        return str(originator_id).encode("utf-8")


def payload(prefixes: Sequence[bytes], first_notification_id: int) -> bytes:
    """The whole COPY stream: header, each row with its notification id (consecutive from the
    first), trailer."""
    pack = _INT8_FIELD.pack
    ids = range(first_notification_id, first_notification_id + len(prefixes))
    rows = chain.from_iterable((prefix, pack(8, i)) for prefix, i in zip(prefixes, ids, strict=True))
    return b"".join(chain((HEADER,), rows, (TRAILER,)))
