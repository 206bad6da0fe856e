"""Running the flows: the services they talk to, a graceful stop, the scheduler loop, and the
one shape of a run's result.

The CLI parses options into a :class:`~indexer.sync.flows.SyncSettings` (:func:`settings_from`),
asks :func:`connect` for the services, and calls :func:`run_once` or :func:`run_forever`; both
give back the run's result as plain data (:func:`summary_data`), also when the run failed, so a
command only prints it and exits with its ``exit_code``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch

from indexer.alerts import DeliveryConfig, WriteRecorder
from indexer.alerts.after_run import after_run
from indexer.durations import format_duration
from indexer.errors import exit_code_for
from indexer.feed import JoboClient, RetryPolicy
from indexer.logs import redact, register_secret
from indexer.metrics import Metrics, publish_run
from indexer.progress import Progress
from indexer.store import schema
from indexer.store.runs import RunRecorder
from indexer.store.state import StateStore
from indexer.sync import flows
from indexer.sync.flows import RunSummary, Services, SyncSettings

log = logging.getLogger("indexer.runner")

Flow = Callable[[Services, SyncSettings], RunSummary]
#: The settings as a run without options has them: the CLI's defaults are read from here.
DEFAULTS = SyncSettings()
MIB = 1024 * 1024
# The outcomes of a run that ended with an error (its message is the ``error`` of --json).
FAILED_OUTCOMES = ("failed", "refused")
# Options whose name and meaning are a setting's, as they are.
_DIRECT = {f.name for f in fields(SyncSettings)} - {"base", "queue_bytes", "work_dir", "bulk_load"}


def settings_from(base: str, options: Mapping[str, Any]) -> SyncSettings:
    """The settings of a command's options (named as the settings are, plus ``queue_mb``,
    ``no_bulk_load``, ``work_dir``); an option the command does not take keeps its default."""
    settings = SyncSettings(base=base)
    for name in _DIRECT & options.keys():
        setattr(settings, name, options[name])
    if "queue_mb" in options:
        settings.queue_bytes = options["queue_mb"] * MIB
    if options.get("work_dir") is not None:
        settings.work_dir = options["work_dir"]
    if "no_bulk_load" in options:
        settings.bulk_load = not options["no_bulk_load"]
    return settings


def feed_client(
    url: str,
    api_key: str,
    *,
    credits_warn: float | None = None,
    retries: int = RetryPolicy().max_attempts,
    first_backoff: float = RetryPolicy().base_backoff,
) -> JoboClient:
    """The Jobo client of a run; the key is registered for redaction before anything logs."""
    register_secret(api_key)
    retry = RetryPolicy(max_attempts=retries, base_backoff=first_backoff)
    return JoboClient(url, api_key, credits_warn=credits_warn, retry=retry)


def connect(
    client: OpenSearch,
    base: str,
    jobo: JoboClient | None,
    *,
    show_progress: bool | None = None,
    recording: bool | None = None,
) -> Services:
    """The services of the flows on ``client`` for the index ``base``. ``show_progress`` None:
    a progress bar when stderr is a terminal, periodic log lines otherwise. ``recording``: None
    records nothing (a command that writes no job); else the alert matches are recorded, and
    the change stream too when True."""
    names = schema.index_names(base)
    interactive = sys.stderr.isatty() if show_progress is None else show_progress

    def progress(label: str, total: int | None) -> Progress:
        return Progress(label, total=total, interactive=interactive)

    runs = RunRecorder(client, names.runs)
    recorder = None
    if recording is not None:
        recorder = WriteRecorder(client, names, runs, changes=recording)
    return Services(
        client=client,
        jobo=jobo,
        names=names,
        state=StateStore(client, names.state),
        runs=runs,
        progress=progress,
        recorder=recorder,
    )


def after_writes(services: Services, settings: SyncSettings, data: dict[str, Any]) -> None:
    """Deliver what the run matched and purge old change events, into ``data["alerts"]``
    (never raising: the run's own outcome stands)."""
    if getattr(services, "recorder", None) is None:
        return
    config = DeliveryConfig.from_environment(settings.webhook_url)
    retention = settings.changes_retention_days or None
    report = after_run(services.client, services.names, config, retention_days=retention)
    passes = getattr(services.recorder, "passes", None)
    if passes is not None:  # what the run's matching passes found (see indexer.alerts.matcher)
        report.update(
            matching_passes=passes.passes,
            matches=passes.matches,
            new_matches=passes.recorded,
            match_error=passes.error,
        )
    data["alerts"] = report


@contextmanager
def graceful_stop(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT: stop fetching, finish the batches in flight, store state, exit 0.
    (Signals can only be caught on the main thread; elsewhere this does nothing.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        log.warning(
            "received %s: finishing the current batch, then stopping", signal.Signals(signum).name
        )
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def summary_data(summary: RunSummary) -> dict[str, Any]:
    """The one shape of a run's result: the run summary, plus ``error`` (null on success)."""
    failed = summary.outcome in FAILED_OUTCOMES
    return {**summary.to_dict(), "error": summary.message if failed else None}


def failure_data(kind: str, exc: BaseException) -> dict[str, Any]:
    """The same shape for a run that failed: its own summary when it had started (counts so
    far), else an empty one; ``exit_code`` says how (the README's table)."""
    message = redact(str(exc)) or type(exc).__name__
    code = int(exit_code_for(exc))
    summary: RunSummary | None = getattr(exc, "run_summary", None)
    if summary is None:
        return failed_run_data(kind, message, code, str(getattr(exc, "outcome", "failed")))
    # The error the run ended with, as the command sees it: a clean-up failure met on the way
    # out (OpenSearch gone) must not replace the first, clearer one.
    summary.message, summary.exit_code = message, code
    return summary_data(summary)


def failed_run_data(
    kind: str, message: str, exit_code: int, outcome: str = "failed"
) -> dict[str, Any]:
    """A flow that failed before it ran (a usage error, OpenSearch unreachable), in the shape
    of its summary; ``outcome`` is "refused" for a full scan the wallet cannot pay for."""
    summary = RunSummary(kind=kind, outcome=outcome, message=message, exit_code=exit_code)
    return summary_data(summary)


def summary_text(data: Mapping[str, Any]) -> str:
    """One line for a person: what the run did, or why it failed."""
    kind, outcome = data["kind"], data["outcome"]
    if outcome == "skipped":
        return f"{kind} skipped: {data['message']}"
    if outcome in FAILED_OUTCOMES:  # the error itself is logged, and is the --json "error"
        return f"{kind} {outcome} (exit code {data['exit_code']})"
    expired = data.get("expired", 0) + data.get("deleted", 0)
    return (
        f"{kind} {outcome}: {data.get('fetched', 0)} fetched, {data.get('indexed', 0)} "
        f"indexed, {data.get('unchanged', 0)} unchanged, {expired} expired, "
        f"{data.get('dead_lettered', 0)} dead-lettered in {data.get('duration_s', 0.0):.1f}s"
        + (f" ({data['message']})" if data.get("message") else "")
    )


@dataclass
class RunMetrics:
    """Where each run's result is published: a registry (served by ``--metrics-port``) and,
    when given, a node-exporter textfile whose counters continue across processes."""

    textfile: Path | None = None
    metrics: Metrics = field(default_factory=Metrics)

    def __post_init__(self) -> None:
        if self.textfile is not None:
            self.metrics.load_textfile(self.textfile)

    def publish(self, data: Mapping[str, Any], state: StateStore) -> None:
        publish_run(self.metrics, data, state=state, textfile=self.textfile)


def run_once(
    flow: Flow, services: Services, settings: SyncSettings, metrics: RunMetrics | None = None
) -> dict[str, Any]:
    """Run ``flow`` under a graceful stop; its result as :func:`summary_data`, never raising
    for a failed run (the data's ``exit_code`` and ``error`` say what went wrong)."""
    try:
        with graceful_stop(services.stop):
            data = summary_data(flow(services, settings))
    except Exception as exc:
        data = failure_data(flow.__name__, exc)
        log.error("%s failed: %s", flow.__name__, data["error"])
    after_writes(services, settings, data)  # what a failed run recorded is delivered too
    if metrics is not None:
        metrics.publish(data, services.state)
    return data


def run_forever(
    services: Services,
    settings: SyncSettings,
    *,
    every: timedelta,
    resync_every: timedelta,
    max_cycles: int | None = None,
    metrics: RunMetrics | None = None,
    on_result: Callable[[dict[str, Any]], None] = lambda data: None,
) -> int:
    """The loop of a container: a sync every ``every``, a resync instead when the last one is
    older than ``resync_every``. A failed run is logged, recorded and published; the loop goes
    on (the next run resumes where it stopped). Returns the number of runs, after a stop
    (SIGTERM/SIGINT) or ``max_cycles``. An index nobody initialised raises before any run."""
    flows.prepare(services, settings)
    cycles = 0
    with graceful_stop(services.stop):
        while not services.stop.is_set():
            data = _cycle(services, settings, resync_every, every)
            after_writes(services, settings, data)
            if metrics is not None:
                metrics.publish(data, services.state)
            on_result(data)
            cycles += 1
            if max_cycles and cycles >= max_cycles:
                break
            services.stop.wait(every.total_seconds())
    return cycles


def _cycle(
    services: Services, settings: SyncSettings, resync_every: timedelta, every: timedelta
) -> dict[str, Any]:
    kind = "sync"
    try:
        if flows.resync_due(services, resync_every):
            kind = "resync"
        summary = flows.scheduled(services, settings, resync_now=kind == "resync")
        return summary_data(summary)
    except Exception as exc:
        data = failure_data(kind, exc)
        log.error(
            "%s failed (exit code %s): %s; next run in %s",
            kind,
            data["exit_code"],
            data["error"],
            format_duration(every),
        )
        return data
