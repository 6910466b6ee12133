"""The projector worker on PostgreSQL: rows and tracking together, resumes after kill -9."""

from __future__ import annotations

import json
import signal

import pytest

from tests.integration.conftest import COMPANIES, World

pytestmark = pytest.mark.integration


def _ingest(world: World, start: int, n: int) -> None:
    path = world.tmp / f"feed-{start}.jsonl"
    path.write_text(
        "\n".join(json.dumps(world.record(world.serials[i], COMPANIES[i % 4])) for i in range(start, start + n))
    )
    world.cli("ingest", "feed", str(path))


def _rows(world: World) -> int:
    return world.sql("SELECT COUNT(*) FROM overview")[0][0] if world.sql("SELECT to_regclass('overview')")[0][0] else 0


def _position(world: World) -> int:
    rows = world.sql("SELECT position FROM projection_tracking WHERE name = 'overview'")
    return int(rows[0][0]) if rows else 0


def test_projector_follows_the_log_and_resumes_after_kill_9(world: World) -> None:
    projector = world.start_worker("worker", "projector", name="projector")
    _ingest(world, 0, 3000)
    world.wait_for(lambda: _rows(world) == 3000, what="the projector to follow new events")
    projector.send_signal(signal.SIGKILL)
    projector.wait(timeout=10)
    _ingest(world, 3000, 2000)  # written while no projector runs
    assert _rows(world) == 3000
    world.start_worker("worker", "projector", name="projector")
    world.wait_for(lambda: _rows(world) == 5000, what="the restarted projector to catch up")
    head = world.sql("SELECT MAX(notification_id) FROM cashback_events")[0][0]
    world.wait_for(lambda: _position(world) == head, what="the tracking position to reach the head")
    per_status = dict(world.sql("SELECT status, COUNT(*) FROM overview GROUP BY status"))
    assert per_status == {"PAYMENT_PENDING": 5000}
