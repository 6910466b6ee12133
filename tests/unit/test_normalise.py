"""Serial numbers and device types typed by hand, pasted from PDFs or read from Excel."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.normalise import InvalidSerial, normalise_device_type, normalise_serial

VALID_SERIAL = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=4, max_size=40)
SEPARATORS = st.sampled_from([" ", "-", "\u00a0", "\u202f", "\u2013", "\t", "  "])


@pytest.mark.parametrize(
    "typed",
    [
        "3001234567",
        "3001 234 567",
        "3001-234-567",
        " 3001234567 ",
        "3001\u00a0234\u00a0567",  # non-breaking spaces from a PDF
        "3001\u202f234\u202f567",  # narrow non-breaking spaces
        "3001\u2013234\u2013567",  # en dashes
        "\t3001 - 234 - 567\n",
        3001234567,  # a number cell
        3001234567.0,  # an Excel float cell
    ],
)
def test_spellings_of_the_same_serial_compare_equal(typed: object) -> None:
    assert normalise_serial(typed) == "3001234567"


def test_lower_case_serial_is_upper_cased() -> None:
    assert normalise_serial("abc-12 3d") == "ABC123D"
    assert normalise_serial("abc123d") == normalise_serial("ABC123D")


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\u00a0-\u202f", "empty"),
        (None, "empty"),
        (True, "empty"),
        ("12", "4 to 40"),
        ("A1-2", "4 to 40"),  # three characters once the dash is gone
        ("12.5", "4 to 40"),
        (12.5, "whole number"),
        ("3001#234$567", "letters or digits"),
        ("3001*2345", "letters or digits"),
        ("X" * 41, "4 to 40"),
    ],
)
def test_bad_serials_are_refused_with_a_readable_message(bad: object, words: str) -> None:
    with pytest.raises(InvalidSerial) as raised:
        normalise_serial(bad)
    message = str(raised.value)
    assert words in message
    assert message.startswith("serial")


def test_refusal_message_quotes_what_was_typed() -> None:
    with pytest.raises(InvalidSerial, match=r"'3001#234'"):
        normalise_serial(" 3001#234 ")


def test_invalid_serial_is_a_value_error() -> None:
    assert issubclass(InvalidSerial, ValueError)


@pytest.mark.parametrize(
    "typed",
    [
        "SB 3.0-1AV-41",
        "SB3.0-1AV-41",
        "sb3.0-1av-41",
        "SB3.0\u20131AV\u201341",  # en dashes
        " SB\u00a03.0-1AV-41 ",
        "Sb 3.0 - 1aV - 41",
    ],
)
def test_spellings_of_the_same_device_type_compare_equal(typed: str) -> None:
    assert normalise_device_type(typed) == "SB3.0-1AV-41"


def test_device_type_keeps_its_dots_and_dashes() -> None:
    assert normalise_device_type("SB3.0-1AV-41") != normalise_device_type("SB301AV41")


def test_missing_device_type_is_empty() -> None:
    assert normalise_device_type(None) == ""


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(max_size=50))
def test_normalise_serial_is_idempotent(text: str) -> None:
    try:
        once = normalise_serial(text)
    except InvalidSerial:
        return
    assert normalise_serial(once) == once


@settings(max_examples=100, deadline=None, database=None)
@given(st.one_of(st.text(max_size=30), st.integers(min_value=0), st.floats(allow_nan=False)))
def test_normalise_serial_either_returns_a_canonical_serial_or_refuses(raw: object) -> None:
    try:
        serial = normalise_serial(raw)
    except InvalidSerial:
        return
    assert serial.isascii() and serial.isalnum() and serial.upper() == serial
    assert 4 <= len(serial) <= 40


@settings(max_examples=100, deadline=None, database=None)
@given(VALID_SERIAL, st.data())
def test_blanks_and_dashes_anywhere_do_not_change_a_serial(serial: str, data: st.DataObject) -> None:
    positions = data.draw(st.lists(st.integers(min_value=0, max_value=len(serial)), max_size=8))
    spelled = serial
    for position in sorted(positions, reverse=True):
        spelled = spelled[:position] + data.draw(SEPARATORS) + spelled[position:]
    if data.draw(st.booleans()):
        spelled = spelled.lower()
    assert normalise_serial(spelled) == normalise_serial(serial) == serial


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", min_size=1, max_size=20), st.data())
def test_blanks_anywhere_do_not_change_a_device_type(device_type: str, data: st.DataObject) -> None:
    positions = data.draw(st.lists(st.integers(min_value=0, max_value=len(device_type)), max_size=5))
    spelled = device_type
    for position in sorted(positions, reverse=True):
        spelled = spelled[:position] + data.draw(st.sampled_from([" ", "\u00a0", "\u202f"])) + spelled[position:]
    assert normalise_device_type(spelled.lower()) == normalise_device_type(device_type) == device_type


def _outcome(fn: object, raw: object) -> tuple[str, str]:
    try:
        return ("ok", fn(raw))  # type: ignore[operator]
    except InvalidSerial as error:
        return ("refused", str(error))


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(alphabet="abcxyzABCXYZ0123456789", max_size=45))
def test_the_plain_serial_shortcut_gives_the_general_rules_answer(text: str) -> None:
    from domain.normalise import _normalise_serial_text

    assert _outcome(normalise_serial, text) == _outcome(_normalise_serial_text, text)


@pytest.mark.parametrize("number", [-3283062974, -3283062974.0])
def test_a_negative_number_cell_is_not_a_serial(number: object) -> None:
    with pytest.raises(InvalidSerial, match="negative"):
        normalise_serial(number)


@given(st.one_of(st.text(max_size=12), st.text(alphabet="abcXYZ019", max_size=12)))
def test_customer_numbers_lose_blanks_and_case_whatever_the_path(raw: str) -> None:
    import re
    import unicodedata

    from domain.normalise import normalise_customer_no

    slow = re.sub(r"[\s\u00a0\u2007\u202f\u200b\ufeff]+", "", unicodedata.normalize("NFKC", raw)).upper()
    assert normalise_customer_no(raw) == slow
    assert normalise_customer_no(f" {raw}\u00a0") == slow
