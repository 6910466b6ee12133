"""Company: an installer enrolled in a campaign (event-sourced for audit)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain.enrolment import Enrolment
from domain.ids import company_id
from domain.provenance import Provenance
from domain.time_order import ForwardInTime


class Company(ForwardInTime, Aggregate):
    class Enrolled(Aggregate.Created):
        actor: str
        channel: str
        source: str
        campaign_id: str
        customer_no: str
        name: str
        contact_email: str
        enrolled_on: date

    class ContactChanged(Aggregate.Event):
        actor: str
        channel: str
        source: str
        name: str
        contact_email: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Company)
            aggregate.name = self.name
            aggregate.contact_email = self.contact_email

    def __init__(
        self, *, campaign_id: str, customer_no: str, name: str, contact_email: str,
        enrolled_on: date, **_: Any,
    ) -> None:
        self.campaign_id = campaign_id
        self.customer_no = customer_no
        self.name = name
        self.contact_email = contact_email
        self.enrolled_on = enrolled_on

    @classmethod
    def enrol(cls, campaign_id: str, enrolment: Enrolment, *, by: Provenance, at: datetime) -> Company:
        return cls._create(
            cls.Enrolled,
            id=company_id(campaign_id, enrolment.customer_no),
            timestamp=at,
            campaign_id=campaign_id,
            customer_no=enrolment.customer_no,
            name=enrolment.name,
            contact_email=str(enrolment.contact_email),
            enrolled_on=enrolment.enrolled_on,
            **by.as_kwargs(),
        )

    def update_contact(self, enrolment: Enrolment, *, by: Provenance, at: datetime) -> bool:
        if (self.name, self.contact_email) == (enrolment.name, str(enrolment.contact_email)):
            return False
        self.trigger_event(
            self.ContactChanged, timestamp=at, name=enrolment.name,
            contact_email=str(enrolment.contact_email), **by.as_kwargs(),
        )
        return True

    def as_enrolment(self) -> Enrolment:
        return Enrolment(
            customer_no=self.customer_no, name=self.name,
            contact_email=self.contact_email, enrolled_on=self.enrolled_on,
        )
