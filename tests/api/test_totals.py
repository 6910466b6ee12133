"""Totals an installer reads after a payment: collected and pending, on the API and the web page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from cashback.bootstrap import Engine
from cashback.payments import run_payment
from domain.provenance import Channel, Provenance
from tests.api.portal_fixtures import COMPANY_A, COMPANY_B, Tokens
from tests.api.test_web import login

FINANCE = Provenance(actor="finance", channel=Channel.FINANCE, source="test")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_confirmed_payout_moves_its_amount_from_pending_to_collected(
    client: TestClient, engine: Engine, tokens: Tokens
) -> None:
    payouts = run_payment(engine)
    paid_a = next(p for p in payouts if p.customer_no == COMPANY_A)
    assert engine.app.settle_payout(paid_a.id, "confirmed", FINANCE) == "applied"

    totals = client.get("/v1/devices", headers=_auth(tokens.a)).json()["totals"]
    assert totals["collected_cents"] == paid_a.total_cents == 5000 + 7500 + 10000
    assert totals["pending_cents"] == 5000  # the device still waiting for its invoice
    assert totals["count_by_status"]["PAID"] == 3 and totals["count_by_status"]["PAYMENT_PENDING"] == 0
    paid = client.get("/v1/devices", headers=_auth(tokens.a), params={"status": "PAID"}).json()["items"]
    assert {d["label"] for d in paid} == {"Appareil enregistré – paiement effectué"}

    other = client.get("/v1/devices", headers=_auth(tokens.b)).json()
    assert other["company"] == COMPANY_B and other["totals"]["collected_cents"] == 0  # B's payout is unanswered

    login(client, tokens.a)
    page = client.get("/").text
    assert re.search(r'data-testid="collected">225,00\s*€', page)  # the tiles on top of the installer's page
    assert re.search(r'data-testid="pending">50,00\s*€', page)
