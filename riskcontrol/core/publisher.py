"""Publishing off the request path: a bounded queue drained by one thread, dropping what cannot go out.

The database is the truth and a live message only a courtesy, so a request (or the worker) hands its
message over and moves on at once; a slow, stopped or hung Redis costs it nothing. A message that
cannot be sent promptly is dropped, logged and counted: the screens it was for re-sync.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# How many messages may wait for the sending thread; beyond that they are dropped on arrival.
PUBLISH_BACKLOG = 1000

Send = Callable[[str, str], object]


class BackgroundPublisher:
    """Sends `(channel, text)` pairs with `send` from a thread of its own, in order."""

    def __init__(self, send: Send, *, backlog: int = PUBLISH_BACKLOG, name: str = "riskcontrol-bus-publisher") -> None:
        self._send = send
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=backlog)
        self._lock = threading.Lock()
        self._failing = False
        self.published = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, channel: str, text: str) -> None:
        """Queue a message; never blocks."""
        try:
            self._queue.put_nowait((channel, text))
        except queue.Full:
            self._count_dropped(1, f"{self._queue.maxsize} messages already wait")

    def flush(self, timeout: float) -> bool:
        """Wait until every message offered so far was sent or dropped; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0 or not self._queue.all_tasks_done.wait(left):
                    return False
        return True

    def close(self, timeout: float = 1.0) -> None:
        """Send what waits (for at most `timeout` seconds), then stop the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return  # the thread is stuck on a hung Redis; it is a daemon and dies with the process
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            try:
                if item is None:
                    return
                stopping = self._deliver(*item)
            finally:
                self._queue.task_done()

    def _deliver(self, channel: str, text: str) -> bool:
        """Send one message; True when a stop sign was met while dropping what waited behind it."""
        try:
            self._send(channel, text)
        except Exception as exc:  # whatever went wrong, the message is lost and the screens re-sync
            # What waits behind it would wait on the same broken Redis: drop it too, now.
            drained, stopping = self._drain()
            self._count_dropped(1 + drained, f"{type(exc).__name__}: {exc}")
            return stopping
        with self._lock:
            self.published += 1
            recovered, self._failing = self._failing, False
        if recovered:
            log.warning("bus publishing again (%d messages dropped so far)", self.dropped)
        return False

    def _drain(self) -> tuple[int, bool]:
        """Take every waiting message off the queue: how many, and whether the stop sign was among them."""
        drained = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return drained, False
            self._queue.task_done()
            if item is None:
                return drained, True
            drained += 1

    def _count_dropped(self, count: int, reason: str) -> None:
        with self._lock:
            self.dropped += count
            first, self._failing = not self._failing, True
        # One line when publishing starts to fail, not one per message: an outage can last a while.
        if first:
            log.warning("bus publish dropped (%s); screens will re-sync from the database", reason)
