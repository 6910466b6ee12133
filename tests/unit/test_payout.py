"""Payout: one per payment run and company; its total is the sum of its lines."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.errors import DomainError
from domain.ids import payout_id
from domain.payout import Payout, PayoutLine
from domain.provenance import Channel, Provenance

AT = datetime(2026, 6, 1, 10, tzinfo=UTC)
LATER = datetime(2026, 6, 5, 9, tzinfo=UTC)
RUN = Provenance("payment-run", Channel.SYSTEM, "run-2026-06-01")
FINANCE = Provenance("finance", Channel.FINANCE, "payout-results.v1/0/9")


def line(serial: str, amount_cents: int, device_type: str = "SB3.0-1AV-41") -> PayoutLine:
    return PayoutLine(serial=serial, device_type=device_type, amount_cents=amount_cents, registration_id=uuid4())


def issue(lines: list[PayoutLine], run_id: str = "run-2026-06-01", customer_no: str = "C100") -> Payout:
    return Payout.issue(
        run_id=run_id, campaign_id="fr-2026", customer_no=customer_no, currency="EUR", lines=lines, by=RUN, at=AT
    )


def test_total_is_the_sum_of_the_lines() -> None:
    payout = issue([line("3001000001", 5000), line("3001000002", 7500, "SB5.0-1AV-41"), line("3001000003", 10000)])
    assert payout.total_cents == 22500
    assert payout.line_total == 22500
    assert payout.state == "issued"
    assert [entry["serial"] for entry in payout.lines] == ["3001000001", "3001000002", "3001000003"]


def test_issued_event_carries_lines_total_and_provenance() -> None:
    lines = [line("3001000001", 5000)]
    payout = issue(lines)
    (issued,) = payout.collect_events()
    assert isinstance(issued, Payout.Issued)
    assert issued.total_cents == 5000
    assert issued.lines == [lines[0].as_dict()]
    assert issued.lines[0]["registration_id"] == str(lines[0].registration_id)
    assert (issued.actor, issued.channel, issued.source) == ("payment-run", "system", "run-2026-06-01")
    assert issued.timestamp == AT


def test_payout_id_is_deterministic_per_run_and_company() -> None:
    assert issue([line("3001000001", 5000)]).id == payout_id("run-2026-06-01", "C100")
    assert payout_id("run-2026-06-01", "C100") != payout_id("run-2026-06-01", "C200")
    assert payout_id("run-2026-06-01", "C100") != payout_id("run-2026-07-01", "C100")


def test_empty_payout_is_refused() -> None:
    with pytest.raises(DomainError, match="at least one line"):
        issue([])


def test_same_serial_twice_in_a_payout_is_refused() -> None:
    with pytest.raises(DomainError, match="same serial twice"):
        issue([line("3001000001", 5000), line("3001000002", 7500), line("3001000001", 5000)])


@pytest.mark.parametrize("amount", [0, -5000])
def test_line_without_a_positive_amount_is_refused(amount: int) -> None:
    with pytest.raises(DomainError, match="positive"):
        issue([line("3001000001", 5000), line("3001000002", amount)])


def three_lines() -> Payout:
    payout = issue([line("3001000001", 5000), line("3001000002", 7500), line("3001000003", 10000)])
    payout.collect_events()
    return payout


def test_confirmation_settles_every_line_and_records_the_bank_reference() -> None:
    payout = three_lines()
    assert payout.confirm("BANK-REF-1", by=FINANCE, at=LATER) == ["3001000001", "3001000002", "3001000003"]
    assert payout.state == "confirmed"
    assert payout.reference == "BANK-REF-1"
    assert payout.open_serials() == []
    (confirmed,) = payout.collect_events()
    assert isinstance(confirmed, Payout.Confirmed)
    assert confirmed.serials == ["3001000001", "3001000002", "3001000003"]
    assert confirmed.timestamp == LATER
    assert confirmed.source == FINANCE.source


def test_second_confirmation_changes_nothing_but_is_kept_for_audit() -> None:
    payout = three_lines()
    payout.confirm("BANK-REF-1", by=FINANCE, at=LATER)
    payout.collect_events()
    assert payout.confirm("BANK-REF-2", by=FINANCE, at=LATER) == []
    assert payout.state == "confirmed"
    assert payout.reference == "BANK-REF-1"
    (ignored,) = payout.collect_events()
    assert isinstance(ignored, Payout.ResultIgnored)
    assert ignored.result == "confirmed"
    assert "confirmed" in ignored.note


def test_failure_after_confirmation_is_ignored() -> None:
    payout = three_lines()
    payout.confirm("BANK-REF-1", by=FINANCE, at=LATER)
    payout.collect_events()
    assert payout.fail("IBAN closed", by=FINANCE, at=LATER) == []
    assert payout.state == "confirmed"
    assert payout.failure is None
    assert set(payout.line_results.values()) == {"confirmed"}
    (ignored,) = payout.collect_events()
    assert isinstance(ignored, Payout.ResultIgnored)
    assert ignored.result == "failed"


def test_failure_is_recorded_with_its_reason_and_a_later_confirmation_ignored() -> None:
    payout = three_lines()
    assert payout.fail("IBAN closed", by=FINANCE, at=LATER) == ["3001000001", "3001000002", "3001000003"]
    assert payout.state == "failed"
    assert payout.failure == "IBAN closed"
    assert payout.confirm("BANK-REF-1", by=FINANCE, at=LATER) == []
    assert payout.state == "failed"
    assert [type(e).__name__ for e in payout.collect_events()] == ["Failed", "ResultIgnored"]


def test_result_for_some_lines_leaves_the_others_open() -> None:
    payout = three_lines()
    assert payout.fail("IBAN closed", serials=["3001000002"], by=FINANCE, at=LATER) == ["3001000002"]
    assert payout.state == "partially_settled"
    assert payout.open_serials() == ["3001000001", "3001000003"]
    assert payout.confirm("BANK-REF-1", by=FINANCE, at=LATER) == ["3001000001", "3001000003"]
    assert payout.line_results == {"3001000001": "confirmed", "3001000002": "failed", "3001000003": "confirmed"}
    assert payout.state == "partially_settled"  # mixed answers stay visible


def test_partial_results_that_all_agree_settle_the_payout() -> None:
    payout = three_lines()
    payout.confirm("REF-A", serials=["3001000003"], by=FINANCE, at=LATER)
    assert payout.state == "partially_settled"
    payout.confirm("REF-B", serials=["3001000001", "3001000002"], by=FINANCE, at=LATER)
    assert payout.state == "confirmed"


def test_result_for_serials_not_in_the_payout_changes_nothing() -> None:
    payout = three_lines()
    assert payout.confirm("REF", serials=["3009999999"], by=FINANCE, at=LATER) == []
    assert payout.state == "issued"
    assert [type(e).__name__ for e in payout.collect_events()] == ["ResultIgnored"]
    assert payout.confirm("REF", serials=["3009999999", "3001000002"], by=FINANCE, at=LATER) == ["3001000002"]


def test_history_rebuilds_the_line_results() -> None:
    payout = issue([line("3001000001", 5000), line("3001000002", 7500)])
    payout.fail("IBAN closed", serials=["3001000002"], by=FINANCE, at=LATER)
    payout.confirm("REF", by=FINANCE, at=LATER)
    payout.confirm("REF", by=FINANCE, at=LATER)
    rebuilt = None
    for event in payout.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, Payout)
    assert rebuilt.line_results == payout.line_results
    assert rebuilt.state == payout.state == "partially_settled"
    assert rebuilt.total_cents == 12500



def test_result_naming_a_serial_twice_settles_it_once() -> None:
    payout = three_lines()
    assert payout.confirm("REF", serials=["3001000001", "3001000001"], by=FINANCE, at=LATER) == ["3001000001"]
    (confirmed,) = payout.collect_events()
    assert confirmed.serials == ["3001000001"]
