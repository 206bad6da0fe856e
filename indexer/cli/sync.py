"""``backfill``, ``sync``, ``expire``, ``resync``, ``status`` and ``run``: thin shells over
``indexer.sync.flows``."""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from indexer.cli import main
from indexer.cli.failures import fail, failure_summary
from indexer.cli.options import (
    compose,
    jobo_options,
    opensearch_client,
    opensearch_options,
    output_options,
    read_api_key,
)
from indexer.jobo import (
    JoboClient,
    RetryPolicy,
)
from indexer.logs import configure, register_secret
from indexer.metrics import Metrics, publish_run, start_metrics_server
from indexer.progress import Progress
from indexer.store import schema
from indexer.store.state import LeaseLock, RunRecorder, StateStore
from indexer.sync import flows

log = logging.getLogger("indexer.cli")

metrics_file_option = click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="JOBO_INDEXER_METRICS_FILE",
    default=None,
    help="Write Prometheus metrics of the run to this node-exporter textfile (atomically); "
    "counters continue from the file's previous values.",
)

_DURATION = re.compile(r"^(\d+)([smhd])$")


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration: use e.g. 90s, 15m, 2h or 7d")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})


sync_options_list: list[Callable[[Any], Any]] = [
    click.option(
        "--batch-size",
        type=click.IntRange(1, 1000),
        default=1000,
        show_default=True,
        help="Jobs per feed page.",
    ),
    click.option(
        "--bulk-concurrency",
        type=click.IntRange(1, 16),
        default=2,
        show_default=True,
        help="Pages transformed and bulk-written at once.",
    ),
    click.option(
        "--queue-mb",
        type=click.IntRange(1, 4096),
        default=16,
        show_default=True,
        help="Raw feed bytes fetched ahead of the writers (decoded pages take ~3x).",
    ),
    click.option(
        "--overlap",
        default="15m",
        show_default=True,
        help="How far before the last run's start the incremental fetch reaches back.",
    ),
    click.option(
        "--watermark",
        type=click.Choice(["updated_after", "posted_after"]),
        default="updated_after",
        show_default=True,
        help="Feed filter used as the incremental watermark.",
    ),
    click.option(
        "--expired-action",
        type=click.Choice(["mark", "delete"]),
        default="mark",
        show_default=True,
        help="Mark expired jobs (kept for dashboards) or delete them.",
    ),
    click.option(
        "--retention-days",
        type=click.IntRange(1),
        default=None,
        help="Purge jobs expired longer ago than this.",
    ),
    click.option(
        "--max-expire-fraction",
        type=click.FloatRange(0, 1),
        default=0.2,
        show_default=True,
        help="resync refuses to expire more of the index than this.",
    ),
    click.option(
        "--force",
        is_flag=True,
        help="resync: expire even beyond --max-expire-fraction or on id-less jobs.",
    ),
    click.option(
        "--work-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        envvar="JOBO_INDEXER_WORK_DIR",
        help="Where resync spills the feed ids (default ~/.cache/jobo-indexer).",
    ),
    click.option(
        "--no-bulk-load", is_flag=True, help="Keep refresh and replicas during a backfill."
    ),
]


sync_options = compose(*sync_options_list)


def build_settings(base: str, options: dict[str, Any]) -> flows.SyncSettings:
    settings = flows.SyncSettings(base=base)
    settings.batch_size = options["batch_size"]
    settings.bulk_concurrency = options["bulk_concurrency"]
    settings.queue_bytes = options["queue_mb"] * 1024 * 1024
    settings.overlap = parse_duration(options["overlap"])
    settings.watermark = options["watermark"]
    settings.expired_action = options["expired_action"]
    settings.retention_days = options["retention_days"]
    settings.max_expire_fraction = options["max_expire_fraction"]
    settings.force = options["force"]
    if options["work_dir"] is not None:
        settings.work_dir = options["work_dir"]
    settings.bulk_load = not options["no_bulk_load"]
    return settings


def build_jobo(params: dict[str, Any]) -> JoboClient:
    api_key = read_api_key(params["api_key"], params["api_key_file"])
    register_secret(api_key)
    retry = RetryPolicy(
        max_attempts=params["upstream_retries"], base_backoff=params["upstream_backoff"]
    )
    return JoboClient(params["jobo_url"], api_key, credits_warn=params["credits_warn"], retry=retry)


def build_services(
    opensearch_url: str, base: str, jobo: JoboClient | None, show_progress: bool | None
) -> flows.Services:
    client = opensearch_client(opensearch_url)
    names = schema.index_names(base)
    interactive = sys.stderr.isatty() if show_progress is None else show_progress

    def progress(label: str, total: int | None) -> Progress:
        return Progress(label, total=total, interactive=interactive)

    return flows.Services(
        client=client,
        jobo=jobo,  # type: ignore[arg-type]
        names=names,
        state=StateStore(client, names.state),
        runs=RunRecorder(client, names.runs),
        progress=progress,
    )


@contextmanager
def graceful_stop(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT: stop fetching, finish the batches in flight, store state, exit 0."""
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


def report(summary: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(summary, default=str, sort_keys=True))
    else:
        click.echo(text)


def run_flow(
    flow: Callable[[flows.Services, flows.SyncSettings], flows.RunSummary],
    ctx_params: dict[str, Any],
    *,
    needs_jobo: bool = True,
) -> None:
    """Shared body of the flow commands: wire the services, run, print, exit with a code."""
    configure(ctx_params["log_format"], ctx_params["log_level"])
    jobo = build_jobo(ctx_params) if needs_jobo else None
    settings = build_settings(ctx_params["base"], ctx_params)
    services = build_services(
        ctx_params["opensearch_url"], ctx_params["base"], jobo, ctx_params["progress"]
    )
    textfile: Path | None = ctx_params.get("metrics_file")
    metrics = Metrics()
    if textfile is not None:
        metrics.load_textfile(textfile)
    try:
        with graceful_stop(services.stop):
            summary = flow(services, settings)
    except Exception as exc:
        if textfile is not None:
            failed = {"kind": flow.__name__, "outcome": "failed"}
            publish_run(metrics, failed, state=services.state, textfile=textfile)
        fail(exc, kind=flow.__name__, as_json=ctx_params["as_json"])
    data = summary.to_dict()
    if textfile is not None:
        publish_run(metrics, data, state=services.state, textfile=textfile)
    report(
        data,
        ctx_params["as_json"],
        f"{summary.kind} {summary.outcome}: {summary.fetched} fetched, {summary.indexed} "
        f"indexed, {summary.unchanged} unchanged, {summary.expired + summary.deleted} expired, "
        f"{summary.dead_lettered} dead-lettered in {summary.duration_s:.1f}s"
        + (f" ({summary.message})" if summary.message else ""),
    )


def _flow_command(name: str, flow: Callable[..., flows.RunSummary], doc: str) -> None:
    @main.command(name=name, help=doc)
    @opensearch_options
    @jobo_options
    @sync_options
    @output_options
    @metrics_file_option
    def command(**params: Any) -> None:
        run_flow(flow, params)


_flow_command(
    "backfill",
    flows.backfill,
    "Page the whole feed into the index. Resumes from the last acknowledged page.",
)
_flow_command(
    "sync",
    flows.sync,
    "The scheduled run: expired sweep and incremental fetch, then move the watermark. "
    "Runs the backfill first when none completed, a full re-sync when the last sweep "
    "is older than 7 days.",
)
_flow_command("expire", flows.expire, "The expired sweep alone, since the last successful sweep.")
_flow_command(
    "resync",
    flows.resync,
    "Full re-sync: upsert every job of the feed, then expire the jobs the index has "
    "and the feed no longer has (only on complete evidence).",
)


@main.command()
@opensearch_options
@output_options
@click.option("--force-unlock", is_flag=True, help="Remove a stale lock left by a dead run.")
def status(**params: Any) -> None:
    """Watermark, last runs, lock holder, counts, dead letters and credits."""
    configure(params["log_format"], params["log_level"])
    services = build_services(params["opensearch_url"], params["base"], None, False)
    if params["force_unlock"]:
        LeaseLock.force_unlock(services.state)
    data = flows.status(services)
    lines = [
        f"index {data['index']}: {data['active']} active, {data['expired']} expired, "
        f"{data['dead_letters']} dead letters",
        f"watermark (last run started): {data['watermark']}",
        f"last sweep: {data['last_sweep_at']}   backfill completed: "
        f"{data['backfill_completed_at']}   last resync: {data['last_resync_at']}",
        f"lock: {data['lock'] or 'free'}   credits balance: {data['credits_balance']}",
    ]
    for run in data["last_runs"]:
        lines.append(
            f"  {run.get('kind')} {run.get('outcome')} {run.get('started_at')} -> "
            f"{run.get('ended_at')} {run.get('counts', {})}"
        )
    report(data, params["as_json"], "\n".join(lines))


@main.command()
@opensearch_options
@jobo_options
@sync_options
@output_options
@click.option("--every", default="30m", show_default=True, help="Pause between two runs.")
@click.option(
    "--resync-every",
    default="7d",
    show_default=True,
    help="Run a full re-sync instead of a sync when the last one is older than this.",
)
@click.option(
    "--max-cycles",
    type=click.IntRange(1),
    default=None,
    help="Stop after this many runs (default: run until SIGTERM/SIGINT).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="JOBO_INDEXER_METRICS_PORT",
    default=None,
    help="Serve Prometheus metrics on http://0.0.0.0:PORT/metrics while running.",
)
@metrics_file_option
def run(**params: Any) -> None:
    """The loop for a container: sync every --every, resync every --resync-every.

    SIGTERM or SIGINT finishes the current batch, stores state and exits 0. A failed run is
    logged and recorded; the loop goes on (the next run resumes where it stopped).
    """
    configure(params["log_format"], params["log_level"])
    jobo = build_jobo(params)
    settings = build_settings(params["base"], params)
    services = build_services(params["opensearch_url"], params["base"], jobo, params["progress"])
    every = parse_duration(params["every"])
    resync_every = parse_duration(params["resync_every"])
    textfile: Path | None = params["metrics_file"]
    metrics = Metrics()
    if textfile is not None:
        metrics.load_textfile(textfile)
    server = None
    if params["metrics_port"] is not None:
        try:
            server = start_metrics_server(metrics, params["metrics_port"])
        except OSError as exc:
            raise click.UsageError(str(exc)) from exc
        log.info("run: serving metrics on port %d (/metrics)", server.port)
    cycles = 0
    try:
        with graceful_stop(services.stop):
            while not services.stop.is_set():
                flow: Callable[..., flows.RunSummary] = flows.sync
                try:
                    if flows.resync_due(services, resync_every):
                        flow = flows.resync
                    data = flow(services, settings).to_dict()
                except Exception as exc:
                    data = failure_summary(flow.__name__, exc)
                    log.error(
                        "%s failed (exit code %s): %s; next run in %s",
                        flow.__name__,
                        data["exit_code"],
                        data["error"],
                        params["every"],
                    )
                publish_run(metrics, data, state=services.state, textfile=textfile)
                report(data, params["as_json"], f"{data['kind']} {data['outcome']}")
                cycles += 1
                if params["max_cycles"] and cycles >= params["max_cycles"]:
                    break
                services.stop.wait(every.total_seconds())
    finally:
        if server is not None:
            server.stop()
    log.info("run: stopped after %d runs", cycles)
