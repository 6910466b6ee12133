"""SIGTERM/SIGINT set an event: workers finish the current batch and exit cleanly."""

from __future__ import annotations

import signal
import threading


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
