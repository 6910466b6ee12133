"""DeviceRegistration: the life of one device, its allowed transitions and its events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.decision import Decision
from domain.errors import TransitionNotAllowed
from domain.ids import registration_id
from domain.provenance import Channel, Provenance
from domain.registration import NEW, DeviceRegistration
from domain.statuses import Reason, Status
from domain.terms import DocumentKind

CAMPAIGN = "fr-2026"
SERIAL = "3001000001"
OWNER = "C100"
AT = datetime(2026, 6, 1, 10, tzinfo=UTC)
LATER = datetime(2026, 6, 3, 15, 30, tzinfo=UTC)
DEADLINE = date(2026, 6, 15)
DAY_AFTER = DEADLINE + timedelta(days=1)
FEED = Provenance("portal-feed", Channel.FEED, "portal.device-registrations.v1/3/1207")
INSTALLER = Provenance("bob@soleil.example", Channel.MANUAL, "upload-77")
STAFF = Provenance("alice@maker.example", Channel.STAFF, "review-12")
FINANCE = Provenance("finance", Channel.FINANCE, "payout-results.v1/0/9")
SYSTEM = Provenance("payment-run", Channel.SYSTEM, "run-2026-06")
PAYOUT = uuid4()
OTHER_PAYOUT = uuid4()
SHA = "a" * 64

PAYABLE = Decision(Status.PAYMENT_PENDING, amount_cents=5000)
NEEDS_DOCS = Decision(
    Status.DOCS_REQUIRED, amount_cents=5000, doc_reasons=("SOLD_IN_OTHER_COUNTRY",), documents=(DocumentKind.INVOICE,)
)
REFUSED = Decision.rejected(Reason.UNKNOWN_SERIAL)


def registered(decision: Decision = PAYABLE, *, collect: bool = True) -> DeviceRegistration:
    registration = DeviceRegistration.register(
        campaign_id=CAMPAIGN,
        serial=SERIAL,
        device_type="SB3.0-1AV-41",
        customer_no=OWNER,
        installed_on=date(2026, 5, 4),
        decision=decision,
        deadline=DEADLINE if decision.status is Status.DOCS_REQUIRED else None,
        by=FEED,
        at=AT,
    )
    if collect:
        registration.collect_events()
    return registration


def upload(registration: DeviceRegistration, sha: str = SHA, today: date = date(2026, 6, 3)) -> bool:
    return registration.upload_document(DocumentKind.INVOICE, sha, 1234, today=today, by=INSTALLER, at=LATER)


def uploaded() -> DeviceRegistration:
    registration = registered(NEEDS_DOCS)
    upload(registration)
    registration.collect_events()
    return registration


def in_payout() -> DeviceRegistration:
    registration = registered()
    registration.add_to_payout(PAYOUT, by=SYSTEM, at=LATER)
    registration.collect_events()
    return registration


def paid() -> DeviceRegistration:
    registration = in_payout()
    registration.mark_paid(PAYOUT, by=FINANCE, at=LATER)
    registration.collect_events()
    return registration


def needs_docs() -> DeviceRegistration:
    return registered(NEEDS_DOCS)


def rejected() -> DeviceRegistration:
    return registered(REFUSED)


def rebuilt(events: list[Any]) -> DeviceRegistration:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, DeviceRegistration)
    return aggregate


# --- registration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "status", "event_names"),
    [
        (PAYABLE, Status.PAYMENT_PENDING, ["Registered"]),
        (NEEDS_DOCS, Status.DOCS_REQUIRED, ["Registered", "DocumentsRequested"]),
        (REFUSED, Status.REJECTED, ["Registered", "Rejected"]),
    ],
)
def test_registration_records_the_decision_in_the_same_breath(
    decision: Decision, status: Status, event_names: list[str]
) -> None:
    registration = registered(decision, collect=False)
    assert registration.status == status
    events = registration.collect_events()
    assert [type(e).__name__ for e in events] == event_names
    assert rebuilt(events).status == status


def test_new_is_never_visible_after_registration() -> None:
    for decision in (PAYABLE, NEEDS_DOCS, REFUSED):
        assert registered(decision).status != NEW


def test_documents_request_carries_reasons_documents_and_deadline() -> None:
    registration = registered(NEEDS_DOCS, collect=False)
    requested = registration.collect_events()[-1]
    assert isinstance(requested, DeviceRegistration.DocumentsRequested)
    assert requested.reasons == ["SOLD_IN_OTHER_COUNTRY"]
    assert requested.documents == ["invoice"]
    assert requested.deadline == DEADLINE
    assert registration.deadline == DEADLINE


def test_rejection_carries_its_reason_code() -> None:
    registration = registered(REFUSED, collect=False)
    assert registration.reason == "UNKNOWN_SERIAL"
    event = registration.collect_events()[-1]
    assert isinstance(event, DeviceRegistration.Rejected)
    assert event.reason == "UNKNOWN_SERIAL"


def test_id_is_deterministic_per_campaign_and_serial() -> None:
    first, second = registered(), registered(REFUSED)
    assert first.id == second.id == registration_id(CAMPAIGN, SERIAL)
    assert registration_id(CAMPAIGN, SERIAL) != registration_id("de-2026", SERIAL)
    assert registration_id(CAMPAIGN, SERIAL) != registration_id(CAMPAIGN, "3001000002")
    assert isinstance(first.id, UUID) and first.id.version == 5


# --- provenance and time ---------------------------------------------------------------


def full_life() -> list[Any]:
    registration = registered(NEEDS_DOCS, collect=False)
    registration.refuse_claim("C200", by=FEED, at=LATER)
    upload(registration)
    registration.approve_documents(by=STAFF, at=LATER + timedelta(hours=1))
    registration.add_to_payout(PAYOUT, by=SYSTEM, at=LATER + timedelta(hours=2))
    registration.payout_failed(PAYOUT, "IBAN closed", by=FINANCE, at=LATER + timedelta(hours=3))
    registration.add_to_payout(OTHER_PAYOUT, by=SYSTEM, at=LATER + timedelta(days=30))
    registration.mark_paid(OTHER_PAYOUT, by=FINANCE, at=LATER + timedelta(days=31))
    return list(registration.collect_events())


def test_every_event_says_who_through_which_channel_and_from_where() -> None:
    events = full_life()
    assert [type(e).__name__ for e in events] == [
        "Registered",
        "DocumentsRequested",
        "ClaimRefused",
        "DocumentUploaded",
        "DocumentsApproved",
        "AddedToPayout",
        "PayoutFailed",
        "AddedToPayout",
        "Paid",
    ]
    expected = [FEED, FEED, FEED, INSTALLER, STAFF, SYSTEM, FINANCE, SYSTEM, FINANCE]
    for event, by in zip(events, expected, strict=True):
        assert (event.actor, event.channel, event.source) == (by.actor, str(by.channel), by.source)


def test_event_timestamps_are_the_times_given_not_the_clock() -> None:
    events = full_life()
    assert [e.timestamp for e in events] == [
        AT,
        AT,
        LATER,
        LATER,
        LATER + timedelta(hours=1),
        LATER + timedelta(hours=2),
        LATER + timedelta(hours=3),
        LATER + timedelta(days=30),
        LATER + timedelta(days=31),
    ]
    aggregate = rebuilt(events)
    assert aggregate.created_on == AT
    assert aggregate.modified_on == LATER + timedelta(days=31)


def test_history_rebuilds_the_same_state() -> None:
    aggregate = rebuilt(full_life())
    assert aggregate.status == Status.PAID
    assert aggregate.payout_id == OTHER_PAYOUT
    assert aggregate.paid_cents == 5000
    assert aggregate.refused_claims == ["C200"]
    assert aggregate.uploads == [{"kind": "invoice", "sha256": SHA, "size": 1234}]
    assert aggregate.last_payout_failure == "IBAN closed"


# --- allowed transitions ------------------------------------------------------------------


def test_documents_uploaded_then_approved_makes_the_device_payable() -> None:
    registration = registered(NEEDS_DOCS)
    assert upload(registration) is True
    assert registration.status == Status.DOCS_UPLOADED
    assert upload(registration, sha="b" * 64) is True  # a second, different file is welcome
    registration.approve_documents(by=STAFF, at=LATER)
    assert registration.status == Status.PAYMENT_PENDING
    assert not registration.in_payout


@pytest.mark.parametrize("make", [needs_docs, uploaded], ids=["docs_required", "docs_uploaded"])
def test_staff_can_refuse_the_documents(make: Callable[[], DeviceRegistration]) -> None:
    registration = make()
    registration.reject(Reason.DOCS_REFUSED, "invoice unreadable", by=STAFF, at=LATER)
    assert registration.status == Status.REJECTED
    assert registration.reason == "DOCS_REFUSED"
    event = registration.collect_events()[-1]
    assert isinstance(event, DeviceRegistration.Rejected)
    assert event.note == "invoice unreadable"


def test_document_window_expires_the_day_after_the_deadline() -> None:
    registration = registered(NEEDS_DOCS)
    assert registration.expire(today=DEADLINE, by=FEED, at=LATER) is False
    assert registration.collect_events() == []
    assert registration.expire(today=DEADLINE + timedelta(days=1), by=FEED, at=LATER) is True
    assert registration.status == Status.REJECTED
    assert registration.reason == "DOCS_NOT_PROVIDED"


def test_uploaded_documents_are_not_expired_while_under_review() -> None:
    registration = uploaded()
    assert registration.expire(today=DEADLINE + timedelta(days=30), by=FEED, at=LATER) is False
    assert registration.status == Status.DOCS_UPLOADED
    assert registration.collect_events() == []


def test_payable_device_goes_into_a_payout_then_is_paid() -> None:
    registration = registered()
    registration.add_to_payout(PAYOUT, by=SYSTEM, at=LATER)
    assert registration.status == Status.PAYMENT_PENDING
    assert registration.payout_id == PAYOUT
    assert registration.mark_paid(PAYOUT, by=FINANCE, at=LATER) is True
    assert registration.status == Status.PAID
    assert registration.paid_cents == 5000


def test_mark_paid_twice_records_one_payment() -> None:
    registration = in_payout()
    assert registration.mark_paid(PAYOUT, by=FINANCE, at=LATER) is True
    assert registration.mark_paid(PAYOUT, by=FINANCE, at=LATER) is False
    paid_events = [e for e in registration.collect_events() if isinstance(e, DeviceRegistration.Paid)]
    assert len(paid_events) == 1


def test_failed_payout_brings_the_device_back_to_payable() -> None:
    registration = in_payout()
    assert registration.payout_failed(PAYOUT, "IBAN closed", by=FINANCE, at=LATER) is True
    assert registration.status == Status.PAYMENT_PENDING
    assert registration.payout_id is None
    assert not registration.in_payout
    assert registration.last_payout_failure == "IBAN closed"
    registration.add_to_payout(OTHER_PAYOUT, by=SYSTEM, at=LATER)  # the next run takes it again
    assert registration.payout_id == OTHER_PAYOUT


def test_repeated_payout_failure_records_nothing() -> None:
    registration = in_payout()
    registration.payout_failed(PAYOUT, "IBAN closed", by=FINANCE, at=LATER)
    registration.collect_events()
    assert registration.payout_failed(PAYOUT, "IBAN closed", by=FINANCE, at=LATER) is False
    assert registration.collect_events() == []


def test_another_company_claiming_the_serial_is_recorded_and_changes_nothing_else() -> None:
    for make in (registered, uploaded, paid, rejected):
        registration = make()
        before = (registration.status, registration.customer_no, registration.payout_id)
        registration.refuse_claim("C200", by=FEED, at=LATER)
        assert (registration.status, registration.customer_no, registration.payout_id) == before
        assert registration.refused_claims == ["C200"]
        (event,) = registration.collect_events()
        assert isinstance(event, DeviceRegistration.ClaimRefused)
        assert event.customer_no == "C200"
        assert event.reason == "ALREADY_CLAIMED"


# --- refused commands: domain error, nothing recorded --------------------------------------

Command = Callable[[DeviceRegistration], object]

FORBIDDEN: list[tuple[str, Callable[[], DeviceRegistration], Command]] = [
    ("upload while payable", registered, upload),
    ("upload once paid", paid, upload),
    ("upload once rejected", rejected, upload),
    ("approve without documents", needs_docs, lambda r: r.approve_documents(by=STAFF, at=LATER)),
    ("approve a payable device", registered, lambda r: r.approve_documents(by=STAFF, at=LATER)),
    ("approve once rejected", rejected, lambda r: r.approve_documents(by=STAFF, at=LATER)),
    ("refuse documents of a payable device", registered, lambda r: r.reject(Reason.DOCS_REFUSED, by=STAFF, at=LATER)),
    ("refuse documents once paid", paid, lambda r: r.reject(Reason.DOCS_REFUSED, by=STAFF, at=LATER)),
    ("reject twice", rejected, lambda r: r.reject(Reason.DOCS_REFUSED, by=STAFF, at=LATER)),
    (
        "expire documents already uploaded",
        uploaded,
        lambda r: r.reject(Reason.DOCS_NOT_PROVIDED, by=STAFF, at=LATER),
    ),
    ("pay devices waiting for documents", needs_docs, lambda r: r.add_to_payout(PAYOUT, by=SYSTEM, at=LATER)),
    ("put a device in two payouts", in_payout, lambda r: r.add_to_payout(OTHER_PAYOUT, by=SYSTEM, at=LATER)),
    ("put a paid device in a payout", paid, lambda r: r.add_to_payout(OTHER_PAYOUT, by=SYSTEM, at=LATER)),
    ("put a rejected device in a payout", rejected, lambda r: r.add_to_payout(PAYOUT, by=SYSTEM, at=LATER)),
    ("mark paid outside any payout", registered, lambda r: r.mark_paid(PAYOUT, by=FINANCE, at=LATER)),
    ("mark paid by another payout", in_payout, lambda r: r.mark_paid(OTHER_PAYOUT, by=FINANCE, at=LATER)),
    ("pay a paid device by another payout", paid, lambda r: r.mark_paid(OTHER_PAYOUT, by=FINANCE, at=LATER)),
    ("mark a rejected device paid", rejected, lambda r: r.mark_paid(PAYOUT, by=FINANCE, at=LATER)),
    ("fail a paid device's payout", paid, lambda r: r.payout_failed(PAYOUT, "late", by=FINANCE, at=LATER)),
    ("fail another payout", in_payout, lambda r: r.payout_failed(OTHER_PAYOUT, "?", by=FINANCE, at=LATER)),
    ("fail the payout of a rejected device", rejected, lambda r: r.payout_failed(PAYOUT, "?", by=FINANCE, at=LATER)),
    ("refuse the owner's own claim", registered, lambda r: r.refuse_claim(OWNER, by=FEED, at=LATER)),
    ("upload after the deadline", needs_docs, lambda r: upload(r, today=DAY_AFTER)),
    ("add documents after the deadline", uploaded, lambda r: upload(r, sha="c" * 64, today=DAY_AFTER)),
]


@pytest.mark.parametrize(("make", "command"), [(m, c) for _, m, c in FORBIDDEN], ids=[n for n, _, _ in FORBIDDEN])
def test_forbidden_transition_raises_and_records_nothing(
    make: Callable[[], DeviceRegistration], command: Command
) -> None:
    registration = make()
    before = (registration.status, registration.version, registration.payout_id, len(registration.uploads))
    with pytest.raises(TransitionNotAllowed) as raised:
        command(registration)
    assert len(registration.collect_events()) == 0
    assert (registration.status, registration.version, registration.payout_id, len(registration.uploads)) == before
    assert SERIAL in str(raised.value)
    assert raised.value.status == before[0]


def test_upload_on_the_deadline_day_is_accepted() -> None:
    registration = registered(NEEDS_DOCS)
    assert upload(registration, today=DEADLINE) is True


def test_upload_after_the_deadline_is_refused_with_the_deadline_in_the_message() -> None:
    registration = registered(NEEDS_DOCS)
    with pytest.raises(TransitionNotAllowed, match="2026-06-15"):
        upload(registration, today=DEADLINE + timedelta(days=1))
    assert registration.status == Status.DOCS_REQUIRED


def test_same_document_uploaded_twice_is_recorded_once() -> None:
    registration = registered(NEEDS_DOCS)
    assert upload(registration) is True
    assert upload(registration) is False
    events = registration.collect_events()
    assert [type(e).__name__ for e in events] == ["DocumentUploaded"]
    assert registration.uploads == [{"kind": "invoice", "sha256": SHA, "size": 1234}]


def test_same_file_as_another_kind_of_document_is_recorded() -> None:
    registration = registered(NEEDS_DOCS)
    upload(registration)
    recorded = registration.upload_document(
        DocumentKind.COMMISSIONING_REPORT, SHA, 1234, today=date(2026, 6, 3), by=INSTALLER, at=LATER
    )
    assert recorded is True
    assert len(registration.uploads) == 2


def test_refused_command_message_is_readable() -> None:
    with pytest.raises(TransitionNotAllowed, match=r"device 3001000001: cannot approve documents while REJECTED"):
        rejected().approve_documents(by=STAFF, at=LATER)


# --- who refused the device --------------------------------------------------------------------


def test_staff_rejection_names_the_reviewer() -> None:
    registration = uploaded()
    registration.reject(Reason.DOCS_REFUSED, "wrong invoice", by=STAFF, at=LATER)
    assert registration.reviewer == STAFF.actor
    (event,) = registration.collect_events()
    assert event.reviewer == STAFF.actor


def test_automatic_rejections_have_no_reviewer() -> None:
    assert rejected().reviewer is None
    registration = registered(NEEDS_DOCS)
    registration.expire(today=DAY_AFTER, by=Provenance("deadlines", Channel.SYSTEM, "daily"), at=LATER)
    assert registration.status == Status.REJECTED
    assert registration.reviewer is None


@pytest.mark.parametrize(
    ("channel", "reviewer"), [("staff", "alice@maker.example"), ("system", ""), ("feed", "")]
)
def test_old_rejections_read_back_with_the_staff_actor_as_reviewer(channel: str, reviewer: str) -> None:
    state = {"actor": "alice@maker.example", "channel": channel, "source": "x", "reason": "DOCS_REFUSED", "note": ""}
    DeviceRegistration.Rejected.upcast_v1_v2(state)
    assert state["reviewer"] == reviewer


def test_a_backdated_command_is_refused_and_records_nothing() -> None:
    from domain.errors import TimeMovesBackwards

    registration = registered(NEEDS_DOCS)
    with pytest.raises(TimeMovesBackwards, match="before its last change"):
        registration.upload_document(DocumentKind.INVOICE, SHA, 10, today=date(2026, 6, 3), by=INSTALLER,
                                     at=AT - timedelta(days=400))
    assert registration.collect_events() == []
    assert registration.status == Status.DOCS_REQUIRED


# --- two documents needed (old stock: invoice and commissioning report) ------------------------------------

NEEDS_TWO = Decision(
    Status.DOCS_REQUIRED, amount_cents=10000, doc_reasons=("OLD_STOCK",),
    documents=(DocumentKind.INVOICE, DocumentKind.COMMISSIONING_REPORT),
)


def upload_kind(registration: DeviceRegistration, kind: DocumentKind, sha: str = SHA,
                today: date = date(2026, 6, 3)) -> bool:
    return registration.upload_document(kind, sha, 1234, today=today, by=INSTALLER, at=LATER)


def test_one_of_two_documents_keeps_the_device_waiting_for_the_other() -> None:
    registration = registered(NEEDS_TWO)
    assert upload_kind(registration, DocumentKind.INVOICE) is True
    (event,) = registration.collect_events()
    assert isinstance(event, DeviceRegistration.DocumentUploaded)  # recorded at once
    assert event.missing == ["commissioning_report"]
    assert registration.status == Status.DOCS_REQUIRED
    assert registration.deadline == DEADLINE
    assert registration.documents_missing == ["commissioning_report"]
    assert registration.uploads == [{"kind": "invoice", "sha256": SHA, "size": 1234}]
    with pytest.raises(TransitionNotAllowed, match="cannot approve documents while DOCS_REQUIRED"):
        registration.approve_documents(by=STAFF, at=LATER)
    assert registration.collect_events() == []


def test_another_file_of_the_same_kind_does_not_complete_the_documents() -> None:
    registration = registered(NEEDS_TWO)
    upload_kind(registration, DocumentKind.INVOICE)
    upload_kind(registration, DocumentKind.INVOICE, sha="b" * 64)
    assert registration.status == Status.DOCS_REQUIRED
    assert registration.documents_missing == ["commissioning_report"]


def test_the_last_missing_document_sends_the_device_to_review_then_approval_pays() -> None:
    registration = registered(NEEDS_TWO)
    upload_kind(registration, DocumentKind.COMMISSIONING_REPORT)
    upload_kind(registration, DocumentKind.INVOICE, sha="b" * 64)
    *_, last = registration.collect_events()
    assert last.missing == []
    assert registration.status == Status.DOCS_UPLOADED and registration.documents_missing == []
    registration.approve_documents(by=STAFF, at=LATER)
    assert (registration.status, registration.amount_cents) == (Status.PAYMENT_PENDING, 10000)


def test_a_device_missing_a_document_still_expires_at_its_deadline() -> None:
    registration = registered(NEEDS_TWO)
    upload_kind(registration, DocumentKind.INVOICE, today=DEADLINE)  # the deadline day is included
    assert registration.expire(today=DEADLINE, by=FEED, at=LATER) is False
    assert registration.expire(today=DAY_AFTER, by=FEED, at=LATER) is True
    assert (registration.status, registration.reason) == (Status.REJECTED, "DOCS_NOT_PROVIDED")


def test_a_document_that_was_not_asked_for_does_not_complete_the_documents() -> None:
    registration = registered(NEEDS_DOCS)  # the invoice only
    upload_kind(registration, DocumentKind.COMMISSIONING_REPORT)
    assert registration.status == Status.DOCS_REQUIRED and registration.documents_missing == ["invoice"]


def test_partial_uploads_replay_to_the_same_state() -> None:
    registration = registered(NEEDS_TWO, collect=False)
    upload_kind(registration, DocumentKind.INVOICE)
    events = list(registration.collect_events())
    again = rebuilt(events)
    assert (again.status, again.documents_missing) == (Status.DOCS_REQUIRED, ["commissioning_report"])
    upload_kind(registration, DocumentKind.COMMISSIONING_REPORT, sha="b" * 64)
    again = rebuilt(events + registration.collect_events())
    assert (again.status, again.documents_missing) == (Status.DOCS_UPLOADED, [])


def test_an_upload_of_the_first_version_replays_as_it_happened() -> None:
    """Version 1 DocumentUploaded (before this rule) moved the device to DOCS_UPLOADED at the first file."""
    state: dict[str, Any] = {"kind": "invoice", "sha256": SHA, "size": 1}
    DeviceRegistration.DocumentUploaded.upcast_v1_v2(state)
    assert state["missing"] == []
    assert DeviceRegistration.DocumentUploaded.class_version == 2
