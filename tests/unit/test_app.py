"""CashbackApp on an in-memory SQLite event store: what an installer and finance see."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from cashback.app import CashbackApp, Intake
from cashback.clock import FixedClock
from domain.decision import RegistrationRequest
from domain.errors import DomainError, TransitionNotAllowed
from domain.ids import registration_id
from domain.provenance import Channel, Provenance
from domain.registration import DeviceRegistration
from domain.statuses import Reason, Status
from domain.terms import DocumentKind
from tests.unit.conftest import (
    CAMPAIGN,
    ENROLLED,
    ENROLLED_LATER,
    ENROLLED_TOO,
    FEED,
    FINANCE,
    NOT_ELIGIBLE,
    PAYABLE_SB3,
    PAYABLE_SB5,
    PAYABLE_STP,
    SB3,
    SB5,
    SOLD_ABROAD,
    STAFF,
    STP,
    SYSTEM,
    UNKNOWN,
    UNKNOWN_COMPANY,
)

TYPES = {PAYABLE_SB3: SB3, PAYABLE_SB5: SB5, PAYABLE_STP: STP, SOLD_ABROAD: SB3, NOT_ELIGIBLE: "SMC6000A", UNKNOWN: SB3}


def intake(
    serial: str, company: str = ENROLLED, *, park: bool = False, device_type: str | None = None, by: Provenance = FEED
) -> Intake:
    request = RegistrationRequest(
        serial=serial, device_type=device_type or TYPES[serial], installed_on=date(2026, 5, 4), customer_no=company
    )
    return Intake(request=request, by=by, park_unknown_company=park, payload=f'{{"serial": "{serial}"}}')


def event_count(app: CashbackApp) -> int:
    return len(app.recorder.select_notifications(start=1, limit=10**6))


def events_of(app: CashbackApp, serial: str) -> list[object]:
    return list(app.repository.event_store.get(registration_id(CAMPAIGN, serial)))


def status(app: CashbackApp, serial: str) -> str:
    registration = app.get_registration(serial)
    assert registration is not None
    return registration.status


def rid(serial: str) -> UUID:
    return registration_id(CAMPAIGN, serial)


# --- intake ------------------------------------------------------------------------


def test_eligible_device_is_registered_payment_pending_with_its_amount(app: CashbackApp) -> None:
    result = app.register_batch([intake(PAYABLE_SB3), intake(PAYABLE_SB5)])
    assert [(o.kind, o.serial, o.status, o.amount_cents) for o in result.outcomes] == [
        ("registered", PAYABLE_SB3, "PAYMENT_PENDING", 5000),
        ("registered", PAYABLE_SB5, "PAYMENT_PENDING", 7500),
    ]
    assert result.count("registered") == 2
    registration = app.get_registration(PAYABLE_SB3)
    assert registration is not None
    assert (registration.status, registration.customer_no) == ("PAYMENT_PENDING", ENROLLED)
    assert registration.amount_cents == 5000


@pytest.mark.parametrize(
    ("serial", "device_type", "reason"),
    [
        (UNKNOWN, SB3, "UNKNOWN_SERIAL"),
        (NOT_ELIGIBLE, "SMC6000A", "TYPE_NOT_ELIGIBLE"),
        (PAYABLE_SB3, SB5, "TYPE_MISMATCH"),
    ],
)
def test_invalid_device_is_registered_rejected_with_its_reason(
    app: CashbackApp, serial: str, device_type: str, reason: str
) -> None:
    (outcome,) = app.register_batch([intake(serial, device_type=device_type)]).outcomes
    assert (outcome.kind, outcome.status, outcome.reason) == ("registered", "REJECTED", reason)
    registration = app.get_registration(serial)
    assert registration is not None
    assert (registration.status, registration.reason) == ("REJECTED", reason)


def test_same_device_twice_is_a_duplicate_and_records_nothing(app: CashbackApp) -> None:
    app.register_batch([intake(PAYABLE_SB3)])
    before = event_count(app)
    result = app.register_batch([intake(PAYABLE_SB3)])
    assert [(o.kind, o.status) for o in result.outcomes] == [("duplicate", "PAYMENT_PENDING")]
    assert event_count(app) == before


def test_same_device_twice_in_one_batch_is_registered_once(app: CashbackApp) -> None:
    result = app.register_batch([intake(PAYABLE_SB3), intake(PAYABLE_SB3)])
    assert [o.kind for o in result.outcomes] == ["registered", "duplicate"]
    assert len(events_of(app, PAYABLE_SB3)) == 1


def test_second_company_claiming_a_device_is_refused_and_recorded_once(app: CashbackApp) -> None:
    app.register_batch([intake(PAYABLE_SB3, ENROLLED)])
    first = app.register_batch([intake(PAYABLE_SB3, ENROLLED_TOO), intake(PAYABLE_SB3, ENROLLED_TOO)])
    assert [(o.kind, o.status, o.reason) for o in first.outcomes] == [
        ("claim_refused", "REJECTED", "ALREADY_CLAIMED"),
        ("claim_refused", "REJECTED", "ALREADY_CLAIMED"),
    ]
    again = app.register_batch([intake(PAYABLE_SB3, ENROLLED_TOO)])
    assert [o.kind for o in again.outcomes] == ["claim_refused"]
    refused = [e for e in events_of(app, PAYABLE_SB3) if isinstance(e, DeviceRegistration.ClaimRefused)]
    assert len(refused) == 1
    assert refused[0].customer_no == ENROLLED_TOO
    registration = app.get_registration(PAYABLE_SB3)
    assert registration is not None
    assert (registration.customer_no, registration.status) == (ENROLLED, "PAYMENT_PENDING")


def test_claims_in_the_same_batch_go_to_the_first_company(app: CashbackApp) -> None:
    result = app.register_batch([intake(PAYABLE_SB3, ENROLLED_TOO), intake(PAYABLE_SB3, ENROLLED)])
    assert [o.kind for o in result.outcomes] == ["registered", "claim_refused"]
    registration = app.get_registration(PAYABLE_SB3)
    assert registration is not None
    assert registration.customer_no == ENROLLED_TOO
    assert registration.refused_claims == [ENROLLED]


def test_a_batch_decided_as_new_devices_is_refused_whole_when_one_is_not(app: CashbackApp) -> None:
    # The feed worker decides its batches without asking the store until one proves it wrong.
    app.register_batch([intake(PAYABLE_SB3, ENROLLED)])
    before = event_count(app)
    decided = app.decide_batch([intake(PAYABLE_SB5), intake(PAYABLE_SB3, ENROLLED_TOO)], assume_new=True)
    assert decided.existing is None
    assert [o.kind for o in decided.outcomes] == ["registered", "registered"]  # wrong for the second: not asked
    with pytest.raises(IntegrityError):
        app.record_batch(decided)
    assert event_count(app) == before, "the new device of the refused batch is not stored either"
    again = app.register_batch([intake(PAYABLE_SB5), intake(PAYABLE_SB3, ENROLLED_TOO)])
    assert [(o.kind, o.reason) for o in again.outcomes] == [("registered", None), ("claim_refused", "ALREADY_CLAIMED")]
    registration = app.get_registration(PAYABLE_SB3)
    assert registration is not None and registration.customer_no == ENROLLED


def test_a_batch_decided_after_asking_says_how_many_devices_were_known(app: CashbackApp) -> None:
    app.register_batch([intake(PAYABLE_SB3)])
    assert app.decide_batch([intake(PAYABLE_SB3), intake(PAYABLE_SB5)]).existing == 1
    assert app.decide_batch([intake(PAYABLE_SB5)]).existing == 0


def parked_rows(app: CashbackApp) -> list[tuple[object, ...]]:
    return app.recorder.fetch_all(  # type: ignore[attr-defined]
        "SELECT campaign_id, customer_no, serial, source FROM cashback_parked ORDER BY serial"
    )


def test_feed_record_of_an_unknown_company_is_parked_not_registered(app: CashbackApp) -> None:
    result = app.register_batch([intake(PAYABLE_SB3, UNKNOWN_COMPANY, park=True)])
    assert [(o.kind, o.reason) for o in result.outcomes] == [("parked", "COMPANY_NOT_ENROLLED")]
    assert parked_rows(app) == [(CAMPAIGN, UNKNOWN_COMPANY, PAYABLE_SB3, FEED.source)]
    assert app.get_registration(PAYABLE_SB3) is None
    app.register_batch([intake(PAYABLE_SB3, UNKNOWN_COMPANY, park=True)])
    assert len(parked_rows(app)) == 1  # a replay parks nothing more


def test_feed_record_of_a_company_enrolled_later_is_parked(app: CashbackApp) -> None:
    (outcome,) = app.register_batch([intake(PAYABLE_SB3, ENROLLED_LATER, park=True)]).outcomes
    assert outcome.kind == "parked"
    assert [row[1] for row in parked_rows(app)] == [ENROLLED_LATER]


@pytest.mark.parametrize("company", [UNKNOWN_COMPANY, ENROLLED_LATER])
def test_manual_registration_of_a_company_not_enrolled_is_refused_and_not_parked(
    app: CashbackApp, company: str
) -> None:
    before = event_count(app)
    (outcome,) = app.register_batch([intake(PAYABLE_SB3, company)]).outcomes
    assert (outcome.kind, outcome.reason) == ("not_enrolled", "COMPANY_NOT_ENROLLED")
    assert parked_rows(app) == []
    assert app.get_registration(PAYABLE_SB3) is None
    assert event_count(app) == before


def test_parked_device_can_still_be_registered_by_an_enrolled_company(app: CashbackApp) -> None:
    app.register_batch([intake(PAYABLE_SB3, UNKNOWN_COMPANY, park=True)])
    (outcome,) = app.register_batch([intake(PAYABLE_SB3, ENROLLED)]).outcomes
    assert outcome.kind == "registered"


def test_whole_batch_replayed_changes_nothing(app: CashbackApp) -> None:
    batch = [
        intake(PAYABLE_SB3),
        intake(SOLD_ABROAD),
        intake(UNKNOWN),
        intake(PAYABLE_SB3, ENROLLED_TOO),
        intake(PAYABLE_SB5, UNKNOWN_COMPANY, park=True),
    ]
    app.register_batch(batch)
    before, parked = event_count(app), parked_rows(app)
    replay = app.register_batch(batch)
    assert event_count(app) == before
    assert parked_rows(app) == parked
    assert [o.kind for o in replay.outcomes] == ["duplicate", "duplicate", "duplicate", "claim_refused", "duplicate"]


def test_a_republished_parked_record_is_parked_once_and_counted_as_a_duplicate(app: CashbackApp) -> None:
    record = intake(PAYABLE_SB5, UNKNOWN_COMPANY, park=True)
    first = app.register_batch([record, record])
    assert [o.kind for o in first.outcomes] == ["parked", "duplicate"]
    assert [o.kind for o in app.register_batch([record]).outcomes] == ["duplicate"]
    assert len(parked_rows(app)) == 1


# --- documents ----------------------------------------------------------------------------


def test_documents_required_gets_a_deadline_fourteen_days_ahead(app: CashbackApp) -> None:
    (outcome,) = app.register_batch([intake(SOLD_ABROAD)]).outcomes
    assert (outcome.kind, outcome.status, outcome.reason) == ("registered", "DOCS_REQUIRED", "SOLD_IN_OTHER_COUNTRY")
    registration = app.get_registration(SOLD_ABROAD)
    assert registration is not None
    assert registration.deadline == date(2026, 6, 1) + timedelta(days=14)
    assert registration.documents_needed == ["invoice"]


def test_deadline_counts_from_the_campaign_local_date(app_factory: Callable[..., CashbackApp]) -> None:
    # 23:30 UTC on 1 June is already 2 June in Paris.
    app = app_factory(datetime(2026, 6, 1, 23, 30, tzinfo=UTC))
    app.register_batch([intake(SOLD_ABROAD)])
    registration = app.get_registration(SOLD_ABROAD)
    assert registration is not None
    assert registration.deadline == date(2026, 6, 16)


def test_uploaded_and_approved_documents_make_the_device_payable(app: CashbackApp) -> None:
    app.register_batch([intake(SOLD_ABROAD)])
    installer = Provenance("bob@soleil.example", Channel.MANUAL, "upload-1")
    assert app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "f" * 64, 2048, installer) is True
    assert app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "f" * 64, 2048, installer) is False
    assert status(app, SOLD_ABROAD) == Status.DOCS_UPLOADED
    app.approve(SOLD_ABROAD, STAFF)
    assert status(app, SOLD_ABROAD) == Status.PAYMENT_PENDING
    (payout,) = app.payment_run([rid(SOLD_ABROAD)], "run-1", SYSTEM)
    assert payout.total_cents == 5000


def test_refused_documents_reject_the_device(app: CashbackApp) -> None:
    app.register_batch([intake(SOLD_ABROAD)])
    app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "f" * 64, 2048, FEED)
    registration = app.reject(SOLD_ABROAD, "invoice for another device", STAFF)
    assert (registration.status, registration.reason) == ("REJECTED", "DOCS_REFUSED")
    assert status(app, SOLD_ABROAD) == Status.REJECTED


def test_documents_not_uploaded_in_time_expire_the_day_after_the_deadline(app: CashbackApp) -> None:
    app.register_batch([intake(SOLD_ABROAD)])
    clock = app.clock
    assert isinstance(clock, FixedClock)
    clock.advance(days=14)
    assert app.expire([rid(SOLD_ABROAD)], SYSTEM) == 0
    assert status(app, SOLD_ABROAD) == Status.DOCS_REQUIRED
    clock.advance(days=1)
    assert app.expire([rid(SOLD_ABROAD)], SYSTEM) == 1
    registration = app.get_registration(SOLD_ABROAD)
    assert registration is not None
    assert (registration.status, registration.reason) == ("REJECTED", "DOCS_NOT_PROVIDED")
    assert app.expire([rid(SOLD_ABROAD)], SYSTEM) == 0


def test_upload_after_the_deadline_is_refused(app: CashbackApp) -> None:
    app.register_batch([intake(SOLD_ABROAD)])
    assert isinstance(app.clock, FixedClock)
    app.clock.advance(days=15)
    before = event_count(app)
    with pytest.raises(TransitionNotAllowed):
        app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "f" * 64, 2048, FEED)
    assert event_count(app) == before


def test_review_of_an_unregistered_device_is_refused(app: CashbackApp) -> None:
    with pytest.raises(DomainError, match="not registered"):
        app.approve(PAYABLE_SB3, STAFF)


# --- payment runs and finance results -----------------------------------------------------------


def register_payable(app: CashbackApp) -> list[UUID]:
    app.register_batch(
        [
            intake(PAYABLE_SB3, ENROLLED),
            intake(PAYABLE_SB5, ENROLLED),
            intake(PAYABLE_STP, ENROLLED_TOO),
            intake(SOLD_ABROAD, ENROLLED),
            intake(UNKNOWN, ENROLLED),
        ]
    )
    return [rid(s) for s in (PAYABLE_SB3, PAYABLE_SB5, PAYABLE_STP, SOLD_ABROAD, UNKNOWN)]


def test_payment_run_pays_each_company_its_payable_devices(app: CashbackApp) -> None:
    payouts = app.payment_run(register_payable(app), "run-1", SYSTEM)
    by_company = {p.customer_no: p for p in payouts}
    assert sorted(by_company) == [ENROLLED, ENROLLED_TOO]
    assert [line["serial"] for line in by_company[ENROLLED].lines] == [PAYABLE_SB3, PAYABLE_SB5]
    assert by_company[ENROLLED].total_cents == 12500
    assert by_company[ENROLLED_TOO].total_cents == 10000
    for serial, payout in [(PAYABLE_SB3, by_company[ENROLLED]), (PAYABLE_STP, by_company[ENROLLED_TOO])]:
        registration = app.get_registration(serial)
        assert registration is not None
        assert registration.payout_id == payout.id
        assert registration.status == Status.PAYMENT_PENDING


def test_second_payment_run_in_a_row_pays_nothing(app: CashbackApp) -> None:
    ids = register_payable(app)
    assert len(app.payment_run(ids, "run-1", SYSTEM)) == 2
    before = event_count(app)
    assert app.payment_run(ids, "run-2", SYSTEM) == []
    assert event_count(app) == before


def test_settling_an_unknown_payout_says_so(app: CashbackApp) -> None:
    before = event_count(app)
    assert app.settle_payout(uuid4(), "confirmed", FINANCE, reference="BANK-1") == "unknown"
    assert event_count(app) == before


def test_confirmed_payout_marks_its_devices_paid_once(app: CashbackApp) -> None:
    ids = register_payable(app)
    payouts = app.payment_run(ids, "run-1", SYSTEM)
    mine = next(p for p in payouts if p.customer_no == ENROLLED)
    assert app.settle_payout(mine.id, "confirmed", FINANCE, reference="BANK-1") == "applied"
    assert status(app, PAYABLE_SB3) == status(app, PAYABLE_SB5) == Status.PAID
    assert status(app, PAYABLE_STP) == Status.PAYMENT_PENDING  # the other company's payout is not settled yet
    assert app.settle_payout(mine.id, "confirmed", FINANCE, reference="BANK-1") == "repeat"
    assert app.settle_payout(mine.id, "failed", FINANCE, reason="late bounce") == "repeat"
    assert status(app, PAYABLE_SB3) == Status.PAID
    paid = [e for e in events_of(app, PAYABLE_SB3) if isinstance(e, DeviceRegistration.Paid)]
    assert len(paid) == 1
    assert paid[0].amount_cents == 5000
    assert app.payment_run(ids, "run-2", SYSTEM) == []  # paid devices are never paid again


def test_failed_payout_puts_its_devices_back_and_the_next_run_pays_them_once(app: CashbackApp) -> None:
    ids = register_payable(app)
    payouts = app.payment_run(ids, "run-1", SYSTEM)
    mine = next(p for p in payouts if p.customer_no == ENROLLED)
    assert app.settle_payout(mine.id, "failed", FINANCE, reason="IBAN closed") == "applied"
    for serial in (PAYABLE_SB3, PAYABLE_SB5):
        registration = app.get_registration(serial)
        assert registration is not None
        assert (registration.status, registration.payout_id) == (Status.PAYMENT_PENDING, None)
        assert registration.last_payout_failure == "IBAN closed"
    (again,) = app.payment_run(ids, "run-2", SYSTEM)
    assert again.customer_no == ENROLLED
    assert [line["serial"] for line in again.lines] == [PAYABLE_SB3, PAYABLE_SB5]
    assert app.settle_payout(again.id, "confirmed", FINANCE, reference="BANK-2") == "applied"
    assert app.settle_payout(mine.id, "confirmed", FINANCE, reference="BANK-LATE") == "repeat"
    assert status(app, PAYABLE_SB3) == Status.PAID
    paid = [e for e in events_of(app, PAYABLE_SB3) if isinstance(e, DeviceRegistration.Paid)]
    assert [e.payout_id for e in paid] == [again.id]



def test_finance_result_naming_a_serial_twice_pays_it_once(app: CashbackApp) -> None:
    ids = register_payable(app)
    mine = next(p for p in app.payment_run(ids, "run-1", SYSTEM) if p.customer_no == ENROLLED)
    answer = app.settle_payout(mine.id, "confirmed", FINANCE, reference="BANK-1", serials=[PAYABLE_SB3, PAYABLE_SB3])
    assert answer == "applied"
    assert status(app, PAYABLE_SB3) == Status.PAID
    assert status(app, PAYABLE_SB5) == Status.PAYMENT_PENDING


def test_a_rejected_typo_does_not_keep_the_serial_from_the_real_installer(app: CashbackApp) -> None:
    typo = intake(PAYABLE_SB3, ENROLLED, device_type="HM-20")
    first = app.register_batch([typo]).outcomes[0]
    assert (first.status, first.reason) == ("REJECTED", "TYPE_MISMATCH")
    assert app.register_batch([typo]).outcomes[0].kind == "duplicate"
    fixed = intake(PAYABLE_SB3, ENROLLED_TOO)  # the company that really installed it, with the right type
    outcome = app.register_batch([fixed]).outcomes[0]
    assert (outcome.kind, outcome.status) == ("registered", "PAYMENT_PENDING")
    registration = app.get_registration(PAYABLE_SB3)
    assert registration is not None and registration.customer_no == ENROLLED_TOO
    assert status(app, PAYABLE_SB3) == Status.PAYMENT_PENDING
    before = event_count(app)
    app.register_batch([typo, fixed])  # replaying the same input changes nothing
    assert event_count(app) == before


def test_a_device_rejected_for_its_documents_stays_rejected(app: CashbackApp) -> None:
    app.register_batch([intake(SOLD_ABROAD)])
    registration = app.get_registration(SOLD_ABROAD)
    assert registration is not None
    app.clock.advance(days=20)  # type: ignore[attr-defined]
    registration.reject(Reason.DOCS_NOT_PROVIDED, by=SYSTEM, at=app.now())
    app.save(registration)
    again = app.register_batch([intake(SOLD_ABROAD, ENROLLED_TOO)]).outcomes[0]
    assert again.kind == "claim_refused"
