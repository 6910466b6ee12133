"""Building a registration request from what a person typed."""

from __future__ import annotations

from datetime import date, datetime

from domain.decision import RegistrationRequest
from domain.normalise import InvalidSerial, normalise_customer_no, normalise_device_type, normalise_serial


class RequestError(ValueError):
    """Names the field and why."""


def parse_date(text: str, field: str = "installed_on") -> date:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise RequestError(f"{field}: {text!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")


def build_request(*, serial: str, device_type: str, installed_on: str | date, customer_no: str) -> RegistrationRequest:
    try:
        normalised_serial = normalise_serial(serial)
    except InvalidSerial as error:
        raise RequestError(f"serial: {error}") from None
    normalised_type = normalise_device_type(device_type)
    if not normalised_type:
        raise RequestError("device_type: is empty")
    customer = normalise_customer_no(customer_no)
    if not customer:
        raise RequestError("customer_no: is empty")
    day = installed_on if isinstance(installed_on, date) else parse_date(installed_on)
    return RegistrationRequest(
        serial=normalised_serial, device_type=normalised_type, installed_on=day, customer_no=customer
    )
