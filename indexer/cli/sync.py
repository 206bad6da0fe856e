"""``backfill``, ``sync``, ``expire``, ``resync``, ``status`` and ``run``: thin shells over
``indexer.sync.flows``."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from indexer.cli import main
from indexer.cli.failures import fail
from indexer.cli.options import (
    compose,
    jobo_options,
    opensearch_client,
    opensearch_options,
    output_options,
    read_api_key,
)
from indexer.cli.params import Duration
from indexer.cli.status_view import render_status
from indexer.cli.text import plural
from indexer.durations import format_duration
from indexer.errors import ExitCode, SyncError, exit_code_for
from indexer.feed import (
    JoboClient,
    RetryPolicy,
)
from indexer.logs import configure, redact, register_secret
from indexer.metrics import Metrics, publish_run, start_metrics_server
from indexer.progress import Progress
from indexer.store import schema
from indexer.store.state import RunRecorder, StateStore
from indexer.sync import flows
from indexer.sync.locks import describe_holder, force_unlock
from indexer.sync.status import status as status_data

log = logging.getLogger("indexer.cli")
# The outcomes of a run that ended with an error (its message is the ``error`` of --json).
FAILED_OUTCOMES = ("failed", "refused")

metrics_file_option = click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="JOBO_INDEXER_METRICS_FILE",
    default=None,
    help="Write Prometheus metrics of the run to this node-exporter textfile (atomically); "
    "counters continue from the file's previous values.",
)

# A loop shorter than this would run syncs back to back against an API that may charge per job
# (each cycle also re-fetches its --overlap).
MIN_EVERY = timedelta(minutes=1)


def _writable_work_dir(ctx: click.Context, param: click.Parameter, value: Path | None):
    """--work-dir must be a directory this user can write (created when missing): refuse it
    here, naming the path, rather than fail later with SQLite's "unable to open database"."""
    if value is None:
        return None
    try:
        value.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot create {str(value)!r} ({exc.strerror}): pass a directory this user can "
            "write, or set JOBO_INDEXER_WORK_DIR",
            ctx,
            param,
        ) from None
    if not os.access(value, os.W_OK | os.X_OK):
        raise click.BadParameter(
            f"{str(value)!r} is not writable by this user: pass a directory it can write, or set "
            "JOBO_INDEXER_WORK_DIR",
            ctx,
            param,
        )
    return value


_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "batch-size": click.option(
        "--batch-size",
        type=click.IntRange(1, 1000),
        default=1000,
        show_default=True,
        help="Jobs per feed page.",
    ),
    "bulk-concurrency": click.option(
        "--bulk-concurrency",
        type=click.IntRange(1, 16),
        default=2,
        show_default=True,
        help="Pages transformed and bulk-written at once.",
    ),
    "queue-mb": click.option(
        "--queue-mb",
        type=click.IntRange(1, 4096),
        default=16,
        show_default=True,
        help="Raw feed bytes fetched ahead of the writers (decoded pages take ~3x).",
    ),
    "overlap": click.option(
        "--overlap",
        type=Duration(),
        default="15m",
        show_default=True,
        help="How far before the last run's start the incremental fetch reaches back.",
    ),
    "watermark": click.option(
        "--watermark",
        type=click.Choice(["updated_after", "posted_after"]),
        default="updated_after",
        show_default=True,
        help="Feed filter used as the incremental watermark.",
    ),
    "expired-action": click.option(
        "--expired-action",
        type=click.Choice(["mark", "delete"]),
        default="mark",
        show_default=True,
        help="Mark expired jobs (kept for dashboards) or delete them.",
    ),
    "retention-days": click.option(
        "--retention-days",
        type=click.IntRange(1),
        default=None,
        help="Purge jobs expired longer ago than this.",
    ),
    "max-expire-fraction": click.option(
        "--max-expire-fraction",
        type=click.FloatRange(0, 1),
        default=0.2,
        show_default=True,
        help="resync refuses to expire more of the index than this.",
    ),
    "force": click.option(
        "--force",
        is_flag=True,
        help="resync: expire even beyond --max-expire-fraction or on id-less jobs.",
    ),
    "work-dir": click.option(
        "--work-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        envvar="JOBO_INDEXER_WORK_DIR",
        callback=_writable_work_dir,
        help="Where resync spills the feed ids (created if missing; default "
        "~/.cache/jobo-indexer).",
    ),
    "no-bulk-load": click.option(
        "--no-bulk-load", is_flag=True, help="Keep refresh and replicas during a backfill."
    ),
    "bulk-load-drop-replicas": click.option(
        "--bulk-load-drop-replicas",
        is_flag=True,
        help="backfill: also drop replicas to 0 during the load (faster on a cluster; a node "
        "lost meanwhile loses the shards it held and fails the load).",
    ),
    "create-index": click.option(
        "--create-index",
        is_flag=True,
        help="Create the index layout (as init does) if it does not exist; without it an index "
        "nobody initialised is refused (exit 2) before anything is fetched.",
    ),
    "restart": click.option(
        "--restart",
        is_flag=True,
        help="Start the scan over from the first page, although one completed (or another "
        "--work-dir holds the spill of the one in progress).",
    ),
    "max-credits": click.option(
        "--max-credits",
        type=click.FloatRange(min=0),
        envvar="JOBO_INDEXER_MAX_CREDITS",
        default=None,
        help="Most Jobo credits one run may spend: it stops before a page that could exceed it "
        f"(a page costs up to --batch-size x 0.5), keeps its checkpoint and exits "
        f"{int(ExitCode.CREDIT_CAP)}. Default: no cap.",
    ),
    "allow-partial": click.option(
        "--allow-partial",
        is_flag=True,
        help="Start a backfill the wallet cannot pay for in full: it runs until the credits "
        "run out and resumes from its checkpoint after a top-up.",
    ),
}
_FEED_SCAN = ["batch-size", "bulk-concurrency", "queue-mb", "max-credits"]
# The options each flow command takes: only those that change what it does.
FLOW_OPTIONS: dict[str, list[str]] = {
    "backfill": [
        *_FEED_SCAN,
        "allow-partial",
        "no-bulk-load",
        "bulk-load-drop-replicas",
        "create-index",
        "restart",
    ],
    "sync": [
        *_FEED_SCAN,
        "overlap",
        "watermark",
        "expired-action",
        "retention-days",
        "max-expire-fraction",  # a sync whose last sweep is too old runs a resync
        "force",
        "work-dir",
        "allow-partial",  # the backfill it runs when none completed
        "no-bulk-load",
        "bulk-load-drop-replicas",
        "create-index",
    ],
    "expire": ["overlap", "expired-action", "retention-days", "create-index"],
    "resync": [
        *_FEED_SCAN,
        "expired-action",
        "max-expire-fraction",
        "force",
        "work-dir",
        "create-index",
        "restart",
    ],
    # A loop never forces an expiry: a mass expiry waits for a person (resync --force).
    "run": [
        *_FEED_SCAN,
        "overlap",
        "watermark",
        "expired-action",
        "retention-days",
        "max-expire-fraction",
        "work-dir",
        "allow-partial",  # the backfill it runs when none completed
        "no-bulk-load",
        "bulk-load-drop-replicas",
        "create-index",
    ],
}


def flow_options(command: str) -> Callable[[Any], Any]:
    return compose(*(_OPTIONS[name] for name in FLOW_OPTIONS[command]))


def build_settings(base: str, options: dict[str, Any]) -> flows.SyncSettings:
    """The settings of a command's options; an option the command does not take keeps the
    default of ``SyncSettings``."""
    settings = flows.SyncSettings(base=base)
    direct = ("batch_size", "bulk_concurrency", "overlap", "watermark", "expired_action")
    direct += ("retention_days", "max_expire_fraction", "force", "create_index", "restart")
    for name in direct:
        if name in options:
            setattr(settings, name, options[name])
    if "queue_mb" in options:
        settings.queue_bytes = options["queue_mb"] * 1024 * 1024
    if options.get("work_dir") is not None:
        settings.work_dir = options["work_dir"]
    if "no_bulk_load" in options:
        settings.bulk_load = not options["no_bulk_load"]
    if "bulk_load_drop_replicas" in options:
        settings.bulk_load_drop_replicas = options["bulk_load_drop_replicas"]
    if "max_credits" in options:
        settings.max_credits = options["max_credits"]
    if "allow_partial" in options:
        settings.allow_partial = options["allow_partial"]
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
        data = flow_failure_data(flow.__name__, exc)
        log.error("%s failed: %s", flow.__name__, data["error"])
        if textfile is not None:
            publish_run(metrics, data, state=services.state, textfile=textfile)
        if ctx_params["as_json"]:
            click.echo(json.dumps(data, default=str, sort_keys=True))
        elif ctx_params["log_format"] != "json":  # JSON logs already carry it, as JSON
            click.echo(f"Error: {data['error']}", err=True)
        sys.exit(data["exit_code"])
    data = summary_data(summary)
    if textfile is not None:
        publish_run(metrics, data, state=services.state, textfile=textfile)
    report(data, ctx_params["as_json"], summary_text(summary))
    if summary.exit_code:  # a run that ended cleanly short of its work: capped (9)
        sys.exit(summary.exit_code)


def summary_data(summary: flows.RunSummary) -> dict[str, Any]:
    """The one shape of a flow's ``--json``: the run summary, plus ``error`` (null on success)."""
    failed = summary.outcome in FAILED_OUTCOMES
    return {**summary.to_dict(), "error": summary.message if failed else None}


def flow_failure_data(kind: str, exc: BaseException) -> dict[str, Any]:
    """The same shape for a run that failed: its own summary when it had started (counts so
    far), else an empty one; ``exit_code`` says how (README's table)."""
    message = redact(str(exc)) or type(exc).__name__
    code = int(exit_code_for(exc))
    summary: flows.RunSummary | None = getattr(exc, "run_summary", None)
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
    summary = flows.RunSummary(kind=kind, outcome=outcome, message=message, exit_code=exit_code)
    return summary_data(summary)


def summary_text(summary: flows.RunSummary) -> str:
    if summary.outcome == "skipped":
        return f"{summary.kind} skipped: {summary.message}"
    return (
        f"{summary.kind} {summary.outcome}: {summary.fetched} fetched, {summary.indexed} "
        f"indexed, {summary.unchanged} unchanged, {summary.expired + summary.deleted} expired, "
        f"{summary.dead_lettered} dead-lettered in {summary.duration_s:.1f}s"
        + (f" ({summary.message})" if summary.message else "")
    )


def _flow_command(name: str, flow: Callable[..., flows.RunSummary], doc: str) -> None:
    @main.command(name=name, help=doc)
    @opensearch_options
    @jobo_options
    @flow_options(name)
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
    "Full re-sync: upsert every job of the feed, then expire what the feed no longer has.\n\n"
    "Expires only on complete evidence: the feed scan reached its end, every job had an id, "
    "and no more than --max-expire-fraction of the index is at stake (unless --force).",
)


@main.command()
@opensearch_options
@output_options
@click.option(
    "--force-unlock",
    is_flag=True,
    help="Remove the lock of a run that is gone (refused while its holder is alive on this "
    "host, or its lease is fresh elsewhere).",
)
def status(**params: Any) -> None:
    """Watermark, last runs, lock holder, counts, dead letters and credits."""
    configure(params["log_format"], params["log_level"])
    services = build_services(params["opensearch_url"], params["base"], None, False)
    try:
        removed = force_unlock(services.state, params["base"]) if params["force_unlock"] else None
        data = status_data(services)
    except SyncError as exc:
        _fail_command("status", exc)
    notes = []
    if params["force_unlock"]:
        data["unlocked"] = None if removed is None else removed.as_dict()
        notes.append(
            "--force-unlock: the lock was free, nothing removed"
            if removed is None
            else f"--force-unlock: removed the lock held by {describe_holder(removed)}"
        )
    report(data, params["as_json"], "\n".join([*notes, *render_status(data)]))


def _fail_command(kind: str, exc: SyncError) -> NoReturn:
    """A refusal outside a flow's run: one line (a JSON log line under --log-format json), the
    JSON failure object under --json (a flow's own shape for ``run``), its exit code."""
    if kind != "run":
        fail(exc, kind=kind)
    ctx = click.get_current_context()
    data = flow_failure_data(kind, exc)
    if ctx.params.get("as_json"):
        click.echo(json.dumps(data, default=str, sort_keys=True))
    if ctx.params.get("log_format") == "json":
        log.error("%s failed: %s", kind, data["error"])
    else:
        click.echo(f"Error: {data['error']}", err=True)
    sys.exit(data["exit_code"])


@main.command()
@opensearch_options
@jobo_options
@flow_options("run")
@output_options
@click.option(
    "--every",
    type=Duration(MIN_EVERY, "shorter loops run back to back against a paid API"),
    default="30m",
    show_default=True,
    help="Pause between two runs (at least 1m).",
)
@click.option(
    "--resync-every",
    type=Duration(),
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
    every: timedelta = params["every"]
    resync_every: timedelta = params["resync_every"]
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
    try:
        flows.prepare(services, settings)  # an index nobody initialised: stop now, exit 2
    except SyncError as exc:
        _fail_command("run", exc)
    cycles = 0
    try:
        with graceful_stop(services.stop):
            while not services.stop.is_set():
                flow: Callable[..., flows.RunSummary] = flows.sync
                try:
                    if flows.resync_due(services, resync_every):
                        flow = flows.resync
                    resync_now = flow is flows.resync
                    summary = flows.scheduled(services, settings, resync_now=resync_now)
                    data, text = summary_data(summary), summary_text(summary)
                except Exception as exc:
                    data = flow_failure_data(flow.__name__, exc)
                    text = f"{data['kind']} failed (exit code {data['exit_code']})"
                    log.error(
                        "%s failed (exit code %s): %s; next run in %s",
                        flow.__name__,
                        data["exit_code"],
                        data["error"],
                        format_duration(every),
                    )
                publish_run(metrics, data, state=services.state, textfile=textfile)
                report(data, params["as_json"], text)  # --json: one object per cycle
                cycles += 1
                if params["max_cycles"] and cycles >= params["max_cycles"]:
                    break
                services.stop.wait(every.total_seconds())
    finally:
        if server is not None:
            server.stop()
    log.info("run: stopped after %s", plural(cycles, "run"))
