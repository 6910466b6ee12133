"""Feed benchmark: the real feed worker end to end, against references measured in the same run.

    python -m bench.feed_bench            # N = 100,000 (RSS also at N/10)
    python -m bench.feed_bench --quick    # N = 10,000
    python -m bench.feed_bench --full     # RSS at N and 10 x N
    python -m bench.feed_bench --n 50000 --rss-scale 4

Everything lives in fresh PostgreSQL schemas and fresh Kafka topics that are
dropped at the end, also on Ctrl-C. Figures go to stdout (a table) and to
bench/results.json; progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN_FILE = ROOT / "examples" / "campaign.toml"
RESULTS_FILE = ROOT / "bench" / "results.json"
NOW = "2026-12-01T09:00:00+01:00"
PRODUCED_ON = "2025-06-01"
INSTALLED_ON = "2026-06-01"
ENROLLED_ON = "2026-01-15"
COUNTRY = "FR"
PARTITIONS = 4
N_COMPANIES = 50
WARM_UP_RECORDS = 20_000
POLL_S = 0.02  # how often the end-to-end clock looks at the stored offsets (its resolution)
UNKNOWN_SHARE = 0.01
MALFORMED_SHARE = 0.005
SAVE_BATCH = 500
PER_RECORD_SAMPLE = 5_000
TARGET_FACTOR = 2.0
MIB = 1024 * 1024


# --- output ---------------------------------------------------------------------------------------

def quiesce() -> None:
    """Before a timed section: the setup's dirty pages (catalog CSV and cache, topic segments, tables)
    written back now, not by the kernel's flusher in the middle of the measurement (measured: up to
    3 s of kworker CPU landing inside a 3 s run)."""
    os.sync()


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Progress:
    """'label… 45%' lines on stderr, at most every 10% or every 5 s."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, max(total, 1)
        self.last_pct, self.last_time = -10, 0.0

    def update(self, done: int, extra: str = "") -> None:
        pct = int(100 * done / self.total)
        now = time.monotonic()
        if pct >= self.last_pct + 10 or now - self.last_time >= 5 or done >= self.total:
            if done >= self.total and self.last_pct >= 100:
                return
            self.last_pct, self.last_time = pct, now
            say(f"{self.label}… {pct}%{('  ' + extra) if extra else ''}")


# --- resources, cleaned up even on Ctrl-C -----------------------------------------------------------

@dataclass
class Resources:
    pg_dsn: str
    bootstrap: str
    tmp: Path
    schemas: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)

    def new_schema(self, prefix: str) -> str:
        name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        self.schemas.append(name)
        return name

    def cleanup(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        for close in self.closers:
            try:
                close()
            except Exception as error:  # clean-up goes on
                say(f"clean-up: close failed: {error}")
        if self.schemas:
            try:
                with psycopg.connect(self.pg_dsn, autocommit=True) as conn:
                    for name in self.schemas:
                        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
                say(f"clean-up: dropped schemas {', '.join(self.schemas)}")
            except Exception as error:
                say(f"clean-up: could not drop schemas {self.schemas}: {error}")
        if self.topics or self.groups:
            from kafka import KafkaAdminClient

            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="cashback-bench-admin")
            except Exception as error:
                say(f"clean-up: no Kafka admin client: {error}")
            else:
                try:
                    existing = set(admin.list_topics())
                    doomed = [t for t in self.topics if t in existing]
                    if doomed:
                        admin.delete_topics(doomed, timeout_ms=30_000)
                        say(f"clean-up: deleted topics {', '.join(doomed)}")
                except Exception as error:
                    say(f"clean-up: could not delete topics {self.topics}: {error}")
                try:
                    delete_groups = getattr(admin, "delete_groups", None) or admin.delete_consumer_groups
                    if self.groups:
                        delete_groups(self.groups)
                except Exception as error:  # groups expire on their own anyway
                    say(f"clean-up: consumer groups left to expire ({error.__class__.__name__})")
                admin.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- the data -----------------------------------------------------------------------------------------

def eligible_types() -> list[str]:
    from adapters.campaign_file import load_terms

    return [e.device_type for e in load_terms(CAMPAIGN_FILE).eligible_types]


def companies() -> list[str]:
    return [str(300000 + 37 * k) for k in range(N_COMPANIES)]


@dataclass(frozen=True, slots=True)
class FeedRow:
    index: int
    serial: str
    device_type: str
    customer_no: str
    kind: str  # "valid", "unknown_customer", "malformed"
    value: bytes


def serial_of(index: int) -> str:
    return f"4{index + 1:09d}"


def feed_rows(n: int, seed: int = 20261201) -> Iterator[FeedRow]:
    """N records of distinct serials; ~1% unknown customer numbers, ~0.5% malformed."""
    rng = random.Random(seed)
    types, known = eligible_types(), companies()
    for i in range(n):
        serial, device_type = serial_of(i), types[i % len(types)]
        record: dict[str, Any] = {
            "schema_version": 1, "serial": serial, "device_type": device_type,
            "customer_no": known[rng.randrange(len(known))], "installed_on": INSTALLED_ON,
            "plant_id": f"PLANT-{rng.randrange(10**6):06d}", "reported_at": "2026-12-01T02:00:00+00:00",
        }
        draw = rng.random()
        if draw < MALFORMED_SHARE:
            yield FeedRow(i, serial, device_type, record["customer_no"], "malformed", malformed(record, i))
            continue
        kind = "valid"
        if draw < MALFORMED_SHARE + UNKNOWN_SHARE:
            record["customer_no"], kind = str(900000 + i % 5000), "unknown_customer"
        yield FeedRow(i, serial, device_type, record["customer_no"], kind, json.dumps(record).encode())


def malformed(record: dict[str, Any], i: int) -> bytes:
    text = json.dumps(record)
    match i % 5:
        case 0:
            return text[: len(text) // 2].encode()  # truncated JSON
        case 1:
            return json.dumps({**record, "schema_version": 2}).encode()
        case 2:
            return json.dumps({k: v for k, v in record.items() if k != "installed_on"}).encode()
        case 3:
            return json.dumps({**record, "serial": "?!"}).encode()
        case _:
            return b"[1, 2, 3]"


def write_inputs(folder: Path, n: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    catalog, companies_csv = folder / "catalog.csv", folder / "companies.csv"
    types = eligible_types()
    with catalog.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["serial", "device_type", "production_date", "country_of_sale"])
        for i in range(n):
            writer.writerow([serial_of(i), types[i % len(types)], PRODUCED_ON, COUNTRY])
    with companies_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_no", "name", "contact_email", "enrolled_on"])
        for c in companies():
            writer.writerow([c, f"Installateur {c}", f"contact@{c}.example", ENROLLED_ON])
    return catalog, companies_csv


# --- Kafka ------------------------------------------------------------------------------------------------

def produce(res: Resources, topic: str, n: int) -> dict[str, Any]:
    """A plain kafka-python producer, as the portal would publish (key = serial)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=res.bootstrap, acks="all", linger_ms=5, client_id="cashback-bench")
    counts = {"valid": 0, "unknown_customer": 0, "malformed": 0}
    bar = Progress(f"producing {n} records", n)
    started = time.perf_counter()
    try:
        for row in feed_rows(n):
            producer.send(topic, key=row.serial.encode(), value=row.value)
            counts[row.kind] += 1
            if row.index % 5000 == 0:
                bar.update(row.index)
        producer.flush()
    finally:
        producer.close()
    elapsed = time.perf_counter() - started
    bar.update(n)
    return {"records": n, "seconds": elapsed, "records_per_s": n / elapsed, "counts": counts, "cpu_us_per_record": None}


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="cashback-bench-offsets")
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: int(offset) for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def raw_consume(res: Resources, topic: str, n: int) -> dict[str, Any]:
    """kafka-python alone: fresh group, from the beginning, counting records, no processing."""
    from kafka import KafkaConsumer

    group = f"bench-raw-{uuid.uuid4().hex[:8]}"
    res.groups.append(group)
    quiesce()
    cpu, started = time.process_time(), time.perf_counter()
    consumer = KafkaConsumer(topic, bootstrap_servers=res.bootstrap, group_id=group, client_id="cashback-bench-raw",
                             auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=2000)
    try:
        return _count_consumed(consumer, n, "raw Kafka consumption", cpu, started)
    finally:
        consumer.close(autocommit=False)


def raw_consume_librdkafka(res: Resources, topic: str, n: int) -> dict[str, Any]:
    """The worker's client (adapters/feed_source.py) alone: fresh group, from the beginning, no processing."""
    from adapters.kafka_clients import feed_source

    group = f"bench-rawrd-{uuid.uuid4().hex[:8]}"
    res.groups.append(group)
    quiesce()
    cpu, started = time.process_time(), time.perf_counter()
    consumer = feed_source(res.bootstrap, group, client_id="cashback-bench-raw")
    consumer.subscribe([topic])
    try:
        return _count_consumed(consumer, n, "raw librdkafka consumption", cpu, started)
    finally:
        consumer.close()


def _count_consumed(consumer: Any, n: int, label: str, cpu: float, started: float) -> dict[str, Any]:
    """Poll until n records came (both clients answer ``poll`` with records by partition)."""
    bar = Progress(label, n)
    count, first = 0, None
    while count < n:
        if time.perf_counter() - started > 600:
            raise RuntimeError(f"raw consumption stalled at {count}/{n}")
        for records in consumer.poll(timeout_ms=500, max_records=2000).values():
            if first is None and records:
                first = time.perf_counter()
            count += len(records)
        bar.update(count)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    steady = elapsed - ((first or started) - started)
    return {"records": count, "seconds": elapsed, "records_per_s": count / elapsed,
            "cpu_seconds": cpu, "cpu_us_per_record": 1e6 * cpu / max(count, 1),
            "after_first_record_records_per_s": count / steady if steady > 0 else None}


# --- end to end: the real worker as a subprocess ----------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """The process and its descendants (the feed worker forks its writer)."""
    pids, i = [pid], 0
    while i < len(pids):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            pids.extend(int(c) for c in Path(f"/proc/{pids[i]}/task/{pids[i]}/children").read_text().split())
        i += 1
    return pids


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of the process and its descendants, summed (each one's peak: an upper bound)."""
    out: dict[str, int] = {}
    for one in process_tree(pid):
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = out.get(key, 0) + int(value.split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process and its live descendants, from /proc/<pid>/stat."""
    total = None
    for one in process_tree(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total = (total or 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def tracked(conn: psycopg.Connection[Any], schema: str, topic: str) -> dict[int, int]:
    """partition -> stored offset of the worker (nothing yet: {})."""
    try:
        rows = conn.execute(
            sql.SQL("SELECT application_name, notification_id FROM {}.cashback_tracking"
                    " WHERE application_name LIKE %s").format(sql.Identifier(schema)),
            (f"kafka:{topic}:%",),
        ).fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    return {int(name.rsplit(":", 1)[1]): int(pos) for name, pos in rows}


def scalar(conn: psycopg.Connection[Any], statement: str, schema: str) -> int:
    row = conn.execute(sql.SQL(statement).format(sql.Identifier(schema))).fetchone()
    return int(row[0]) if row else 0


@dataclass
class World:
    n: int
    schema: str
    topic: str
    group: str
    folder: Path
    catalog: Path
    companies: Path
    env: dict[str, str]


def new_world(res: Resources, n: int, label: str, catalog_n: int | None = None) -> World:
    from adapters.kafka_clients import ensure_topics

    tag = uuid.uuid4().hex[:8]
    schema = res.new_schema(label)
    topic, group = f"bench-feed-{tag}", f"bench-feed-{tag}"
    res.topics += [topic, f"{topic}.dlq"]
    res.groups.append(group)
    folder = res.tmp / f"{label}-{tag}"
    say(f"[{label}] schema {schema}, topic {topic}; writing a catalog of {catalog_n or n} serials")
    catalog, companies_csv = write_inputs(folder, catalog_n or n)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CASHBACK_")},
        "CASHBACK_STORE": "postgres",
        "CASHBACK_PG_DSN": res.pg_dsn,
        "CASHBACK_PG_SCHEMA": schema,
        "CASHBACK_DATA_DIR": str(folder / "data"),
        "CASHBACK_CAMPAIGN_FILE": str(CAMPAIGN_FILE),
        "CASHBACK_CATALOG_FILE": str(catalog),
        "CASHBACK_KAFKA_BOOTSTRAP": res.bootstrap,
        "CASHBACK_FEED_TOPIC": topic,
        "CASHBACK_FEED_DEAD_LETTER_TOPIC": f"{topic}.dlq",
        "CASHBACK_FEED_GROUP": group,
        "PYTHONUNBUFFERED": "1",
    }
    ensure_topics(res.bootstrap, {topic: PARTITIONS, f"{topic}.dlq": 1})
    return World(n, schema, topic, group, folder, catalog, companies_csv, env)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cashback.cli", "--now", NOW, *args]


IDLE_RSS = """
import sys
from datetime import datetime
from cashback.bootstrap import build
from cashback.clock import FixedClock
from cashback.settings import Settings
engine = build(Settings(), clock=FixedClock(datetime.fromisoformat(sys.argv[1])))
engine.app.enrolments()
status = open("/proc/self/status").read().splitlines()
print([int(line.split()[1]) for line in status if line.startswith("VmHWM")][0])
engine.close()
"""


def idle_rss_mib(world: World) -> float | None:
    """Peak RSS of a process that builds the engine (catalog of N serials loaded) and processes nothing."""
    done = subprocess.run([sys.executable, "-c", IDLE_RSS, NOW], env=world.env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    return int(done.stdout.strip()) / 1024 if done.returncode == 0 and done.stdout.strip() else None


def end_to_end(res: Resources, world: World, batch_size: int, label: str, workers: int = 1) -> dict[str, Any]:
    enrol = subprocess.run(cli("enrol", str(world.companies)), env=world.env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    if enrol.returncode != 0:
        raise RuntimeError(f"enrol failed: {enrol.stderr or enrol.stdout}")
    ends = end_offsets(res.bootstrap, world.topic)
    if sum(ends.values()) != world.n:
        raise RuntimeError(f"topic {world.topic} holds {sum(ends.values())} records, expected {world.n}")
    log_path = world.folder / "worker.log"
    bar = Progress(f"[{label}] end-to-end, feed worker on {world.n} records", world.n)
    timeout = max(600.0, world.n / 100)
    with log_path.open("wb") as log, psycopg.connect(res.pg_dsn, autocommit=True) as conn:
        quiesce()
        started, started_wall = time.perf_counter(), time.time()
        procs = [subprocess.Popen(cli("--log-level", "INFO", "worker", "feed", "--batch-size", str(batch_size)),
                                  env=world.env,
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                 for _ in range(workers)]
        res.processes.extend(procs)
        peak_rss, first_at, first_done, done = 0, None, 0, 0
        while True:
            peak_rss = max(peak_rss, *(rss_kib(proc.pid).get("VmRSS", 0) for proc in procs))
            stored = tracked(conn, world.schema, world.topic)
            done = sum(min(stored.get(p, -1) + 1, end) for p, end in ends.items())
            now = time.perf_counter()
            if done and first_at is None:
                first_at, first_done = now, done
            if all(stored.get(p, -1) >= end - 1 for p, end in ends.items()):
                break
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a worker exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
            if now - started > timeout:
                raise RuntimeError(f"end-to-end timed out at {done}/{world.n} after {timeout:.0f} s")
            bar.update(done, f"{done / (now - started):,.0f} rec/s, RSS {peak_rss / 1024:,.0f} MiB")
            time.sleep(POLL_S)
        elapsed = time.perf_counter() - started
        bar.update(world.n)
        finals = [rss_kib(proc.pid) for proc in procs]
        final = {key: max(f.get(key, 0) for f in finals) for key in ("VmHWM", "VmRSS")}
        cpus = [cpu_seconds(proc.pid) for proc in procs]
        cpu = sum(c for c in cpus if c is not None) if all(c is not None for c in cpus) else None
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        checks = {
            "events": scalar(conn, "SELECT count(*) FROM {}.cashback_events WHERE topic LIKE '%DeviceRegistration%'",
                             world.schema),
            "parked": scalar(conn, "SELECT count(*) FROM {}.cashback_parked", world.schema),
            "dead_letters": scalar(conn, "SELECT count(*) FROM {}.cashback_dead_letters", world.schema),
        }
    stopped = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.startswith("feed worker stopped")]
    peak = max(peak_rss, final.get("VmHWM", 0), final.get("VmRSS", 0))
    steady = None
    if first_at is not None and first_at - started < elapsed:
        steady = (world.n - first_done) / (elapsed - (first_at - started))
    ready = ready_after(log_path, started_wall)
    return {
        "records": world.n, "seconds": elapsed, "records_per_s": world.n / elapsed,
        "ready_after_s": ready,
        "from_ready": {"records": world.n, "seconds": elapsed - ready, "records_per_s": world.n / (elapsed - ready)}
        if ready is not None and ready < elapsed else None,
        "first_batch_stored_after_s": (first_at - started) if first_at else None,
        "after_first_batch_records_per_s": steady,
        "cpu_seconds": cpu, "cpu_us_per_record": 1e6 * cpu / world.n if cpu else None,
        "peak_rss_mib": peak / 1024, "vmhwm_mib": final.get("VmHWM", 0) / 1024,
        "max_sampled_vmrss_mib": peak_rss / 1024,
        "workers": workers, "worker_exit_codes": [proc.returncode for proc in procs],
        "worker_summary": stopped[-1] if stopped else None,
        "stored": checks,
    }


def catalog_load(catalog: Path, cache_dir: Path) -> dict[str, Any]:
    """The catalog's first parse (what the enrol step before each end-to-end run pays) and a start
    that reads it from its cache (what each worker start pays)."""
    from adapters.catalog_csv import load_catalog

    started = time.perf_counter()
    parsed = load_catalog(catalog, cache_dir=cache_dir)
    middle = time.perf_counter()
    cached = load_catalog(catalog, cache_dir=cache_dir)
    ended = time.perf_counter()
    assert len(parsed) == len(cached)
    return {"serials": len(cached), "parse_s": middle - started, "cached_s": ended - middle}


def ready_after(log_path: Path, started_wall: float) -> float | None:
    """Seconds from the workers' launch to the first assignment of partitions (the worker has started,
    built its engine, joined the group and sought to the stored offsets: records can flow)."""
    moments = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"feed_partitions_assigned"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("positions"):
            moments.append(datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp())
    return min(moments) - started_wall if moments else None


# --- references: the library's paths and the raw floors, each in its own schema ----------------------------------

def reference_app(res: Resources, catalog: Path, label: str) -> Any:
    """The references run on the library's own path: a plain ``eventsourcing`` Application with the
    library's PostgreSQL recorder (no project code between ``save()`` and the database), saving the
    project's DeviceRegistration aggregates. The campaign terms and catalog of the project's app are
    only used to decide the requests when the aggregates are built (not timed)."""
    from eventsourcing.application import Application

    from cashback.app import DateAsISO
    from cashback.bootstrap import build
    from cashback.clock import FixedClock
    from cashback.settings import Settings

    class LibraryApp(Application[uuid.UUID]):
        name = "Reference"

        def register_transcodings(self, transcoder: Any) -> None:
            super().register_transcodings(transcoder)
            transcoder.register(DateAsISO())  # the events' dates (installed_on)

    schema = res.new_schema(label)
    settings = Settings(store="postgres", pg_dsn=res.pg_dsn, pg_schema=schema, campaign_file=CAMPAIGN_FILE,
                        catalog_file=catalog, data_dir=res.tmp / "data")
    env = {k: v for k, v in settings.event_store_env().items() if not k.endswith("_RECORDER_TOPIC")}
    library_app = LibraryApp(env=env)
    res.closers.append(library_app.close)
    engine = build(settings, clock=FixedClock(datetime.fromisoformat(NOW)))
    res.closers.append(engine.close)
    library_app.today, library_app.now = engine.app.today, engine.app.now  # type: ignore[attr-defined]
    library_app.terms, library_app.catalog = engine.app.terms, engine.app.catalog  # type: ignore[attr-defined]
    return library_app, schema


def build_aggregates(app: Any, n: int, topic: str) -> list[Any]:
    """One DeviceRegistration per serial, decided as CashbackApp._decide_batch does (one event each here)."""
    from domain.deadline import document_deadline
    from domain.decision import RegistrationRequest, decide
    from domain.enrolment import Enrolment
    from domain.provenance import Channel, Provenance
    from domain.registration import DeviceRegistration
    from domain.statuses import Status

    known = companies()
    enrolments = {c: Enrolment(customer_no=c, name=f"Installateur {c}", contact_email=f"contact@{c}.example",
                               enrolled_on=date.fromisoformat(ENROLLED_ON)) for c in known}
    today, at, installed = app.today(), app.now(), date.fromisoformat(INSTALLED_ON)
    aggregates = []
    for row in feed_rows(n):
        customer_no = row.customer_no if row.kind == "valid" else known[row.index % len(known)]
        request = RegistrationRequest(serial=row.serial, device_type=row.device_type, installed_on=installed,
                                      customer_no=customer_no)
        decision = decide(request, app.catalog.lookup(row.serial), app.terms, enrolments[customer_no], today)
        deadline = (document_deadline(today, app.terms.document_window_days)
                    if decision.status is Status.DOCS_REQUIRED else None)
        by = Provenance(actor=f"portal:{customer_no}", channel=Channel.FEED,
                        source=f"kafka:{topic}/{row.index % PARTITIONS}/{row.index // PARTITIONS}")
        aggregates.append(DeviceRegistration.register(
            campaign_id=app.terms.id, serial=row.serial, device_type=row.device_type, customer_no=customer_no,
            installed_on=installed, decision=decision, deadline=deadline, by=by, at=at))
    return aggregates


def per_record_save(res: Resources, catalog: Path, n: int, topic: str) -> dict[str, Any]:
    app, _ = reference_app(res, catalog, "perrec")
    sample = min(n, PER_RECORD_SAMPLE)
    aggregates = build_aggregates(app, sample, topic)
    bar = Progress(f"reference: app.save() per record, {sample} records", sample)
    quiesce()
    cpu, started = time.process_time(), time.perf_counter()
    for i, aggregate in enumerate(aggregates, 1):
        app.save(aggregate)
        if i % 250 == 0:
            bar.update(i)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"records": sample, "seconds": elapsed, "records_per_s": sample / elapsed,
            "cpu_seconds": cpu, "cpu_us_per_record": 1e6 * cpu / sample}


def batched_save(res: Resources, catalog: Path, n: int, topic: str) -> tuple[dict[str, Any], Any]:
    app, _ = reference_app(res, catalog, "batched")
    say(f"reference: building {n} aggregates (not timed)")
    aggregates = build_aggregates(app, n, topic)
    bar = Progress(f"reference: app.save(*{SAVE_BATCH} aggregates), {n} records", n)
    quiesce()
    cpu, started = time.process_time(), time.perf_counter()
    for start in range(0, n, SAVE_BATCH):
        app.save(*aggregates[start:start + SAVE_BATCH])
        bar.update(min(start + SAVE_BATCH, n))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"records": n, "batch": SAVE_BATCH, "seconds": elapsed, "records_per_s": n / elapsed,
            "cpu_seconds": cpu, "cpu_us_per_record": 1e6 * cpu / n}, app


def raw_copy(res: Resources, app: Any, n: int, topic: str) -> dict[str, Any]:
    say(f"reference: encoding {n} stored events with app.mapper (not timed)")
    rows = []
    for aggregate in build_aggregates(app, n, topic):
        for event in aggregate.collect_events():
            stored = app.mapper.to_stored_event(event)
            rows.append((stored.originator_id, stored.originator_version, stored.topic, stored.state))
    schema = res.new_schema("copy")
    with psycopg.connect(res.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL(
            "CREATE TABLE {}.events (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
            " topic text NOT NULL, state bytea, notification_id bigserial,"
            " PRIMARY KEY (originator_id, originator_version))").format(sql.Identifier(schema)))
        say(f"reference: raw COPY of {len(rows)} rows")
        quiesce()
        cpu, started = time.process_time(), time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(sql.SQL(
            "COPY {}.events (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(sql.Identifier(schema))) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for row in rows:
                copy.write_row(row)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        stored_rows = scalar(conn, "SELECT count(*) FROM {}.events", schema)
    return {"records": stored_rows, "seconds": elapsed, "records_per_s": stored_rows / elapsed,
            "cpu_seconds": cpu, "cpu_us_per_record": 1e6 * cpu / max(stored_rows, 1)}


# --- --profile: the same worker in-process, with a wall-clock breakdown and cProfile ------------------------------

PHASES: tuple[tuple[str, str], ...] = (
    ("run", "FeedWorker.run (whole loop)"),
    ("poll", "  FeedSource.poll"),
    ("submit", "  FeedWorker.submit (one batch)"),
    ("stored_offsets", "    stored_offsets (SELECT trackings)"),
    ("read", "    _read (parse_feed_record, Intake)"),
    ("parse", "      parse_feed_record"),
    ("decide_batch", "    app.decide_batch"),
    ("enrolments", "      app.enrolments (SELECT companies)"),
    ("select_versions", "      recorder.select_versions (after a batch of known devices)"),
    ("repository_get", "      repository.get"),
    ("to_stored_event", "      mapper.to_stored_event"),
    ("settle", "    settle (waiting for the writer's previous batch)"),
    ("send_dead_letters", "    _send_dead_letters (DLQ send + flush)"),
    ("commit_informational", "    _commit_informational (Kafka commit)"),
    ("register_batch", "    app.register_batch (a batch decided again)"),
)

class Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed


def in_process_worker(res: Resources, world: World, batch_size: int, timers: Timers | None = None,
                      profiler: Any | None = None) -> dict[str, Any]:
    """FeedWorker built as `cashback worker feed` builds it, run until every record is stored."""
    import threading

    import workers.feed as feed_module
    from adapters.kafka_clients import feed_source
    from cashback.bootstrap import build, dead_letter_sender, feed_writer
    from cashback.clock import FixedClock
    from cashback.logging import configure
    from cashback.settings import Settings
    from workers.feed import FeedWorker
    from workers.heap import freeze_startup_heap

    enrol = subprocess.run(cli("enrol", str(world.companies)), env=world.env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    if enrol.returncode != 0:
        raise RuntimeError(f"enrol failed: {enrol.stderr or enrol.stdout}")
    real_stderr, sys.stderr = sys.stderr, (world.folder / "worker.log").open("w")
    try:
        configure("WARNING")  # as the CLI does; the logger keeps the log file
    finally:
        sys.stderr = real_stderr
    settings = Settings(**{k.removeprefix("CASHBACK_").lower(): v for k, v in world.env.items()
                           if k.startswith("CASHBACK_")})
    writer = feed_writer(settings)  # its transactions are not in the breakdown: they run in the child
    assert writer is not None
    res.closers.append(writer.close)
    engine = build(settings, clock=FixedClock(datetime.fromisoformat(NOW)))
    res.closers.append(engine.close)
    freeze_startup_heap()
    app = engine.app
    consumer = feed_source(res.bootstrap, world.group)
    dlq = dead_letter_sender(settings)
    stop = threading.Event()
    bar = Progress(f"in-process worker on {world.n} records", world.n)

    def on_batch(stats: Any) -> None:
        bar.update(stats.records)
        if stats.records >= world.n:
            stop.set()

    worker = FeedWorker(app, consumer, world.topic, send_dead_letters=dlq,
                        batch_size=batch_size, on_batch=on_batch, writer=writer)
    parse = feed_module.parse_feed_record
    if timers:
        consumer.poll = timers.wrap("poll", consumer.poll)  # type: ignore[method-assign]
        for name, attr in (("submit", "submit"), ("stored_offsets", "stored_offsets"), ("read", "_read"),
                           ("settle", "settle"), ("send_dead_letters", "_send_dead_letters"),
                           ("commit_informational", "_commit_informational")):
            setattr(worker, attr, timers.wrap(name, getattr(worker, attr)))
        for name, attr in (("register_batch", "register_batch"), ("decide_batch", "decide_batch"),
                           ("enrolments", "enrolments")):
            setattr(app, attr, timers.wrap(name, getattr(app, attr)))
        app.recorder.select_versions = timers.wrap("select_versions", app.recorder.select_versions)
        app.repository.get = timers.wrap("repository_get", app.repository.get)  # type: ignore[method-assign]
        app.mapper.to_stored_event = timers.wrap("to_stored_event", app.mapper.to_stored_event)  # type: ignore[method-assign]
        feed_module.parse_feed_record = timers.wrap("parse", parse)
    started = time.perf_counter()
    try:
        if profiler is not None:
            profiler.enable()
        stats = worker.run(stop)
    finally:
        if profiler is not None:
            profiler.disable()
        feed_module.parse_feed_record = parse
    elapsed = time.perf_counter() - started
    if timers:
        timers.seconds["run"], timers.calls["run"] = elapsed, 1
    return {"records": stats.records, "batches": stats.batches, "seconds": elapsed,
            "records_per_s": stats.records / elapsed}


def profile(args: argparse.Namespace, res: Resources) -> None:
    import cProfile
    import io
    import pstats

    n = args.n
    world = new_world(res, n, "prof")
    produce(res, world.topic, n)
    timers = Timers()
    timed = in_process_worker(res, world, args.batch_size, timers=timers)
    total = timers.seconds["run"]
    out = [f"in-process feed worker, N={n:,}, batch {args.batch_size}: {timed['records_per_s']:,.0f} records/s "
           f"({timed['seconds']:.2f} s, {timed['batches']} batches), wall-clock breakdown:",
           f"{'phase':<46}{'calls':>8}{'seconds':>10}{'% of run':>10}{'ms/call':>10}"]
    for key, label in PHASES:
        if key in timers.seconds:
            secs, calls = timers.seconds[key], timers.calls[key]
            out.append(f"{label:<46}{calls:>8}{secs:>10.2f}{100 * secs / total:>9.1f}%{1000 * secs / calls:>10.2f}")
    print("\n".join(out), flush=True)

    world = new_world(res, n, "prof2")
    produce(res, world.topic, n)
    profiler = cProfile.Profile()
    profiled = in_process_worker(res, world, args.batch_size, profiler=profiler)
    profiler.dump_stats(str(args.profile))
    for order in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(40)
        print(f"\n=== cProfile ({profiled['records_per_s']:,.0f} records/s under the profiler), by {order} ===")
        print(text.getvalue().split("\n\n", 1)[-1].rstrip())
    say(f"profile written to {args.profile} (python -m pstats {args.profile})")


# --- the run ------------------------------------------------------------------------------------------------

def one_end_to_end(res: Resources, n: int, batch_size: int, label: str,
                   workers: int = 1, catalog_n: int | None = None) -> tuple[dict[str, Any], World]:
    world = new_world(res, n, label, catalog_n)
    produced = produce(res, world.topic, n)
    result = end_to_end(res, world, batch_size, label, workers)
    result["idle_rss_mib"] = idle_rss_mib(world)
    counts = produced["counts"]
    expected = {"events": counts["valid"], "parked": counts["unknown_customer"], "dead_letters": counts["malformed"]}
    result["expected"] = expected
    result["stored_as_expected"] = result["stored"] == expected
    result["produce"] = produced
    say(f"[{label}] end-to-end: {result['records_per_s']:,.0f} records/s, peak RSS {result['peak_rss_mib']:,.0f} MiB")
    return result, world


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def table(results: dict[str, Any]) -> str:
    e2e, refs = results["end_to_end"], results["references"]
    lines = [
        f"feed benchmark  N={results['n']:,}  nproc={results['nproc']}  {results['date']}  "
        f"worker batch {results['batch_size']}  code {results.get('commit')}",
        "",
        f"load average (1 min) at start {results['load_average']['start']:.2f}, at end "
        f"{results['load_average']['end']:.2f}" + ("   <- others were busy at start: wall-clock figures are noisy"
                                                   if results["load_average"]["busy"] else ""),
        "",
        f"{'figure':<52}{'records':>10}{'seconds':>10}{'records/s':>12}{'e2e / ref':>11}{'CPU us/rec':>12}",
        "-" * 107,
    ]

    def line(name: str, fig: dict[str, Any] | None, rate_key: str = "records_per_s", with_ratio: bool = True) -> None:
        if not fig:
            return
        rate = fig.get(rate_key)
        r = ratio(e2e["records_per_s"], rate) if with_ratio else None
        cpu = fig.get("cpu_us_per_record")
        lines.append(f"{name:<52}{fig['records']:>10,}{fig['seconds']:>10.2f}"
                     f"{(rate or 0):>12,.0f}{(f'{r:.2f}x' if r else ''):>11}{(f'{cpu:,.0f}' if cpu else ''):>12}")

    line("produce (kafka-python, acks=all, key=serial)", results["produce"], with_ratio=False)
    def end_to_end_lines(name: str, fig: dict[str, Any]) -> None:
        line(name, fig, with_ratio=False)
        if fig.get("from_ready"):
            ready = fig["from_ready"]
            lines.append(f"{'  same, from partitions assigned (Kafka -> stored)':<52}{ready['records']:>10,}"
                         f"{ready['seconds']:>10.2f}{ready['records_per_s']:>12,.0f}"
                         f"{'  (ready at ' + format(fig['ready_after_s'], '.1f') + ' s)':>11}")
        if fig.get("after_first_batch_records_per_s"):
            lines.append(f"{'  same, after the first batch is stored':<52}{'':>10}{'':>10}"
                         f"{fig['after_first_batch_records_per_s']:>12,.0f}"
                         f"{'  (first at ' + format(fig['first_batch_stored_after_s'], '.1f') + ' s)':>11}")

    workers = e2e.get("workers", 1)
    end_to_end_lines(f"END-TO-END feed worker x{workers} (start -> all stored)", e2e)
    if scale := results.get("end_to_end_one_per_core"):
        end_to_end_lines(f"  {scale['workers']} workers, one per core", scale)
    line(f"ref: app.save(one aggregate) per record ({refs['per_record_save']['records']:,})", refs["per_record_save"])
    line(f"ref: app.save(*{SAVE_BATCH} aggregates), prebuilt", refs["batched_save"])
    line("ref: raw COPY (binary) of the stored events", refs["raw_copy"])
    line("ref: raw kafka-python consumption (no processing)", refs["raw_kafka"])
    line("ref: raw librdkafka consumption (the worker's client)", refs.get("raw_librdkafka"))
    target = results["target"]
    lines += [
        "-" * 107,
        "CPU us/rec: the worker processes' own CPU (each with its writer process) for the end-to-end lines; the",
        "benchmark process's CPU for the references (PostgreSQL's and Kafka's CPU not included)",
        f"workers: {workers} process(es) of `cashback worker feed` in one consumer group, started together when",
        "the clock starts; the catalog's cache was made by the enrol step before (catalog of "
        f"{results['catalog']['serials']:,}: parse {results['catalog']['parse_s']:.2f} s, cached start "
        f"{results['catalog']['cached_s']:.2f} s)",
        "",
        f"end-to-end / batched save:    {_fmt(results['ratios']['end_to_end_over_batched_save'])}"
        f"   (one worker per core: {_fmt(results['ratios'].get('one_per_core_over_batched_save'))})",
        f"end-to-end / per-record save: {_fmt(results['ratios']['end_to_end_over_per_record_save'])}",
        f"end-to-end / raw COPY:        {_fmt(results['ratios']['end_to_end_over_raw_copy'])}",
        f"end-to-end / raw kafka-python: {_fmt(results['ratios']['end_to_end_over_raw_kafka'])}",
        f"end-to-end / raw librdkafka:   {_fmt(results['ratios'].get('end_to_end_over_raw_librdkafka'))}",
        "",
        f"end-to-end (x{workers}) >= {TARGET_FACTOR:g}x batched save: {'PASS' if target['pass'] else 'FAIL'}"
        f"  ({_fmt(results['ratios']['end_to_end_over_batched_save'])} from the workers' launch, needs "
        f"{TARGET_FACTOR:g}x; {_fmt(results['ratios'].get('from_ready_over_batched_save'))} from partitions "
        f"assigned: {'PASS' if target.get('pass_from_ready') else 'FAIL'})",
        "",
        "worker peak RSS (VmHWM / sampled VmRSS; the worker and its writer process, summed):",
    ]
    for point in results["rss"]:
        idle = point.get("idle_rss_mib")
        lines.append(f"  N={point['n']:>10,}: {point['peak_rss_mib']:>7,.0f} MiB"
                     f"   (engine with its catalog of {point.get('catalog_serials', point['n']):,} serials, "
                     "no records: "
                     f"{f'{idle:,.0f} MiB' if idle else 'n/a'}; {point['records_per_s']:,.0f} records/s end-to-end)")
    stored = "yes" if e2e["stored_as_expected"] else f"NO: {e2e['stored']} vs {e2e['expected']}"
    lines.append(f"stored events / parked / dead letters as expected: {stored}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return f"{value:.2f}x" if value else "n/a"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="records (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="N = 10,000")
    parser.add_argument("--full", action="store_true", help="peak RSS at N and at 10 x N (default: N/10 and N)")
    parser.add_argument("--rss-scale", type=float, nargs="?", const=10.0, default=None,
                        help="second RSS point at this multiple of N (alone: 10; default 0.1, or 10 with --full; "
                             "0 to skip)")
    parser.add_argument("--batch-size", type=int, default=2000, help="the worker's --batch-size (default 2000)")
    parser.add_argument("--workers", type=int, default=1,
                        help="feed worker processes in one consumer group for the end-to-end runs (default 1); "
                             "a run at N with one worker per core is measured too")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="JSON results (default bench/results.json)")
    parser.add_argument("--profile", type=Path, nargs="?", const=Path("/tmp/cashback-feed.prof"), default=None,
                        help="instead of the benchmark: run the worker in-process on N records, print a wall-clock "
                             "breakdown and cProfile's top functions, write the profile (default "
                             "/tmp/cashback-feed.prof)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = 10_000
    if args.rss_scale is None:
        args.rss_scale = 10.0 if args.full else 0.1
    if args.n < 100:
        parser.error("--n must be at least 100")
    return args


def compile_project() -> None:
    """The project's modules compiled to bytecode, as an installed release has them: the worker's
    start-up is measured without compiling sources (PYTHONDONTWRITEBYTECODE keeps them uncompiled)."""
    import compileall

    for package in ("adapters", "cashback", "domain", "projections", "schemas", "workers"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def warm_up(res: Resources, n: int, batch_size: int) -> None:
    """Untimed: one small end-to-end run first. Services just started answer their first requests
    through cold code and caches (the broker's JVM compiles its fetch path as it goes; measured: the
    first run after a restart was the slowest of five), and the end-to-end run is the first timed
    figure: every figure is measured on services already in use, as in a deployment."""
    world = new_world(res, n, "warmup")
    produce(res, world.topic, n)
    result = end_to_end(res, world, batch_size, "warmup")
    say(f"[warmup] not timed: {result['records_per_s']:,.0f} records/s")


def run(args: argparse.Namespace, res: Resources) -> dict[str, Any]:
    n = args.n
    compile_project()
    warm_up(res, min(n, WARM_UP_RECORDS), args.batch_size)
    load_start, commit = os.getloadavg()[0], _commit()
    other = round(n * args.rss_scale) if args.rss_scale > 0 else 0
    catalog_n = max(n, other)  # one catalog for both RSS points: only the records consumed differ
    e2e, world = one_end_to_end(res, n, args.batch_size, "main", args.workers, catalog_n)
    scale_out, cores = None, os.cpu_count() or 1
    if cores != args.workers:
        scale_out, _ = one_end_to_end(res, n, args.batch_size, "cores", cores, catalog_n)
        scale_out.pop("produce")
    catalog = catalog_load(world.catalog, res.tmp / "catalog-cache")
    say(f"catalog of {catalog['serials']:,} serials: parsed in {catalog['parse_s']:.2f} s, "
        f"read from its cache in {catalog['cached_s']:.2f} s")
    raw_kafka = raw_consume(res, world.topic, n)
    say(f"raw Kafka: {raw_kafka['records_per_s']:,.0f} records/s")
    raw_librdkafka = raw_consume_librdkafka(res, world.topic, n)
    say(f"raw librdkafka: {raw_librdkafka['records_per_s']:,.0f} records/s")
    per_record = per_record_save(res, world.catalog, n, world.topic)
    say(f"per-record save: {per_record['records_per_s']:,.0f} records/s")
    batched, app = batched_save(res, world.catalog, n, world.topic)
    say(f"batched save: {batched['records_per_s']:,.0f} records/s")
    copy = raw_copy(res, app, n, world.topic)
    say(f"raw COPY: {copy['records_per_s']:,.0f} records/s")
    del app

    rss = [{"n": n, "catalog_serials": catalog_n, "peak_rss_mib": e2e["peak_rss_mib"],
            "idle_rss_mib": e2e["idle_rss_mib"],
            "records_per_s": e2e["records_per_s"]}]
    if other >= 100 and other != n:
        extra, _ = one_end_to_end(res, other, args.batch_size, "rss", args.workers, catalog_n)
        rss.append({"n": other, "catalog_serials": catalog_n, "peak_rss_mib": extra["peak_rss_mib"],
                    "idle_rss_mib": extra["idle_rss_mib"],
                    "records_per_s": extra["records_per_s"],
                    "stored_as_expected": extra["stored_as_expected"]})
        rss.sort(key=lambda p: p["n"])

    rate = e2e["records_per_s"]
    ratios = {
        "end_to_end_over_batched_save": ratio(rate, batched["records_per_s"]),
        "one_per_core_over_batched_save": ratio(scale_out["records_per_s"], batched["records_per_s"])
        if scale_out else None,
        "from_ready_over_batched_save": ratio((e2e.get("from_ready") or {}).get("records_per_s"),
                                              batched["records_per_s"]),
        "end_to_end_over_per_record_save": ratio(rate, per_record["records_per_s"]),
        "end_to_end_over_raw_copy": ratio(rate, copy["records_per_s"]),
        "end_to_end_over_raw_kafka": ratio(rate, raw_kafka["records_per_s"]),
        "end_to_end_over_raw_librdkafka": ratio(rate, raw_librdkafka["records_per_s"]),
    }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "n": n,
        "commit": commit,
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("eventsourcing", "psycopg", "kafka-python", "confluent-kafka")},
        "postgres": _server_version(res.pg_dsn),
        "batch_size": args.batch_size,
        "load_average": {"start": load_start, "end": os.getloadavg()[0],
                         "busy": load_start > 0.5 * (os.cpu_count() or 1)},
        "produce": e2e.pop("produce"),
        "end_to_end": e2e,
        "end_to_end_one_per_core": scale_out,
        "catalog": catalog,
        "references": {"per_record_save": per_record, "batched_save": batched, "raw_copy": copy,
                       "raw_kafka": raw_kafka, "raw_librdkafka": raw_librdkafka},
        "ratios": ratios,
        "target": {"rule": f"end_to_end >= {TARGET_FACTOR:g} x batched_save",
                   "workers": args.workers,
                   "pass": _meets(ratios["end_to_end_over_batched_save"]),
                   "pass_from_ready": _meets(ratios["from_ready_over_batched_save"])},
        "rss": rss,
    }


def _meets(value: float | None) -> bool:
    return bool(value and value >= TARGET_FACTOR)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _commit() -> str | None:
    """The code measured: HEAD, and whether the work tree differed from it."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _server_version(dsn: str) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pg_dsn, bootstrap = os.environ.get("CASHBACK_PG_DSN"), os.environ.get("CASHBACK_KAFKA_BOOTSTRAP")
    if not pg_dsn or not bootstrap:
        say('CASHBACK_PG_DSN and CASHBACK_KAFKA_BOOTSTRAP are needed: eval "$(scripts/services.sh env)"')
        return 2

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored (`cmd &`)
    res = Resources(pg_dsn=pg_dsn, bootstrap=bootstrap, tmp=Path(tempfile.mkdtemp(prefix="cashback-bench-")))
    if args.profile:
        say(f"feed worker profile: N={args.n:,}, batch {args.batch_size}")
    else:
        say(f"feed benchmark: N={args.n:,}, RSS points at N and {args.rss_scale:g} x N")
    try:
        if args.profile:
            profile(args, res)
            return 0
        results = run(args, res)
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        res.cleanup()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    say(f"figures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
