"""Per-aggregate hash chain over the stored events (tamper evidence).

Every stored event carries ``chain_hash``:

    chain_hash(e_n) = HMAC-SHA256(key, "CBCHAIN1" || u32 len(id) || id || u64 version
                                       || u32 len(topic) || topic || u64 len(state) || state
                                       || chain_hash(e_{n-1}))

``id`` is the originator id as text (``str(UUID)``: lowercase, with hyphens), ``topic`` UTF-8,
``state`` the stored bytes exactly as in the table, integers big-endian. For version 1 the previous
hash is ``GENESIS`` (32 zero bytes). When a recorder is asked to store version n > 1 and version
n - 1 is not stored (or was stored before chaining existed and has no hash), the previous hash is
``MISSING`` (32 0xFF bytes): the verifier reports that gap anyway.

The key comes from the setting ``CASHBACK_AUDIT_KEY``; without it a forger cannot compute a hash
that verifies. The development default is public: production must set its own key.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

FORMAT = b"CBCHAIN1"
GENESIS = bytes(32)
MISSING = b"\xff" * 32
DEVELOPMENT_KEY = "cashback-development-audit-key-NOT-FOR-PRODUCTION"
KEY_VARIABLE = "CASHBACK_AUDIT_KEY"

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def development_key() -> bytes:
    """The public key recorders use until the composition root gives them the configured one
    (``CASHBACK_AUDIT_KEY`` through the settings; see cashback/bootstrap.py)."""
    return DEVELOPMENT_KEY.encode("utf-8")


def is_development_key(key: bytes) -> bool:
    return key == DEVELOPMENT_KEY.encode("utf-8")


def originator_text(originator_id: UUID | str | bytes) -> str:
    """The id as hashed: ``str(UUID)`` (lowercase, with hyphens) for UUIDs — also given as their 16
    bytes —, else the text itself."""
    if type(originator_id) is bytes:
        return uuid_text_from_hex(originator_id.hex())
    return str(originator_id)


def uuid_text_from_hex(value: str) -> str:
    """SQLite stores UUIDs as 32 hex digits: their ``str(UUID)`` form, without building a UUID."""
    v = value.lower()
    return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"


def message(originator_id: UUID | str, version: int, topic: str, state: bytes, previous: bytes) -> bytes:
    return Sealer.ident_part(originator_text(originator_id)) + Sealer.rest(
        version, Sealer.topic_part(topic), bytes(state), bytes(previous)
    )


def seal(key: bytes, originator_id: UUID | str, version: int, topic: str, state: bytes, previous: bytes) -> bytes:
    return hmac.digest(key, message(originator_id, version, topic, state, previous), hashlib.sha256)


class Sealer:
    """``seal`` for many events: the key scheduled once (an HMAC copied per event costs half of
    ``hmac.digest``, which keys it again each time), the topic part once per topic."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        self._topics: dict[str, bytes] = {}

    @staticmethod
    def ident_part(ident: str) -> bytes:
        raw = ident.encode("utf-8")
        return FORMAT + _U32.pack(len(raw)) + raw

    @staticmethod
    def topic_part(topic: str) -> bytes:
        raw = topic.encode("utf-8")
        return _U32.pack(len(raw)) + raw

    @staticmethod
    def rest(version: int, topic_part: bytes, state: bytes, previous: bytes) -> bytes:
        return b"".join((_U64.pack(version), topic_part, _U64.pack(len(state)), state, previous))

    def seal(self, ident_part: bytes, version: int, topic: str, state: bytes, previous: bytes) -> bytes:
        topic_part = self._topics.get(topic)
        if topic_part is None:
            topic_part = self._topics[topic] = self.topic_part(topic)
        mac = self._keyed.copy()
        mac.update(b"".join((ident_part, _U64.pack(version), topic_part, _U64.pack(len(state)), state, previous)))
        return mac.digest()


def previous_needed(stored_events: Sequence[StoredEvent]) -> list[tuple[Any, int]]:
    """(originator id, version) of the previous events that are not in the batch itself.

    Version-1 events never need one, so a batch of new aggregates needs no query at all."""
    in_batch = {(e.originator_id, e.originator_version) for e in stored_events}
    needed = []
    for e in stored_events:
        if e.originator_version > 1 and (e.originator_id, e.originator_version - 1) not in in_batch:
            needed.append((e.originator_id, e.originator_version - 1))
    return needed


def chain_batch(
    key: bytes, stored_events: Sequence[StoredEvent], stored_previous: Mapping[tuple[Any, int], bytes | None]
) -> list[bytes]:
    """The chain hash of each event of a batch, in order.

    ``stored_previous`` maps (originator id, version) to the stored hash of the previous events that
    are already in the table (what ``previous_needed`` asked for)."""
    sealer = Sealer(key)
    hashes: list[bytes] = []
    latest: dict[tuple[Any, int], bytes] = {}
    # Only a later event of the same aggregate reads ``latest``: a batch of new aggregates keeps none.
    keep = any(e.originator_version > 1 for e in stored_events)
    for e in stored_events:
        if e.originator_version <= 1:
            previous = GENESIS
        else:
            wanted = (e.originator_id, e.originator_version - 1)
            previous = latest.get(wanted) or stored_previous.get(wanted) or MISSING
        digest = sealer.seal(
            Sealer.ident_part(originator_text(e.originator_id)), e.originator_version, e.topic, e.state, previous
        )
        if keep:
            latest[(e.originator_id, e.originator_version)] = digest
        hashes.append(digest)
    return hashes


def heads_digest(heads: Iterable[tuple[str, int, bytes]]) -> str:
    """One sha256 over (id, version, hash) of every chain head, in the given (sorted) order."""
    digest = hashlib.sha256()
    for ident, version, chain_hash in heads:
        digest.update(f"{ident}\x1f{version}\x1f{bytes(chain_hash).hex()}\n".encode())
    return digest.hexdigest()
