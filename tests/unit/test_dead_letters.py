"""Dead letters on their topic: what the topic refuses does not stop the feed, anything else does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from kafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from kafka.future import Future

from adapters.side_rows import DeadLetterRow
from workers.dead_letters import MAX_PUBLISHED_BYTES, send_dead_letters


class Producer:
    """Records what is sent; fails the sends the test asks it to, as kafka-python would."""

    def __init__(self, fail_with: Exception | None = None, refuse_at_send: bool = False) -> None:
        self.sent: list[tuple[str, bytes, dict[str, bytes]]] = []
        self.fail_with, self.refuse_at_send = fail_with, refuse_at_send

    def send(self, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> Future:
        if self.refuse_at_send and len(value) > 100:
            raise MessageSizeTooLargeError("larger than max_request_size")
        self.sent.append((topic, value, dict(headers)))
        future: Future = Future()
        if self.fail_with is not None and len(value) > 100:
            future.failure(self.fail_with)
        else:
            future.success(None)
        return future

    def flush(self, timeout: Any = None) -> None:
        pass


def _row(position: str, payload: bytes) -> DeadLetterRow:
    return DeadLetterRow("kafka:t", position, "bad JSON", payload, datetime(2026, 5, 1, tzinfo=UTC))


def test_each_dead_letter_is_sent_with_its_reason_and_position() -> None:
    producer = Producer()
    send_dead_letters(producer, "t.dlq", "t", [_row("2/41", b"{")])
    assert producer.sent == [("t.dlq", b"{", {"reason": b"bad JSON", "source_topic": b"t",
                                               "source_partition": b"2", "source_offset": b"41"})]


def test_an_oversize_record_is_published_cut_with_its_length() -> None:
    producer = Producer()
    send_dead_letters(producer, "t.dlq", "t", [_row("0/1", b"x" * (MAX_PUBLISHED_BYTES + 10))])
    ((_, value, headers),) = producer.sent
    assert len(value) == MAX_PUBLISHED_BYTES and headers["payload_bytes"] == str(MAX_PUBLISHED_BYTES + 10).encode()


@pytest.mark.parametrize("refuse_at_send", [True, False])
def test_a_message_the_topic_refuses_for_its_size_is_left_out_not_fatal(refuse_at_send: bool) -> None:
    producer = Producer(fail_with=MessageSizeTooLargeError("topic max.message.bytes"), refuse_at_send=refuse_at_send)
    send_dead_letters(producer, "t.dlq", "t", [_row("0/1", b"y" * 500), _row("0/2", b"{")])
    assert [headers["source_offset"] for _, _, headers in producer.sent][-1] == b"2"


def test_any_other_failure_stops_the_batch() -> None:
    producer = Producer(fail_with=KafkaConnectionError("broker gone"))
    with pytest.raises(KafkaConnectionError):
        send_dead_letters(producer, "t.dlq", "t", [_row("0/1", b"y" * 500)])
