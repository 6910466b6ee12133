"""Channel intake on the application: feed files, Excel workbooks, single registrations."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from adapters.feed_records import BadRecord, parse_feed_record
from adapters.side_rows import DeadLetterRow
from cashback.app import BatchResult, CashbackApp, Intake, Outcome
from domain.decision import RegistrationRequest
from domain.provenance import Channel, Provenance

log = structlog.get_logger(__name__)


@dataclass
class FeedFileReport:
    """Every line of the file lands in one count (blank lines too), so the counts add up to `lines`."""

    lines: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, result: BatchResult) -> None:
        for outcome in result.outcomes:
            self.counts[_bucket(outcome)] += 1

    @property
    def accounted(self) -> int:
        return sum(self.counts.values())


def _bucket(outcome: Outcome) -> str:
    if outcome.kind == "registered":
        return "registered"
    if outcome.kind in ("duplicate", "claim_refused"):
        return "duplicates" if outcome.kind == "duplicate" else "claims_refused"
    return "parked"


class NotJsonLines(ValueError):
    """A feed file that is not text at all (a workbook, an archive, an image): refused before anything is stored."""


_SIGNATURES = {
    b"PK\x03\x04": "a zip archive; an .xlsx workbook is one, and workbooks go through `cashback ingest excel`",
    b"\xd0\xcf\x11\xe0": "an old Office file (.xls); workbooks go through `cashback ingest excel` as .xlsx",
    b"\x1f\x8b": "gzip-compressed; decompress it first",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\xff\xfe": "UTF-16 text; save it as UTF-8",
    b"\xfe\xff": "UTF-16 text; save it as UTF-8",
}
_SAMPLE = 8192


def check_text_file(path: Path) -> None:
    """NotJsonLines unless the file's first bytes look like text: a few bad lines are dead-lettered, a binary is not."""
    with path.open("rb") as handle:
        head = handle.read(_SAMPLE)
    for signature, what in _SIGNATURES.items():
        if head.startswith(signature):
            raise NotJsonLines(f"it is {what}")
    if b"\x00" in head:
        raise NotJsonLines("it holds NUL bytes, as binary files do")
    text = head.decode("utf-8", "replace")
    odd = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in "\t\n\r\f"))
    if odd * 10 > len(text):
        raise NotJsonLines(f"{odd} of its first {len(text)} characters are not UTF-8 text")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\r\n")


def ingest_feed_file(
    app: CashbackApp, path: Path, batch_size: int, progress: Callable[[int], None] | None = None
) -> FeedFileReport:
    """Feed records from a JSON Lines file: same shape as the portal's topic (NotJsonLines for a binary file)."""
    check_text_file(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    source = f"file:{path.name}:{digest}"
    report = FeedFileReport()
    intakes: list[Intake] = []
    dead: list[DeadLetterRow] = []

    def flush() -> None:
        result = app.register_batch(intakes, dead_letters=dead)
        report.add(result)
        report.counts["dead_lettered"] += len(dead)
        intakes.clear()
        dead.clear()
        if progress:
            progress(report.lines)

    for number, raw in _lines(path):
        report.lines += 1
        if not raw.strip():
            report.counts["blank"] += 1
            continue
        parsed = parse_feed_record(raw)
        if isinstance(parsed, BadRecord):
            dead.append(DeadLetterRow(source, str(number), parsed.reason, raw, app.now()))
            log.info("feed_dead_letter", source=source, line=number, reason=parsed.reason)
        else:
            by = Provenance(
                actor=f"portal:{parsed.customer_no}", channel=Channel.FEED, source=f"{source}:line {number}"
            )
            intakes.append(Intake(parsed, by, park_unknown_company=True, payload=raw.decode("utf-8", "replace")))
        if len(intakes) + len(dead) >= batch_size:
            flush()
    if intakes or dead:
        flush()
    if progress:
        progress(report.lines)  # blank lines at the end count too: the progress ends at the file's line count
    return report


def register_one(app: CashbackApp, request: RegistrationRequest, actor: str, channel: Channel, source: str) -> Outcome:
    result = app.register_batch([Intake(request, Provenance(actor=actor, channel=channel, source=source))])
    return result.outcomes[0]


def now_iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
