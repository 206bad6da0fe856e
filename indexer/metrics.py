"""Prometheus metrics of the sync runs: an HTTP endpoint for ``run``, a textfile for cron runs.

A tiny standard-library exporter rather than ``prometheus_client``: the indexer exposes a dozen
series that change once per run, the text exposition format (version 0.0.4) is a few lines to
write, and the node-exporter textfile needs the same rendering plus an atomic write. No runtime
dependency, nothing global: one :class:`Metrics` object per process, fed one run summary (the
dict ``--json`` prints) at a time by :meth:`Metrics.record_run`.

Series (every name starts with ``jobo_indexer_``):

- ``documents_total{kind,result}`` counter: documents per outcome (``indexed``, ``unchanged``,
  ``expired``, ``deleted``, ``missing``, ``dead_lettered``, ``failed``, ``purged``).
- ``jobs_fetched_total{kind}``, ``pages_total{kind}``, ``cursor_restarts_total{kind}``,
  ``retries_total{kind}`` (Jobo and OpenSearch retries), ``credits_spent_total{kind}``: counters.
- ``runs_total{kind,outcome}`` counter (``success``, ``stopped``, ``failed``).
- ``run_duration_seconds{kind}`` summary (``_sum``, ``_count``) and
  ``last_run_duration_seconds{kind}`` gauge.
- ``last_run_timestamp_seconds{kind}``, ``last_success_timestamp_seconds{kind}``,
  ``last_failure_timestamp_seconds{kind}``: gauges, Unix time.
- ``watermark_timestamp_seconds`` (the incremental watermark: the start of the last run whose
  fetch and sweep both succeeded) and ``lag_seconds`` (now minus that watermark, computed at each
  scrape): the age of the newest data the index is guaranteed to hold.
- ``credits_balance``: the wallet balance the feed last reported (absent on a subscription).
- ``last_run_credits_spent{kind}``: what the last run of each kind spent (its probe page
  included), and ``next_full_scan_credits``: the estimated cost of the next backfill or resync
  (0 on a subscription; absent until a run has an estimate).

The textfile keeps counters across cron runs: :meth:`Metrics.load_textfile` reads the previous
file back before a run adds to it, so ``rate()`` works on a file rewritten by every run.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "CONTENT_TYPE",
    "DOCUMENT_RESULTS",
    "FAMILIES",
    "Metrics",
    "MetricsServer",
    "parse_text",
    "start_metrics_server",
]

log = logging.getLogger("indexer.metrics")

PREFIX = "jobo_indexer_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TEXTFILE_HEADER = "# jobo-indexer metrics (node-exporter textfile format)"
DOCUMENT_RESULTS = (
    "indexed",
    "unchanged",
    "expired",
    "deleted",
    "missing",
    "dead_lettered",
    "failed",
    "purged",
)
# summary field -> counter family (labelled by kind)
_PER_KIND_COUNTERS = {
    "fetched": "jobs_fetched_total",
    "pages": "pages_total",
    "retries": "retries_total",
    "cursor_restarts": "cursor_restarts_total",
    "credits_spent": "credits_spent_total",
}

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Family:
    """One metric family: its name (without the prefix), type and help text."""

    name: str
    type: str  # counter | gauge | summary
    help: str

    @property
    def full_name(self) -> str:
        return PREFIX + self.name

    def sample_names(self) -> tuple[str, ...]:
        if self.type == "summary":
            return (self.full_name + "_sum", self.full_name + "_count")
        return (self.full_name,)


FAMILIES: tuple[Family, ...] = (
    Family("documents_total", "counter", "Documents per flow kind and outcome."),
    Family("jobs_fetched_total", "counter", "Jobs received from the feed."),
    Family("pages_total", "counter", "Feed pages acknowledged (written and checkpointed)."),
    Family("retries_total", "counter", "Retries against the Jobo API and OpenSearch."),
    Family("cursor_restarts_total", "counter", "Scans restarted after a refused cursor."),
    Family("credits_spent_total", "counter", "Jobo credits deducted."),
    Family(
        "runs_total",
        "counter",
        "Runs per flow kind and outcome (success, stopped, capped, refused, failed).",
    ),
    Family("run_duration_seconds", "summary", "Wall-clock duration of runs."),
    Family("last_run_duration_seconds", "gauge", "Duration of the last run of each kind."),
    Family("last_run_timestamp_seconds", "gauge", "When the last run of each kind ended."),
    Family("last_success_timestamp_seconds", "gauge", "When the last successful run ended."),
    Family("last_failure_timestamp_seconds", "gauge", "When the last failed run ended."),
    Family(
        "watermark_timestamp_seconds",
        "gauge",
        "Incremental watermark: start of the last run whose fetch and sweep succeeded.",
    ),
    Family("lag_seconds", "gauge", "Seconds between now and the watermark (computed at scrape)."),
    Family("credits_balance", "gauge", "Jobo wallet balance as last reported by the feed."),
    Family("last_run_credits_spent", "gauge", "Jobo credits the last run of each kind spent."),
    Family("next_full_scan_credits", "gauge", "Estimated Jobo credits of the next full feed scan."),
)
_BY_SAMPLE = {sample: family for family in FAMILIES for sample in family.sample_names()}
_COMPUTED = {PREFIX + "lag_seconds"}  # derived at render time, never stored or loaded


def _labels(**labels: str) -> Labels:
    return tuple(sorted((key, str(value)) for key, value in labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _format_sample(name: str, labels: Labels, value: float) -> str:
    if labels:
        inner = ",".join(f'{key}="{_escape(val)}"' for key, val in labels)
        return f"{name}{{{inner}}} {_format_value(value)}"
    return f"{name} {_format_value(value)}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unix(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Metrics:
    """The process's metric values; thread-safe (the HTTP server reads while a run writes)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: dict[str, dict[Labels, float]] = {}

    # -- updates -------------------------------------------------------------------------------

    def inc(self, sample: str, amount: float, labels: Labels = ()) -> None:
        with self._lock:
            series = self._samples.setdefault(sample, {})
            series[labels] = series.get(labels, 0.0) + amount

    def set(self, sample: str, value: float, labels: Labels = ()) -> None:
        with self._lock:
            self._samples.setdefault(sample, {})[labels] = value

    def value(self, sample: str, **labels: str) -> float | None:
        """The current value of one sample (full name), or None; for tests and callers."""
        with self._lock:
            return self._samples.get(sample, {}).get(_labels(**labels))

    def record_run(self, data: Mapping[str, Any], *, watermark: str | None = None) -> None:
        """Add one run: ``data`` is the run summary as ``--json`` prints it (a failed run's
        summary may carry only ``kind``, ``outcome`` and ``error``)."""
        kind = str(data.get("kind", "unknown"))
        outcome = str(data.get("outcome", "unknown"))
        per_kind = _labels(kind=kind)
        now = self._clock()
        for result in DOCUMENT_RESULTS:
            count = float(data.get(result) or 0)
            self.inc(PREFIX + "documents_total", count, _labels(kind=kind, result=result))
        for field, family in _PER_KIND_COUNTERS.items():
            self.inc(PREFIX + family, float(data.get(field) or 0), per_kind)
        self.inc(PREFIX + "runs_total", 1, _labels(kind=kind, outcome=outcome))
        duration = float(data.get("duration_s") or 0)
        self.inc(PREFIX + "run_duration_seconds_sum", duration, per_kind)
        self.inc(PREFIX + "run_duration_seconds_count", 1, per_kind)
        self.set(PREFIX + "last_run_duration_seconds", duration, per_kind)
        self.set(PREFIX + "last_run_timestamp_seconds", now, per_kind)
        if outcome == "success":
            self.set(PREFIX + "last_success_timestamp_seconds", now, per_kind)
        elif outcome == "failed":
            self.set(PREFIX + "last_failure_timestamp_seconds", now, per_kind)
        balance = data.get("credits_balance")
        if _is_number(balance):
            self.set(PREFIX + "credits_balance", float(balance))
        if _is_number(data.get("credits_spent")):
            self.set(PREFIX + "last_run_credits_spent", float(data["credits_spent"]), per_kind)
        if _is_number(data.get("next_full_scan_credits")):
            self.set(PREFIX + "next_full_scan_credits", float(data["next_full_scan_credits"]))
        moment = _unix(watermark)
        if moment is not None:
            self.set(PREFIX + "watermark_timestamp_seconds", moment)

    # -- output --------------------------------------------------------------------------------

    def render(self) -> str:
        """All series in the Prometheus text exposition format (0.0.4)."""
        with self._lock:
            samples = {name: dict(series) for name, series in self._samples.items()}
        watermark = samples.get(PREFIX + "watermark_timestamp_seconds", {}).get(())
        if watermark is not None:
            samples[PREFIX + "lag_seconds"] = {(): max(0.0, self._clock() - watermark)}
        lines: list[str] = []
        for family in FAMILIES:
            present = [name for name in family.sample_names() if samples.get(name)]
            if not present:
                continue
            lines.append(f"# HELP {family.full_name} {family.help}")
            lines.append(f"# TYPE {family.full_name} {family.type}")
            for name in family.sample_names():
                for labels, value in sorted(samples.get(name, {}).items()):
                    lines.append(_format_sample(name, labels, value))
        return "\n".join(lines) + "\n"

    def write_textfile(self, path: Path) -> None:
        """Write :meth:`render` to ``path`` atomically (a temp file in the same folder, fsynced,
        then renamed), so node-exporter never reads half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = TEXTFILE_HEADER + "\n" + self.render()
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def load_textfile(self, path: Path) -> bool:
        """Start from the values of a textfile this module wrote before (counters go on from
        there). Returns False when there is no such file; a file that does not parse is kept
        aside as ``<path>.bad`` with a warning, and counting starts again from zero."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        try:
            parsed = parse_text(text)
        except ValueError as exc:
            log.warning("metrics file %s does not parse (%s); starting from zero", path, exc)
            os.replace(path, path.with_name(path.name + ".bad"))
            return False
        with self._lock:
            for name, labels, value in parsed:
                if name in _BY_SAMPLE and name not in _COMPUTED:
                    self._samples.setdefault(name, {})[labels] = value
        return True


# ---------------------------------------------------------------------------------------------
# Parsing (the subset this module writes: comments, samples with optional labels, no timestamps)

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _parse_labels(text: str, line: str) -> Labels:
    labels: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if not match:
            raise ValueError(f"bad labels in line {line!r}")
        labels.append((match.group(1), _unescape(match.group(2))))
        position = match.end()
    return tuple(sorted(labels))


def parse_text(text: str) -> list[tuple[str, Labels, float]]:
    """``(sample name, labels, value)`` of every sample line; raises ValueError on a bad line."""
    out: list[tuple[str, Labels, float]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _SAMPLE.match(stripped)
        if not match:
            raise ValueError(f"not a sample line: {line!r}")
        name, label_text, value_text = match.groups()
        try:
            value = float(value_text)
        except ValueError:
            raise ValueError(f"bad value in line {line!r}") from None
        out.append((name, _parse_labels(label_text or "", line), value))
    return out


# ---------------------------------------------------------------------------------------------
# The HTTP endpoint


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] in ("/metrics", "/"):
            body = self.server.metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
        else:
            body = b"not found: scrape /metrics\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: one line per scrape would drown the run's own log."""


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], metrics: Metrics) -> None:
        self.metrics = metrics
        super().__init__(address, _Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"metrics-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_metrics_server(metrics: Metrics, port: int, host: str = "0.0.0.0") -> MetricsServer:
    """Serve ``metrics`` on ``http://host:port/metrics`` from a daemon thread.

    Raises OSError with the port named when it is taken.
    """
    try:
        server = MetricsServer((host, port), metrics)
    except OSError as exc:
        raise OSError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}); choose a free "
            "port with --metrics-port"
        ) from exc
    return server.start()


def read_watermark(state: Any) -> str | None:
    """The incremental watermark (``last_run_started_at`` of the ``sync`` state document) from a
    ``StateStore``, or None when there is none yet or OpenSearch cannot be read."""
    from indexer.store.state_docs import SyncWatermark
    from indexer.timestamps import format_timestamp

    try:
        moment = SyncWatermark.load(state).last_run_started_at
    except Exception as exc:  # metrics must never fail a run
        log.debug("could not read the watermark for the metrics: %s", exc)
        return None
    return format_timestamp(moment) if moment is not None else None


def publish_run(
    metrics: Metrics, data: Mapping[str, Any], *, state: Any, textfile: Path | None
) -> None:
    """Record one run summary, reading the watermark from ``state``, and rewrite ``textfile``
    when given. A metrics problem is logged, never raised: it must not fail the run."""
    try:
        metrics.record_run(data, watermark=read_watermark(state))
        if textfile is not None:
            metrics.write_textfile(textfile)
    except Exception as exc:
        log.warning("could not publish the run's metrics (%s): %s", textfile or "registry", exc)
