"""Progress: count, rate and ETA on a terminal; periodic log lines elsewhere."""

from __future__ import annotations

import io
import logging

import pytest

from indexer.progress import Heartbeat, Progress


def test_the_line_shows_count_total_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 110.0])
    monkeypatch.setattr("indexer.progress.time.monotonic", lambda: next(clock))
    progress = Progress("backfill", total=10_000, stream=io.StringIO(), interactive=True)
    progress.count = 2_500
    line = progress.line()  # 2,500 in 10 s: 250/s, 7,500 left: 30 s
    assert line == "backfill: 2,500/10,000 (25%) 250/s ETA 0:00:30"


def test_a_terminal_gets_a_redrawn_bar() -> None:
    stream = io.StringIO()
    progress = Progress("sync", total=100, stream=stream, interactive=True)
    progress.advance(40)
    progress.close()
    text = stream.getvalue()
    assert "\r" in text
    assert "sync: 40/100 (40%)" in text
    assert text.endswith("\n")


def test_elsewhere_it_logs_every_few_seconds(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress("resync", stream=io.StringIO(), interactive=False, log_every=3600)
    with caplog.at_level(logging.INFO, logger="indexer.progress"):
        for _ in range(50):
            progress.advance(10)
        progress.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # the first advance, then nothing for an hour, then the closing line
    assert lines[-1].startswith("resync: 500 ")
    assert lines[-1].endswith("(done)")


def test_a_heartbeat_says_how_long_uncountable_work_has_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = iter([0.0, 1.0, 6.0, 7.0, 12.5])
    monkeypatch.setattr("indexer.progress.time.monotonic", lambda: next(clock))
    heartbeat = Heartbeat("resync: anti-join", every=5.0)
    with caplog.at_level(logging.INFO, logger="indexer.progress"):
        for _ in range(4):
            heartbeat.beat()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "resync: anti-join: running for 0:00:06",
        "resync: anti-join: running for 0:00:12",
    ]
