"""The feed's fast path stores exactly what the aggregate path stores, and is read back the same."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from cashback.app import CashbackApp
from cashback.registered_encoding import RegisteredEncoder, stored_events
from domain.decision import Decision
from domain.ids import registration_id
from domain.provenance import Channel, Provenance
from domain.registration import DeviceRegistration
from domain.statuses import Status
from tests.unit.conftest import CAMPAIGN, build_app

MAPPER = build_app().mapper  # the mapper of the app the tests build: JSON with the app's transcodings

text = st.text(min_size=1, max_size=30)  # any unicode: accents, quotes, backslashes, controls, emoji


@settings(max_examples=300, deadline=None)
@given(
    serial=text,
    device_type=text,
    customer_no=text,
    actor=text,
    source=text,
    channel=st.sampled_from(list(Channel)),
    installed_on=st.dates(min_value=date(1, 1, 1)),
    amount=st.integers(min_value=0, max_value=10**12),
    at=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5))])),
)
def test_encoded_registration_is_byte_for_byte_the_mappers(
    serial: str,
    device_type: str,
    customer_no: str,
    actor: str,
    source: str,
    channel: Channel,
    installed_on: date,
    amount: int,
    at: datetime,
) -> None:
    by = Provenance(actor, channel, source)
    decision = Decision(status=Status.PAYMENT_PENDING, amount_cents=amount)
    aggregate = DeviceRegistration.register(
        campaign_id=CAMPAIGN, serial=serial, device_type=device_type, customer_no=customer_no,
        installed_on=installed_on, decision=decision, deadline=None, by=by, at=at,
    )
    [expected] = [MAPPER.to_stored_event(e) for e in aggregate.collect_events()]

    row = RegisteredEncoder(MAPPER).row(
        registration_id(CAMPAIGN, serial), campaign_id=CAMPAIGN, serial=serial, device_type=device_type,
        customer_no=customer_no, installed_on=installed_on, outcome=str(decision.status), amount_cents=amount,
        by=by,
    )
    assert row is not None

    assert stored_events([row], at) == [expected]


def test_encoded_registration_reads_back_as_the_registered_device(app: CashbackApp) -> None:
    by = Provenance("portal:C100", Channel.FEED, "kafka:portal/0/7")
    at = datetime(2026, 6, 1, 10, tzinfo=UTC)
    rid = registration_id(CAMPAIGN, "3001000001")
    row = RegisteredEncoder(app.mapper).row(
        rid, campaign_id=CAMPAIGN, serial="3001000001", device_type="SB3.0-1AV-41", customer_no="C100",
        installed_on=date(2026, 5, 2), outcome="PAYMENT_PENDING", amount_cents=5000, by=by,
    )
    assert row is not None
    app.recorder.insert_events(stored_events([row], at))

    device: DeviceRegistration = app.repository.get(rid)
    assert (device.serial, device.customer_no, device.status, device.amount_cents) == (
        "3001000001", "C100", Status.PAYMENT_PENDING, 5000)
    assert device.installed_on == date(2026, 5, 2)
    assert device.created_on == at


def test_encoder_declines_when_the_mapper_compresses(app: CashbackApp) -> None:
    import zlib

    from eventsourcing.persistence import Mapper

    class Zlib:
        def compress(self, data: bytes) -> bytes:
            return zlib.compress(data)

        def decompress(self, data: bytes) -> bytes:
            return zlib.decompress(data)

    mapper = Mapper(transcoder=app.mapper.transcoder, compressor=Zlib())
    encoder = RegisteredEncoder(mapper)
    assert encoder.row(
        registration_id(CAMPAIGN, "X1"), campaign_id=CAMPAIGN, serial="X1", device_type="T", customer_no="C",
        installed_on=date(2026, 5, 2), outcome="PAYMENT_PENDING", amount_cents=1,
        by=Provenance("a", Channel.FEED, "s"),
    ) is None
