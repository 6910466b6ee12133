"""Normalisation rules for serial numbers and device types.

Installers type serials by hand, copy them from PDFs (non-breaking spaces)
or from Excel (numbers), so two spellings of the same device must compare
equal: blanks, dashes, dots-as-separators and case do not matter for serials.
Device types keep their dots and dashes (``SB3.0-1AV-41``) but lose blanks.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_BLANKS = re.compile(r"[\s\u00a0\u2007\u202f\u200b\ufeff]+")
_SERIAL_SEPARATORS = re.compile(r"[\s\u00a0\u2007\u202f\u200b\ufeff\-\u2010\u2011\u2012\u2013\u2014_/.]+")
_DASHES = re.compile(r"[\u2010\u2011\u2012\u2013\u2014\u2212]")
_EXCEL_WHOLE_NUMBER = re.compile(r"^(\d+)\.0+$")  # "3001234567.0": a number cell exported as text
_SERIAL_OK = re.compile(r"^[A-Z0-9]{4,40}$")


class InvalidSerial(ValueError):
    """The text cannot be a serial number (empty, too short, bad characters)."""


def strip_serial_separators(text: str) -> str:
    """The text without what a serial may be written with besides its letters and digits."""
    return _SERIAL_SEPARATORS.sub("", text)


def normalise_serial(raw: object) -> str:
    """Return the canonical form of a serial number or raise InvalidSerial.

    Numbers (Excel cells) are accepted when they are whole: ``3001234567.0``
    becomes ``3001234567``.
    """
    if type(raw) is str and raw.isascii() and raw.isalnum():  # the common case: nothing to strip
        if 4 <= len(raw) <= 40:
            return raw.upper()
        raise InvalidSerial(f"serial {raw!r} must be 4 to 40 letters or digits")
    return _normalise_serial_text(raw)


def _normalise_serial_text(raw: object) -> str:
    if isinstance(raw, bool) or raw is None:
        raise InvalidSerial("serial is empty")
    if isinstance(raw, int | float) and raw < 0:
        raise InvalidSerial(f"serial {raw!r} is a negative number")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise InvalidSerial(f"serial {raw!r} is not a whole number")
        raw = int(raw)
    text = unicodedata.normalize("NFKC", str(raw))
    text = _EXCEL_WHOLE_NUMBER.sub(r"\1", text.strip())
    serial = strip_serial_separators(text).upper()
    if not serial:
        raise InvalidSerial("serial is empty")
    if not _SERIAL_OK.match(serial):
        raise InvalidSerial(
            f"serial {str(raw).strip()!r} must be 4 to 40 letters or digits"
        )
    return serial


def normalise_device_type(raw: object) -> str:
    """Canonical device type: upper case, no blanks, unicode dashes as '-'."""
    if raw is None:
        return ""
    return _normalise_type_text(str(raw))


@lru_cache(maxsize=4096)  # a campaign has a few dozen types, typed a few hundred ways
def _normalise_type_text(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw)
    text = _DASHES.sub("-", text)
    return _BLANKS.sub("", text).upper()


def normalise_customer_no(raw: object) -> str:
    """Customer numbers: digits/letters only, no blanks; Excel numbers accepted."""
    if type(raw) is str and raw.isascii() and raw.isalnum():  # the common case: nothing to strip
        return raw.upper()
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if raw is None:
        return ""
    return _BLANKS.sub("", unicodedata.normalize("NFKC", str(raw))).upper()
