"""ingest_feed_file: every line of a feed file is accounted for, and a binary file is refused whole."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from cashback.app import CashbackApp
from cashback.intake import NotJsonLines, check_text_file, ingest_feed_file
from tests.unit.conftest import ENROLLED, PAYABLE_SB3, PAYABLE_SB5, SB3, SB5


def _record(serial: str, device_type: str) -> bytes:
    return json.dumps({"schema_version": 1, "serial": serial, "device_type": device_type, "customer_no": ENROLLED,
                       "installed_on": "2026-05-04", "plant_id": "plant-1", "reported_at": "2026-06-01T02:00:00Z"}
                      ).encode()


def _dead_letters(app: CashbackApp) -> int:
    return int(app.recorder.fetch_all("SELECT COUNT(*) FROM cashback_dead_letters")[0][0])  # type: ignore[attr-defined]


def test_blank_lines_are_counted_so_the_counts_add_up_to_the_lines(app: CashbackApp, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join([_record(PAYABLE_SB3, SB3), b"", b"   \t", _record(PAYABLE_SB5, SB5), b""]) + b"\n")
    lines_in_file = len(feed.read_bytes().splitlines())
    seen: list[int] = []
    report = ingest_feed_file(app, feed, batch_size=1, progress=seen.append)
    assert report.counts["blank"] == 3 and report.counts["registered"] == 2
    assert report.lines == report.accounted == lines_in_file == 5
    assert seen[-1] == lines_in_file and seen == sorted(seen)  # the progress ends at the total: all lines


def test_a_few_bad_lines_among_good_ones_are_dead_lettered(app: CashbackApp, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join([_record(PAYABLE_SB3, SB3), b"caf\xe9 not json", b"{", _record(PAYABLE_SB5, SB5)]))
    report = ingest_feed_file(app, feed, batch_size=10)
    assert (report.counts["registered"], report.counts["dead_lettered"], report.lines) == (2, 2, 4)


def _xlsx(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>" * 100)
    return path


@pytest.mark.parametrize(("content", "why"), [
    (b"\x00\x01\x02\x03binary\x00" * 50, "NUL bytes"),
    (b"\xff\xfe{\x00}\x00", "UTF-16"),
    (bytes(range(0x80, 0x100)) * 4, "not UTF-8 text"),
    (b"%PDF-1.7\n...", "PDF"),
])
def test_a_binary_file_is_refused(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(content)
    with pytest.raises(NotJsonLines, match=why):
        check_text_file(path)


def test_a_workbook_is_refused_before_anything_is_stored(app: CashbackApp, tmp_path: Path) -> None:
    with pytest.raises(NotJsonLines, match=r"zip archive.*ingest excel"):
        ingest_feed_file(app, _xlsx(tmp_path / "registrations.xlsx"), batch_size=10)
    assert _dead_letters(app) == 0


@pytest.mark.parametrize("content", [b"", b"\n\n", "{\"serial\": \"é\"}\n".encode(), b"{}\r\n{}\r\n"])
def test_text_files_pass_the_check(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(content)
    check_text_file(path)
