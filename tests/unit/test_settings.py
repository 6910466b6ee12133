"""Settings read once at the entry point."""

from __future__ import annotations

from cashback.settings import Settings


def test_dead_letters_follow_the_feed_topic_unless_named() -> None:
    assert Settings().feed_dead_letter_topic == "portal.device-registrations.v1.dlq"
    assert Settings(feed_topic="staging.registrations").feed_dead_letter_topic == "staging.registrations.dlq"
    assert Settings(feed_topic="a", feed_dead_letter_topic="b.errors").feed_dead_letter_topic == "b.errors"
