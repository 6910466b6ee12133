"""Property: the read models kept current step by step equal the ones rebuilt from zero.

The application machine of test_properties.py (feed batches, replays, documents, payment runs,
finance results in random order) runs with a projector that catches up after every step, as the
projector worker does; after every step a rebuild from zero into shadow tables must give the same
rows (`cashback projections check`)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import invariant

from projections.rebuild import check
from tests.unit.test_properties import AppMachine


class LiveProjectionMachine(AppMachine):
    """AppMachine keeps a projector beside the application (``self.projector`` on ``self.read_db``)."""

    @invariant()
    def the_live_projection_equals_a_rebuild_from_zero(self) -> None:
        self.projector.catch_up()
        report = check(self.app, self.read_db)
        assert report.ok, report.differences[:5]


TestLiveProjectionMachine = LiveProjectionMachine.TestCase
TestLiveProjectionMachine.settings = settings(max_examples=40, stateful_step_count=15, deadline=None, database=None)
