"""`cashback audit verify`: walk every aggregate's hash chain and report what does not hold.

The rows are streamed ordered by (originator id, version); one aggregate's rows are held at a time,
so memory stays bounded whatever the size of the store. Finding kinds:

* ``deleted``    — versions missing before a stored one (a removed event, or the whole start);
* ``edited``     — the event does not match its hash but the next event's link does: its stored
                   payload, topic or version was changed after it was written;
* ``reordered``  — the event's payload is the one sealed at another version of the same aggregate
                   (payloads or versions swapped);
* ``inserted``   — the event does not match and the chain continues around it (the next event is
                   linked to the event before it): it was added by someone without the key;
* ``edited_or_inserted`` — the newest event of its aggregate does not match its hash: nothing comes
                   after it to tell an edit from an insertion;
* ``unsealed``   — no chain hash (a row stored before the chain existed, or written around the recorder);
* ``truncated`` / ``head_mismatch`` / ``missing_aggregate`` — only with ``heads`` (from an export's
  manifest): the newest events, or whole aggregates, present when the manifest was made are gone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from adapters import chain
from cashback.event_rows import RawEvent

log = structlog.get_logger(__name__)

REORDER_SEARCH_MAX = 64  # events of one aggregate beyond which a mismatch is not searched for a swap


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    originator_id: str
    version: int
    subject: str
    detail: str
    notification_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "originator_id": self.originator_id, "version": self.version,
                "subject": self.subject, "detail": self.detail, "notification_id": self.notification_id}

    def line(self) -> str:
        return f"{self.kind:<19} {self.subject:<32} {self.originator_id} v{self.version}: {self.detail}"


@dataclass
class VerifyReport:
    events: int = 0
    aggregates: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    kept: int = 10000  # findings kept in memory for the JSON report; all are printed as they come

    @property
    def ok(self) -> bool:
        return not self.counts

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def add(self, finding: Finding) -> None:
        self.counts[finding.kind] = self.counts.get(finding.kind, 0) + 1
        if len(self.findings) < self.kept:
            self.findings.append(finding)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "aggregates": self.aggregates,
                "seconds": round(self.seconds, 3), "events_per_second": round(self.rate),
                "counts": self.counts, "findings": [f.as_dict() for f in self.findings]}


CREATED = (".Registered", ".Enrolled", ".Issued")


def subject_of(rows: list[RawEvent]) -> str:
    """What the aggregate is, from its creation event (wherever it now stands): device, company, payout."""
    created = next((r for r in rows if r.topic.endswith(CREATED)), None)
    if created is None:
        return "(unknown: creation event missing)"
    try:
        state = json.loads(bytes(created.state))
    except (ValueError, UnicodeDecodeError):
        return "(unreadable creation event)"
    if "serial" in state:
        return f"device {state['serial']}"
    if "run_id" in state:
        return f"payout {state.get('customer_no', '')}/{state['run_id']}"
    if "customer_no" in state:
        return f"company {state['customer_no']}"
    return created.topic.split(":")[-1]


def group_by_aggregate(rows: Iterable[RawEvent]) -> Iterator[list[RawEvent]]:
    current: list[RawEvent] = []
    for row in rows:
        if current and row.originator_id != current[0].originator_id:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def check_aggregate(key: bytes | chain.Sealer, rows: list[RawEvent]) -> list[Finding]:
    """The findings of one aggregate (rows in version order)."""
    sealer = key if isinstance(key, chain.Sealer) else chain.Sealer(key)
    ident = chain.Sealer.ident_part(rows[0].originator_id)

    def _ok(row: RawEvent, version: int, previous: bytes) -> bool:
        stored = row.chain_hash
        return stored is not None and sealer.seal(ident, version, row.topic, row.state, previous) == stored

    problems: list[tuple[str, int, str]] = []  # (kind, index, detail)
    verified: list[bool] = []
    gap_before: list[bool] = []
    expected = 1
    previous: bytes | None = chain.GENESIS
    for i, row in enumerate(rows):
        gap = row.originator_version != expected
        gap_before.append(gap)
        if gap:
            missing = (f"version {expected}" if row.originator_version == expected + 1
                       else f"versions {expected}..{row.originator_version - 1}")
            problems.append(("deleted", i, f"{missing} missing before this event"))
        link = chain.MISSING if gap or previous is None else previous
        if row.chain_hash is None:
            problems.append(("unsealed", i, "no chain hash"))
            verified.append(False)
        elif gap:
            # The link to a deleted event cannot be checked; the chain resumes from this event.
            verified.append(_ok(row, row.originator_version, chain.MISSING))
        else:
            verified.append(_ok(row, row.originator_version, link))
        previous = bytes(row.chain_hash) if row.chain_hash is not None else None
        expected = row.originator_version + 1

    for i, row in enumerate(rows):
        if verified[i] or gap_before[i] or row.chain_hash is None:
            continue
        problems.append(_classify(_ok, sealer, ident, rows, i, verified, gap_before))

    subject = ""
    findings = []
    for kind, i, detail in sorted(problems, key=lambda p: (rows[p[1]].originator_version, p[0])):
        subject = subject or subject_of(rows)
        row = rows[i]
        findings.append(Finding(kind, row.originator_id, row.originator_version, subject, detail,
                                row.notification_id))
    return findings


def _classify(
    ok: Callable[[RawEvent, int, bytes], bool], sealer: chain.Sealer, ident: bytes, rows: list[RawEvent], i: int,
    verified: list[bool], gap_before: list[bool],
) -> tuple[str, int, str]:
    row = rows[i]
    sealed = [bytes(r.chain_hash) for r in rows if r.chain_hash is not None]
    if len(rows) <= REORDER_SEARCH_MAX:
        owners = {bytes(r.chain_hash): j for j, r in enumerate(rows) if r.chain_hash is not None}
        for other in rows:
            for prev in (chain.GENESIS, *sealed):
                digest = sealer.seal(ident, other.originator_version, row.topic, row.state, prev)
                j = owners.get(digest)
                if j is None or other.originator_version == row.originator_version:
                    continue
                owner = rows[j]
                if j != i and verified[j] and (owner.topic, bytes(owner.state)) == (row.topic, bytes(row.state)):
                    return ("inserted", i, f"a copy of version {owner.originator_version}, not in the chain")
                return ("reordered", i, f"payload sealed as version {other.originator_version}: "
                                        "events swapped or renumbered")
    last = i == len(rows) - 1
    if not last:
        nxt = rows[i + 1]
        if not gap_before[i + 1] and verified[i + 1]:
            return ("edited", i, "payload, topic or version changed after it was stored "
                                 "(the next event is linked to its original hash)")
        previous_hash = rows[i - 1].chain_hash if i > 0 else chain.GENESIS
        before = bytes(previous_hash) if previous_hash is not None else chain.GENESIS
        for version in (nxt.originator_version, nxt.originator_version - 1):
            if ok(nxt, version, before):
                return ("inserted", i, "not in the chain: the next event is linked to the one before it")
        return ("edited", i, "does not match its hash (and neither does the next event)")
    return ("edited_or_inserted", i, "newest event of its aggregate does not match its hash: "
                                     "edited after it was stored, or inserted without the key")


def verify(
    rows: Iterable[RawEvent],
    key: bytes,
    *,
    heads: dict[str, tuple[int, str]] | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 20000,
) -> VerifyReport:
    """Walk every chain. ``heads`` maps originator id (text) to (version, hex hash) of an earlier export."""
    report = VerifyReport()
    sealer = chain.Sealer(key)
    started = time.perf_counter()
    seen_heads: set[str] = set()
    next_progress = progress_every

    def emit(finding: Finding) -> None:
        log.info("audit_finding", **finding.as_dict())
        report.add(finding)
        if on_finding:
            on_finding(finding)

    for rows_of_one in group_by_aggregate(rows):
        report.aggregates += 1
        report.events += len(rows_of_one)
        for finding in check_aggregate(sealer, rows_of_one):
            emit(finding)
        if heads is not None:
            ident = rows_of_one[0].originator_id
            if ident in heads:
                seen_heads.add(ident)
                for finding in _check_head(rows_of_one, heads[ident]):
                    emit(finding)
        if progress and report.events >= next_progress:
            progress(report.events)
            next_progress = report.events + progress_every
    if heads is not None:
        for ident in sorted(set(heads) - seen_heads):
            version, _ = heads[ident]
            emit(Finding("missing_aggregate", ident, version, "(unknown: all events missing)",
                         f"the manifest has {version} event(s) of this aggregate; none is stored"))
    if progress:
        progress(report.events)
    report.seconds = time.perf_counter() - started
    log.info("audit_verified", events=report.events, aggregates=report.aggregates, seconds=round(report.seconds, 3),
             events_per_second=round(report.rate), counts=report.counts, with_heads=heads is not None)
    return report


def _check_head(rows: list[RawEvent], head: tuple[int, str]) -> list[Finding]:
    version, hex_hash = head
    by_version = {r.originator_version: r for r in rows}
    subject = subject_of(rows)
    ident = rows[0].originator_id
    stored = by_version.get(version)
    if stored is None:
        newest = rows[-1].originator_version
        if newest < version:
            return [Finding("truncated", ident, version, subject,
                            f"the manifest's head is version {version}; the newest stored is {newest}")]
        return []  # a missing middle event is already reported as deleted
    if stored.chain_hash is None or bytes(stored.chain_hash).hex() != hex_hash:
        return [Finding("head_mismatch", ident, version, subject,
                        "the stored event at the manifest's head version has another hash")]
    return []


def load_heads(path: Any) -> dict[str, tuple[int, str]]:
    """Chain heads of an export: its manifest.json (or the export folder).

    ValueError, saying why, when the file is not such a manifest (OSError when it cannot be read)."""
    from pathlib import Path

    manifest = Path(path)
    if manifest.is_dir():
        manifest = manifest / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text: {error.reason} at byte {error.start}") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error.msg} at line {error.lineno} column {error.colno}") from error
    chain_heads = data.get("chain_heads") if isinstance(data, dict) else None
    heads = chain_heads.get("heads") if isinstance(chain_heads, dict) else None
    if not isinstance(chain_heads, dict) or not isinstance(heads, list):
        raise ValueError('no "chain_heads": {"heads": [...]} in it')
    try:
        loaded = {str(ident): (int(version), bytes.fromhex(digest).hex()) for ident, version, digest in heads}
    except (TypeError, ValueError) as error:
        raise ValueError(f"a chain head is not [aggregate id, version, hex hash]: {error}") from error
    if "count" in chain_heads and chain_heads["count"] != len(heads):
        raise ValueError(f"chain_heads.count is {chain_heads['count']!r} but {len(heads)} heads are listed")
    return loaded
