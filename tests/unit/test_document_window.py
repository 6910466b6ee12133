"""The document window: request day (Europe/Paris) + 14 days, the last day included, DST-proof."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.documents import DocumentStore
from cashback.app import CashbackApp, Intake
from cashback.clock import FixedClock, local_date
from cashback.documents import UploadNotAllowed, upload_document, window_closes_at
from domain.deadline import document_deadline
from domain.decision import Decision, RegistrationRequest
from domain.errors import TransitionNotAllowed
from domain.provenance import Channel, Provenance
from domain.registration import DeviceRegistration
from domain.statuses import Reason, Status
from domain.terms import DocumentKind
from tests.unit.conftest import ENROLLED, FEED, SB3, SOLD_ABROAD, build_app, make_terms

PARIS = ZoneInfo("Europe/Paris")
WINDOW = 14
PDF = b"%PDF-1.4\n%%EOF\n"
SYSTEM = Provenance("deadlines-worker", Channel.SYSTEM, "test")
#: Terms open from 2026 to 2030, so that any request date in those years is a valid registration.
WIDE_TERMS = make_terms(installation_from=date(2026, 1, 1), installation_to=date(2030, 12, 31),
                        registration_deadline=date(2031, 12, 31))
DATES = st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31))
#: Instants from the day after the test company's enrolment to the end of 2030.
INSTANTS = st.datetimes(min_value=datetime(2026, 1, 6), max_value=datetime(2030, 12, 31, 23, 59),
                        timezones=st.just(UTC))


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def span(start: datetime, end: datetime) -> int:
    """Elapsed seconds (aware datetimes of one zone subtract as wall clocks, so go through UTC)."""
    return int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds())


def requested_at(moment: datetime) -> CashbackApp:
    """An app whose clock is at ``moment``, where the device sold abroad has just been asked for an invoice."""
    app = build_app(moment, WIDE_TERMS)
    request = RegistrationRequest(serial=SOLD_ABROAD, device_type=SB3, installed_on=date(2026, 1, 2),
                                  customer_no=ENROLLED)
    (outcome,) = app.register_batch([Intake(request=request, by=FEED)]).outcomes
    assert outcome.status == Status.DOCS_REQUIRED
    return app


def at(app: CashbackApp, moment: datetime) -> CashbackApp:
    assert isinstance(app.clock, FixedClock)
    app.clock.at = moment
    return app


def deadline_of(app: CashbackApp) -> date:
    registration = app.get_registration(SOLD_ABROAD)
    assert registration is not None and registration.deadline is not None
    return registration.deadline


def aggregate(deadline: date) -> DeviceRegistration:
    return DeviceRegistration.register(
        campaign_id="fr-2026", serial=SOLD_ABROAD, device_type=SB3, customer_no=ENROLLED,
        installed_on=date(2026, 1, 2),
        decision=Decision(status=Status.DOCS_REQUIRED, amount_cents=5000, doc_reasons=("SOLD_IN_OTHER_COUNTRY",),
                          documents=(DocumentKind.INVOICE,)),
        deadline=deadline, by=FEED, at=datetime(2026, 1, 1, tzinfo=UTC),
    )


# --- properties ----------------------------------------------------------------------------------


@given(requested=DATES)
@example(date(2026, 3, 29)).via("DST starts in Paris")
@example(date(2026, 10, 25)).via("DST ends in Paris")
@example(date(2028, 2, 29)).via("leap day")
def test_the_deadline_is_always_the_request_day_plus_the_window(requested: date) -> None:
    deadline = document_deadline(requested, WINDOW)
    assert (deadline - requested).days == WINDOW


@given(requested=DATES, offset=st.integers(min_value=-3, max_value=WINDOW + 5))
def test_a_day_is_accepted_if_and_only_if_it_is_not_after_the_deadline(requested: date, offset: int) -> None:
    deadline = document_deadline(requested, WINDOW)
    day = requested + timedelta(days=offset)
    registration = aggregate(deadline)
    try:
        registration.upload_document(DocumentKind.INVOICE, "a" * 64, 10, today=day, by=FEED,
                                     at=datetime(2026, 1, 1, tzinfo=UTC))
        accepted = True
    except TransitionNotAllowed:
        accepted = False
    assert accepted is (day <= deadline)
    assert aggregate(deadline).expire(today=day, by=SYSTEM, at=datetime(2026, 1, 1, tzinfo=UTC)) is (day > deadline)


@settings(max_examples=200, deadline=None)
@given(requested=INSTANTS)
@example(paris(2026, 3, 20, 0, 30).astimezone(UTC)).via("Paris date ahead of UTC date, DST inside the window")
@example(paris(2026, 10, 20, 0, 30).astimezone(UTC)).via("Paris date ahead of UTC date, DST ends in the window")
@example(paris(2026, 3, 29, 3, 0).astimezone(UTC)).via("first hour of summer time")
@example(paris(2026, 10, 25, 2, 30).astimezone(UTC)).via("the repeated hour")
def test_an_app_computes_the_deadline_from_the_paris_date_of_the_request(requested: datetime) -> None:
    app = requested_at(requested)
    request_day = local_date(requested, "Europe/Paris")
    assert deadline_of(app) == request_day + timedelta(days=WINDOW)
    assert (deadline_of(app) - request_day).days == WINDOW


@settings(max_examples=200, deadline=None)
@given(requested=INSTANTS, later=st.integers(min_value=0, max_value=(WINDOW + 3) * 86400))
@example(paris(2026, 3, 20, 0, 30).astimezone(UTC), span(paris(2026, 3, 20, 0, 30), paris(2026, 4, 3, 23, 59, 59)))
@example(paris(2026, 3, 20, 0, 30).astimezone(UTC), span(paris(2026, 3, 20, 0, 30), paris(2026, 4, 4)))
@example(paris(2026, 10, 20, 0, 30).astimezone(UTC), span(paris(2026, 10, 20, 0, 30), paris(2026, 11, 3, 23, 59, 59)))
@example(paris(2026, 10, 20, 0, 30).astimezone(UTC), span(paris(2026, 10, 20, 0, 30), paris(2026, 11, 4)))
def test_an_upload_is_accepted_exactly_until_midnight_paris_time_at_the_end_of_the_deadline_day(
    requested: datetime, later: int
) -> None:
    app = requested_at(requested)
    closes = window_closes_at(deadline_of(app), "Europe/Paris")
    moment = requested + timedelta(seconds=later)
    at(app, moment)
    try:
        app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "b" * 64, 10, FEED)
        accepted = True
    except TransitionNotAllowed:
        accepted = False
    assert accepted is (moment < closes)


# --- the edges, as a user sees them ------------------------------------------------------------------

CASES = [
    pytest.param(paris(2026, 6, 1, 12, 0), date(2026, 6, 15), id="summer"),
    # Requested at 00:30 in Paris = 23:30 UTC the day before: the Paris date counts.
    pytest.param(paris(2026, 3, 20, 0, 30), date(2026, 4, 3), id="DST starts on 29 March inside the window"),
    pytest.param(paris(2026, 10, 20, 0, 30), date(2026, 11, 3), id="DST ends on 25 October inside the window"),
]


@pytest.mark.parametrize(("requested", "deadline"), CASES)
def test_documents_are_accepted_until_the_last_second_of_the_deadline_day(requested: datetime, deadline: date) -> None:
    app = requested_at(requested)
    assert deadline_of(app) == deadline
    last_second = paris(deadline.year, deadline.month, deadline.day, 23, 59, 59)
    with tempfile.TemporaryDirectory() as tmp:
        store = DocumentStore(Path(tmp))
        result = upload_document(at(app, last_second), store, SOLD_ABROAD, "invoice", PDF, actor="bob")
        assert result.status == Status.DOCS_UPLOADED


@pytest.mark.parametrize(("requested", "deadline"), CASES)
def test_the_next_day_uploads_are_refused_and_the_device_expires(requested: datetime, deadline: date) -> None:
    app = requested_at(requested)
    next_midnight = window_closes_at(deadline, "Europe/Paris")
    assert next_midnight == paris(deadline.year, deadline.month, deadline.day + 1)
    registration_id = app.get_registration(SOLD_ABROAD).id  # type: ignore[union-attr]

    at(app, next_midnight - timedelta(seconds=1))
    assert app.expire([registration_id], SYSTEM) == 0, "still the deadline day in Paris"

    at(app, next_midnight)
    with tempfile.TemporaryDirectory() as tmp:
        store = DocumentStore(Path(tmp))
        with pytest.raises(UploadNotAllowed, match=f"upload window closed at the end of {deadline:%d/%m/%Y}"):
            upload_document(app, store, SOLD_ABROAD, "invoice", PDF, actor="bob")
        assert not any(Path(tmp).rglob("*.pdf"))
    assert app.expire([registration_id], SYSTEM) == 1
    registration = app.get_registration(SOLD_ABROAD)
    assert registration is not None
    assert (registration.status, registration.reason) == (Status.REJECTED, Reason.DOCS_NOT_PROVIDED)


def test_the_window_closes_at_local_midnight_whatever_the_utc_offset() -> None:
    assert window_closes_at(date(2026, 4, 3), "Europe/Paris") == datetime(2026, 4, 3, 22, 0, tzinfo=UTC)
    assert window_closes_at(date(2026, 11, 3), "Europe/Paris") == datetime(2026, 11, 3, 23, 0, tzinfo=UTC)
    # 28 March 2026 is the last day of winter time: the window still closes at local midnight.
    assert window_closes_at(date(2026, 3, 28), "Europe/Paris") == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert window_closes_at(date(2026, 3, 29), "Europe/Paris") == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(("requested", "deadline"), CASES)
def test_a_server_clock_in_utc_expires_on_the_paris_day_not_the_utc_day(requested: datetime, deadline: date) -> None:
    """Production clocks run in UTC: at 22:30 UTC on the deadline day it is already the next day in Paris
    (summer), and at 21:30 UTC it is still the deadline day."""
    app = requested_at(requested.astimezone(UTC))
    assert deadline_of(app) == deadline
    registration_id = app.get_registration(SOLD_ABROAD).id  # type: ignore[union-attr]
    closes = window_closes_at(deadline, "Europe/Paris").astimezone(UTC)
    assert closes.date() == deadline  # the window closes before the UTC day ends

    at(app, closes - timedelta(minutes=30))
    assert app.expire([registration_id], SYSTEM) == 0, "still the deadline day in Paris"
    at(app, closes + timedelta(minutes=30))
    assert app.expire([registration_id], SYSTEM) == 1, "the next day in Paris, the same UTC day"
