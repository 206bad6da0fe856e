"""Progress for long work: a one-line bar (count, rate, ETA) on a terminal, a log line every few
seconds elsewhere (cron, containers, CI)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

log = logging.getLogger("indexer.progress")


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class Progress:
    """Thread-safe counter of processed items with rate and ETA."""

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        log_every: float = 5.0,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = total
        self.count = 0
        self._resumed_at = 0  # count carried over from an earlier run: not part of the rate
        self._stream = stream or sys.stderr
        self._interactive = self._stream.isatty() if interactive is None else interactive
        self._log_every = log_every
        self._enabled = enabled
        self._started = time.monotonic()
        self._last_emit = float("-inf")  # the first advance shows at once
        self._lock = threading.Lock()

    def set_total(self, total: int | None) -> None:
        if total is not None and self.total is None:
            self.total = total

    def resume_from(self, count: int) -> None:
        """Continue a resumed scan: ``count`` items were done by an earlier run (they count
        toward the total, not toward this run's rate)."""
        with self._lock:
            self.count += count
            self._resumed_at += count

    def advance(self, n: int) -> None:
        with self._lock:
            self.count += n
            now = time.monotonic()
            interval = 0.2 if self._interactive else self._log_every
            if self._enabled and now - self._last_emit >= interval:
                self._last_emit = now
                self._emit(now)

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self._started
        done_here = self.count - self._resumed_at
        rate = done_here / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}: {self.count:,}"
        if self.total:
            text += f"/{self.total:,} ({min(100.0, 100.0 * self.count / self.total):.0f}%)"
        text += f" {rate:,.0f}/s"
        if self.total and rate > 0 and self.count < self.total:
            text += f" ETA {_duration((self.total - self.count) / rate)}"
        return text

    def _emit(self, now: float) -> None:
        if self._interactive:
            self._stream.write("\r\x1b[2K" + self.line(now))
            self._stream.flush()
        else:
            log.info(self.line(now))

    def close(self, *, finished: bool = True) -> None:
        """The last line; ``finished=False`` (a stop, a failure) says "stopped", not "done"."""
        if not self._enabled:
            return
        if self._interactive:
            self._stream.write("\r\x1b[2K" + self.line() + "\n")
            self._stream.flush()
        else:
            log.info(self.line() + (" (done)" if finished else " (stopped)"))


class Heartbeat:
    """For work that cannot count its items (one long SQL statement): a log line every
    ``every`` seconds while ``beat()`` keeps being called, saying how long it has run."""

    def __init__(self, label: str, *, every: float = 5.0) -> None:
        self.label = label
        self._every = every
        self._started = time.monotonic()
        self._last = self._started

    def beat(self) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            log.info("%s: running for %s", self.label, _duration(now - self._started))
