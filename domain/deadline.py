"""Document deadline arithmetic in the campaign's local calendar."""

from __future__ import annotations

from datetime import date, timedelta


def document_deadline(requested_on: date, window_days: int) -> date:
    """Last day (inclusive) on which documents are accepted.

    Requested on day D with a 14-day window: documents are accepted up to
    and including D + 14, in the campaign's local calendar (dates, not
    instants, so a daylight-saving change inside the window changes nothing).
    """
    return requested_on + timedelta(days=window_days)


def is_past_deadline(deadline: date, today: date) -> bool:
    return today > deadline
