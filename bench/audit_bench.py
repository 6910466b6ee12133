"""Audit benchmark: chain verification and aggregate replay over N stored events, beside the raw
read rate of the same rows measured in the same run.

    python -m bench.audit_bench            # N = 1,000,000 events
    python -m bench.audit_bench --quick    # N = 100,000
    python -m bench.audit_bench --n 250000 --repeat 3 --keep

The events are real domain events (DeviceRegistration histories and their payouts, made by the
domain and the application's mapper), sealed with the recorders' hash chain and loaded with COPY
into a fresh PostgreSQL schema (dropped at the end unless --keep). Then, on that table:

* raw read   — `SELECT … ORDER BY originator_id, originator_version` through the same server-side
               cursor the verifier uses, rows counted and dropped: the ceiling;
* verify     — `cashback audit verify`'s walk (cashback.audit_chain.verify) over the same stream;
* replay     — every aggregate rebuilt from its events (mapper + the library's mutate), same stream.

Figures go to stdout and bench/audit-results.json (git-ignored); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters import chain  # noqa: E402
from cashback.audit_chain import group_by_aggregate, verify  # noqa: E402
from cashback.bootstrap import Engine, build  # noqa: E402
from cashback.clock import FixedClock  # noqa: E402
from cashback.event_rows import RawEvent, stream_events  # noqa: E402
from cashback.logging import configure  # noqa: E402
from cashback.settings import Settings  # noqa: E402
from domain.decision import Decision  # noqa: E402
from domain.ids import payout_id  # noqa: E402
from domain.provenance import Channel, Provenance  # noqa: E402
from domain.registration import DeviceRegistration  # noqa: E402
from domain.statuses import Reason, Status  # noqa: E402
from domain.terms import DocumentKind  # noqa: E402

RESULTS_FILE = ROOT / "bench" / "audit-results.json"
CAMPAIGN = "fr-2026"
T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
TYPES = [("SB3.0-1AV-41", 5000), ("SB5.0-1AV-41", 7500), ("HM-20", 2500), ("STP10.0-3AV-40", 10000)]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the events -------------------------------------------------------------------------------------

def device_events(i: int) -> list[Any]:
    """One device's history; shapes cycle so that N events hold about N/2.5 devices.

    0: paid (Registered, AddedToPayout, Paid); 1: documents asked, sent, approved (4 events);
    2: rejected at registration (2); 3: payable, waiting (1)."""
    serial = f"3{i:09d}"
    device_type, amount = TYPES[i % len(TYPES)]
    at = T0 + timedelta(seconds=i)
    feed = Provenance(f"portal:{200000 + i % 500}", Channel.FEED,
                      f"kafka:portal.device-registrations.v1:{i % 4}@{i // 4}")
    shape = i % 4
    if shape == 1:
        decision = Decision(Status.DOCS_REQUIRED, amount, None, ("SOLD_IN_OTHER_COUNTRY",), (DocumentKind.INVOICE,))
    elif shape == 2:
        decision = Decision.rejected(Reason.UNKNOWN_SERIAL)
    else:
        decision = Decision(Status.PAYMENT_PENDING, amount)
    device = DeviceRegistration.register(
        campaign_id=CAMPAIGN, serial=serial, device_type=device_type, customer_no=str(200000 + i % 500),
        installed_on=date(2026, 5, 1), decision=decision, deadline=date(2026, 6, 15) if shape == 1 else None,
        by=feed, at=at,
    )
    if shape == 0:
        run = f"run-{i // 1000}"
        pid = payout_id(run, device.customer_no)
        device.add_to_payout(pid, by=Provenance("payment-run", Channel.SYSTEM, run), at=at + timedelta(days=20))
        device.mark_paid(pid, by=Provenance("finance", Channel.FINANCE, f"kafka:payout-results.v1:0@{i}"),
                         at=at + timedelta(days=22))
    elif shape == 1:
        device.upload_document(DocumentKind.INVOICE, f"{i:064x}", 40000 + i % 1000, today=date(2026, 6, 2),
                               by=Provenance(feed.actor, Channel.MANUAL, f"document:{i:064x}"),
                               at=at + timedelta(days=1))
        device.approve_documents(by=Provenance("alice@maker.example", Channel.STAFF, "review:approved"),
                                 at=at + timedelta(days=2))
    return device.collect_events()


def stored_rows(engine: Engine, n_events: int, key: bytes) -> Iterator[tuple[Any, ...]]:
    """(originator_id, version, topic, state, chain_hash) for about n_events events, sealed as the
    recorders seal them."""
    mapper = engine.app.mapper
    made = 0
    i = 0
    while made < n_events:
        stored = [mapper.to_stored_event(e) for e in device_events(i)][: n_events - made]
        for s, digest in zip(stored, chain.chain_batch(key, stored, {}), strict=True):
            yield (s.originator_id, s.originator_version, s.topic, s.state, digest)
        made += len(stored)
        i += 1


def load(engine: Engine, schema: str, dsn: str, n_events: int, key: bytes) -> dict[str, Any]:
    started = time.perf_counter()
    done = 0
    last = started
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        statement = (f'COPY "{schema}".cashback_events (originator_id, originator_version, topic, state, chain_hash)'
                     " FROM STDIN (FORMAT BINARY)")
        with cur.copy(statement) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea", "bytea"])
            for row in stored_rows(engine, n_events, key):
                copy.write_row(row)
                done += 1
                if time.perf_counter() - last > 5:
                    last = time.perf_counter()
                    say(f"load… {done:,} / {n_events:,} events ({done / (last - started):,.0f}/s)")
        conn.commit()
        cur.execute(f'ANALYZE "{schema}".cashback_events')
        conn.commit()
        table = f'"{schema}".cashback_events'
        cur.execute(f"SELECT COUNT(*), COUNT(DISTINCT originator_id), pg_total_relation_size('{table}') FROM {table}")
        count, aggregates, size = cur.fetchone()  # type: ignore[misc]
    seconds = time.perf_counter() - started
    say(f"loaded {count:,} events of {aggregates:,} aggregates in {seconds:.1f} s")
    return {"events": count, "aggregates": aggregates, "table_bytes": size, "seconds": round(seconds, 2)}


# --- the measures -----------------------------------------------------------------------------------

def raw_read(engine: Engine, batch: int) -> tuple[int, float]:
    started = time.perf_counter()
    n = 0
    for _ in stream_events(engine.app.recorder, "aggregate", batch=batch, raw_tuples=True):
        n += 1
    return n, time.perf_counter() - started


def verify_walk(engine: Engine, batch: int, key: bytes) -> tuple[int, float]:
    report = verify(stream_events(engine.app.recorder, "aggregate", batch=batch), key)
    if not report.ok:
        raise SystemExit(f"the generated store does not verify: {report.counts}")
    return report.events, report.seconds


def replay(engine: Engine, batch: int) -> tuple[int, float]:
    from eventsourcing.persistence import StoredEvent

    mapper = engine.app.mapper
    started = time.perf_counter()
    n = 0
    rows: Iterator[RawEvent] = stream_events(engine.app.recorder, "aggregate", batch=batch)
    for group in group_by_aggregate(rows):
        aggregate = None
        ident = uuid.UUID(group[0].originator_id)
        for row in group:
            event = mapper.to_domain_event(StoredEvent(ident, row.originator_version, row.topic, row.state))
            aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
            n += 1
        assert aggregate is not None
    return n, time.perf_counter() - started


def measure(name: str, fn: Any, repeat: int, *args: Any) -> dict[str, Any]:
    rates = []
    events = 0
    for attempt in range(1, repeat + 1):
        events, seconds = fn(*args)
        rates.append(events / seconds)
        say(f"{name} #{attempt}: {events:,} events in {seconds:.2f} s = {events / seconds:,.0f} events/s")
    return {"events": events, "rates": [round(r) for r in rates], "best": round(max(rates)),
            "median": round(statistics.median(rates))}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="events (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="N = 100,000")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measure (default 2; best and median)")
    parser.add_argument("--batch", type=int, default=5000, help="rows per fetch of the server-side cursor")
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="JSON results (bench/audit-results.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = 100_000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure("WARNING")  # structlog JSON on stderr, as the CLI does
    dsn = os.environ.get("CASHBACK_PG_DSN") or Settings().pg_dsn
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    key = chain.development_key()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    say(f"schema {schema}; {args.n:,} events")
    engine = build(Settings(store="postgres", pg_dsn=dsn, pg_schema=schema), clock=FixedClock(T0))
    try:
        loaded = load(engine, schema, dsn, args.n, key)
        raw = measure("raw read", raw_read, args.repeat, engine, args.batch)
        walk = measure("verify", verify_walk, args.repeat, engine, args.batch, key)
        rebuilt = measure("replay", replay, args.repeat, engine, args.batch)
    finally:
        engine.close()
        if args.keep:
            say(f"kept schema {schema}")
        else:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    results = {
        "benchmark": "audit", "at": datetime.now(UTC).isoformat(timespec="seconds"), "n": args.n,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "store": loaded, "batch": args.batch, "repeat": args.repeat,
        "raw_read": raw, "verify": walk, "replay": rebuilt,
        "ratios": {"verify_to_raw": round(walk["best"] / raw["best"], 3),
                   "replay_to_raw": round(rebuilt["best"] / raw["best"], 3)},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    per_event = loaded["table_bytes"] / max(loaded["events"], 1)
    print(f"audit benchmark — {loaded['events']:,} events of {loaded['aggregates']:,} aggregates "
          f"({loaded['table_bytes'] / 2**20:,.0f} MiB with indexes, {per_event:,.0f} B/event); PostgreSQL, "
          f"server-side cursor, {args.batch} rows per fetch; best of {args.repeat}")
    print(f"{'measure':<12} {'events/s':>12} {'median':>12} {'vs raw read':>12}")
    for name, figures in (("raw read", raw), ("verify", walk), ("replay", rebuilt)):
        print(f"{name:<12} {figures['best']:>12,} {figures['median']:>12,} {figures['best'] / raw['best']:>11.0%}")
    print(f"peak RSS of the whole run: {results['peak_rss_mib']} MiB (rows are streamed, one aggregate held at a time)")
    print(f"results: {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
