"""The feed worker's transactions, in a process of their own.

While batch k is encoded, hashed and copied into PostgreSQL, the worker reads and decides batch
k + 1. A thread cannot do this: it shares the interpreter's lock with the decisions, and measured
slower than no overlap at all. So the writer is a child process, forked before anything connects
(PostgreSQL, Kafka); it builds its own recorder and serves one batch at a time over a pipe:

    parent → child   ``WriteJob`` (events, positions, side rows)
    child → parent   ``("ok", "")``, ``("stored_already", message)``, ``("integrity", message)`` or
                     ``("error", traceback)``

One job in flight at most: the parent sends batch k + 1 only after batch k's answer. The child
ignores SIGINT/SIGTERM (the parent decides when to stop: it finishes the batch in flight, then
closes the pipe) and exits at end of file, also when the parent was killed: a transaction in flight
then commits or rolls back whole, like any other.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, NamedTuple
from uuid import UUID

import structlog
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

from adapters.side_rows import BatchTracking, DeadLetterRow, ParkedRow, PositionsStoredAlready
from cashback.registered_encoding import TOPIC as REGISTERED_TOPIC
from cashback.registered_encoding import RegisteredRow, encode_rows

log = structlog.get_logger(__name__)

#: (originator id — a UUID's 16 bytes, or text —, originator version, topic, state): a stored event without its class.
EventTuple = tuple[Any, int, str, bytes]


class EventRow(NamedTuple):
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class WriteJob:
    events: list[EventTuple]
    trackings: list[tuple[str, int, int]]  # (name, position, position of the batch's first record)
    parked: Sequence[ParkedRow]
    dead_letters: Sequence[DeadLetterRow]
    #: plain new registrations, encoded here rather than in the worker (cashback/registered_encoding.py)
    registered: Sequence[RegisteredRow] = ()
    at: datetime | None = None

    def event_rows(self) -> list[EventRow]:
        """The batch's events in the order they are stored: the aggregates', then the registrations."""
        rows = [EventRow._make(e) for e in self.events]
        if self.registered:
            assert self.at is not None
            encoded = encode_rows(self.registered, self.at)
            rows.extend(EventRow(oid, 1, REGISTERED_TOPIC, state) for oid, state in encoded)
        return rows


class WriterFailed(RuntimeError):
    """The writer process could not store a batch for a reason other than a conflict."""


class WriterProcess:
    """A forked child that runs ``store(job)`` for each job, one at a time."""

    def __init__(self, make_store: Callable[[], Callable[[WriteJob], None]]) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._conn, make_store),
                                         name="cashback-feed-writer", daemon=True)
        # Blocked across the fork, so that the child ignores them before one can reach it.
        stopping = {signal.SIGINT, signal.SIGTERM}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        child.close()
        self._pending = False
        self._given_a_batch = False
        self._closed = False
        # At exit, multiprocessing terminates daemonic children (SIGTERM, which the child ignores) and
        # joins them: the pipe must be closed first, or a caller that forgot close() hangs there.
        atexit.register(self.close)
        log.info("feed_writer_started", pid=self._process.pid)

    def submit(self, job: WriteJob) -> None:
        if self._pending:
            raise RuntimeError("a batch is already in flight")
        try:
            self._conn.send(job)
        except OSError:  # a broken pipe: left alone, the CLI's EPIPE handling would exit without a word
            raise WriterFailed(self._ended()) from None
        self._pending = True
        self._given_a_batch = True

    def result(self) -> None:
        """Wait for the batch in flight: nothing, IntegrityError (a conflict: decide again) or WriterFailed."""
        self._pending = False
        try:
            kind, detail = self._conn.recv()
        except (EOFError, OSError):
            raise WriterFailed(self._ended()) from None
        if kind == "stored_already":
            raise PositionsStoredAlready(detail)
        if kind == "integrity":
            raise IntegrityError(detail)
        if kind != "ok":
            log.error("feed_writer_failed", traceback=detail)
            last = detail.strip().splitlines()[-1] if detail.strip() else "no detail"
            raise WriterFailed(f"the feed worker's writer process could not store a batch: {last}")

    def _ended(self) -> str:
        self._process.join(timeout=5)
        return (f"the feed worker's writer process (pid {self._process.pid}) ended"
                f" (exit code {self._process.exitcode}); the batch in flight was stored whole or not at all:"
                " restart the worker")

    def close(self) -> None:
        """Let the batch in flight end, then stop the child. A child that was never given a batch has
        nothing to finish: it is stopped at once (it may still be connecting, e.g. to a broker that
        does not answer, while the worker gives up starting)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._conn.close()
        if not self._given_a_batch:
            self._process.kill()
        self._process.join(timeout=300)
        if self._process.is_alive():  # pragma: no cover - a transaction stuck past the database's own timeouts
            self._process.kill()
            self._process.join()


def _serve(conn: Connection, parent_end: Connection, make_store: Callable[[], Callable[[WriteJob], None]]) -> None:
    parent_end.close()  # else the pipe never reaches its end of file when the parent closes or dies
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    code = 0
    try:
        store = make_store()
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):  # the parent closed the pipe, or died
                break
            try:
                store(job)
            except PositionsStoredAlready as error:
                answer = ("stored_already", str(error))
            except IntegrityError as error:
                answer = ("integrity", str(error))
            except Exception:
                answer = ("error", traceback.format_exc())
            else:
                answer = ("ok", "")
            try:
                conn.send(answer)
            except OSError:  # the parent stopped waiting (it ended on an error of its own): nothing to tell
                break
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        # The parent's objects were copied by the fork (its pools, its consumer): their finalisers must
        # not run here, where they would close the parent's connections.
        os._exit(code)


def job_of(stored: Sequence[StoredEvent], trackings: Sequence[Tracking], parked: Sequence[ParkedRow],
           dead_letters: Sequence[DeadLetterRow], registered: Sequence[RegisteredRow] = (),
           at: datetime | None = None) -> WriteJob:
    # A UUID pickles through its __reduce__ (about 1 µs each); its 16 bytes cost nothing.
    return WriteJob(
        [(e.originator_id.bytes if isinstance(e.originator_id, UUID) else e.originator_id,
          e.originator_version, e.topic, e.state) for e in stored],
        [(t.application_name, t.notification_id, getattr(t, "first_id", t.notification_id)) for t in trackings],
        parked,
        dead_letters,
        registered,
        at,
    )


def recorder_store(
    recorder: Any,
    retrying: Callable[[Callable[[], Any]], Any],
    send_dead_letters: Callable[[Sequence[DeadLetterRow]], None] | None = None,
) -> Callable[[WriteJob], None]:
    """``store(job)`` for a recorder that hashes, encodes and inserts (adapters/postgres_store.py); the
    job's dead letters are sent to their topic first (never missing; once more for each failed attempt)."""

    def store(job: WriteJob) -> None:
        if job.dead_letters and send_dead_letters is not None:
            send_dead_letters(job.dead_letters)
        # A batch of first events needs nothing but these four attributes (hashes, COPY rows); a later
        # event's previous hash is looked up by id: then the ids are UUIDs again.
        events: list[Any] = job.event_rows()
        if any(e.originator_version > 1 for e in events):
            events = [StoredEvent(originator_id=UUID(bytes=i) if type(i) is bytes else i, originator_version=v,
                                  topic=t, state=s) for i, v, t, s in events]
        trackings = [BatchTracking(name, offset, first) for name, offset, first in job.trackings]
        retrying(lambda: recorder.insert_events(events, trackings=trackings, parked=list(job.parked),
                                                dead_letters=list(job.dead_letters)))

    return store
