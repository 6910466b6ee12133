"""Events of one aggregate never go back in time: a backdated command is refused.

Without it, a wrong clock (or a backdated ``--now``) would write history that says a device
was approved before it existed, and "state as of" replays would lie.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.errors import TimeMovesBackwards


class ForwardInTime:
    modified_on: datetime

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        at = kwargs.get("timestamp")
        if at is not None and at < self.modified_on:
            raise TimeMovesBackwards(
                f"{type(self).__name__} {getattr(self, 'serial', getattr(self, 'id', ''))}: cannot record "
                f"{event_class.__name__} at {at.isoformat()}, before its last change at {self.modified_on.isoformat()}"
            )
        super().trigger_event(event_class, **kwargs)  # type: ignore[misc]
