"""The feed worker's writer process: one batch at a time, its answer, and its end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.side_rows import DeadLetterRow, PositionsStoredAlready
from workers.feed_writer import WriteJob, WriterFailed, WriterProcess


def _job(tag: str) -> WriteJob:
    dead = DeadLetterRow("kafka:t", f"0/{tag}", "bad JSON", b"{", datetime(2026, 5, 1, tzinfo=UTC))
    return WriteJob(events=[], trackings=[("kafka:t:0", int(tag), int(tag))], parked=[], dead_letters=[dead])


def _writing_to(folder: Path) -> Callable[[], Callable[[WriteJob], None]]:
    """A store that writes each job's first tracking position to a file, or fails as the job asks."""

    def make() -> Callable[[WriteJob], None]:
        def store(job: WriteJob) -> None:
            _, offset, _ = job.trackings[0]
            if offset == 13:
                raise IntegrityError("duplicate key value violates unique constraint")
            if offset == 14:
                raise PositionsStoredAlready("Failed to record tracking for kafka:t:0 14")
            if offset == 66:
                raise ValueError("something else went wrong")
            (folder / f"{offset}.stored").write_text(job.dead_letters[0].position)

        return store

    return make


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[WriterProcess]:
    made = WriterProcess(_writing_to(tmp_path))
    yield made
    made.close()


def test_each_batch_is_stored_by_the_child_and_answered(writer: WriterProcess, tmp_path: Path) -> None:
    for offset in ("1", "2", "3"):
        writer.submit(_job(offset))
        writer.result()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.stored", "2.stored", "3.stored"]
    assert (tmp_path / "2.stored").read_text() == "0/2"


def test_a_conflict_comes_back_as_integrity_error_and_the_writer_goes_on(writer: WriterProcess, tmp_path: Path) -> None:
    writer.submit(_job("13"))
    with pytest.raises(IntegrityError, match="unique constraint"):
        writer.result()
    writer.submit(_job("14"))  # records stored already: their own error
    with pytest.raises(PositionsStoredAlready, match="kafka:t:0 14"):
        writer.result()
    writer.submit(_job("66"))
    with pytest.raises(WriterFailed, match="could not store a batch: ValueError: something else went wrong"):
        writer.result()
    writer.submit(_job("4"))
    writer.result()
    assert (tmp_path / "4.stored").exists()


def test_one_batch_in_flight_at_most(writer: WriterProcess, tmp_path: Path) -> None:
    writer.submit(_job("1"))
    with pytest.raises(RuntimeError, match="already in flight"):
        writer.submit(_job("2"))
    writer.result()


def test_a_dead_writer_is_a_clear_error_not_a_hang(writer: WriterProcess) -> None:
    pid = writer._process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    writer._process.join(timeout=10)
    with pytest.raises(WriterFailed, match=r"writer process \(pid \d+\) ended \(exit code -9\).*restart the worker"):
        writer.submit(_job("5"))  # the pipe is broken: said so, not left to the CLI's EPIPE handling


def test_a_writer_dying_with_a_batch_in_flight_is_a_clear_error(writer: WriterProcess) -> None:
    writer.submit(_job("5"))
    writer.result()
    pid = writer._process.pid
    assert pid is not None
    writer.submit(_job("6"))
    os.kill(pid, signal.SIGKILL)
    try:
        writer.result()
    except WriterFailed as error:
        assert "ended" in str(error)
    # or it answered before the signal: then the next batch finds it gone
    with pytest.raises(WriterFailed, match="ended"):
        writer.submit(_job("7"))
        writer.result()


def test_the_child_ignores_sigterm_and_ends_when_the_parent_closes(tmp_path: Path) -> None:
    writer = WriterProcess(_writing_to(tmp_path))
    pid = writer._process.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)  # a Ctrl-C or SIGTERM to the process group: the parent decides
    time.sleep(0.2)
    writer.submit(_job("7"))
    writer.result()
    writer.close()
    assert not writer._process.is_alive()
    assert writer._process.exitcode == 0


def _slow_to_start() -> Callable[[WriteJob], None]:
    time.sleep(60)  # connecting to a broker that does not answer
    raise AssertionError("never reached")


def test_a_writer_that_never_got_a_batch_is_stopped_at_once() -> None:
    """The worker gave up starting (Kafka does not answer) while its writer was still connecting:
    there is no batch to finish, so the worker exits now, not when the writer's own attempts end."""
    writer = WriterProcess(_slow_to_start)
    time.sleep(0.2)
    started = time.monotonic()
    writer.close()
    assert time.monotonic() - started < 5
    assert not writer._process.is_alive()


def test_a_parent_that_stops_waiting_leaves_a_quiet_child(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    writer = WriterProcess(_writing_to(tmp_path))
    writer.submit(_job("8"))  # never asked for its answer: the worker ended on an error of its own
    writer.close()
    assert writer._process.exitcode == 0
    assert (tmp_path / "8.stored").exists(), "the batch in flight was still stored"
    assert "Traceback" not in capfd.readouterr().err


def test_a_program_that_forgets_to_close_the_writer_still_exits(tmp_path: Path) -> None:
    program = (
        "from pathlib import Path\n"
        "from tests.unit.test_feed_writer import _job, _writing_to\n"
        "from workers.feed_writer import WriterProcess\n"
        f"writer = WriterProcess(_writing_to(Path({str(tmp_path)!r})))\n"
        "writer.submit(_job('9'))\n"
        "writer.result()\n"
    )
    done = subprocess.run([sys.executable, "-c", program], cwd=Path(__file__).parents[2], timeout=60,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "9.stored").exists()
