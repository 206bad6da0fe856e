"""``backfill``, ``sync``, ``expire``, ``resync``, ``status`` and ``run``: thin shells over
``indexer.sync.flows``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
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
from indexer.cli.recording import RECORDING_OPTIONS
from indexer.cli.status_view import render_status
from indexer.cli.text import plural
from indexer.durations import format_duration
from indexer.errors import ExitCode, SyncError
from indexer.feed import JoboClient
from indexer.logs import configure
from indexer.metrics import start_metrics_server
from indexer.sync import flows, runner
from indexer.sync.locks import describe_holder, force_unlock
from indexer.sync.runner import DEFAULTS, FAILED_OUTCOMES, MIB, RunMetrics
from indexer.sync.status import status as status_data

log = logging.getLogger("indexer.cli")

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
        default=DEFAULTS.batch_size,
        show_default=True,
        help="Jobs per feed page.",
    ),
    "bulk-concurrency": click.option(
        "--bulk-concurrency",
        type=click.IntRange(1, 16),
        default=DEFAULTS.bulk_concurrency,
        show_default=True,
        help="Pages transformed and bulk-written at once.",
    ),
    "queue-mb": click.option(
        "--queue-mb",
        type=click.IntRange(1, 4096),
        default=DEFAULTS.queue_bytes // MIB,
        show_default=True,
        help="Raw feed bytes fetched ahead of the writers (decoded pages take ~3x).",
    ),
    "overlap": click.option(
        "--overlap",
        type=Duration(),
        default=format_duration(DEFAULTS.overlap),
        show_default=True,
        help="How far before the last run's start the incremental fetch reaches back.",
    ),
    "watermark": click.option(
        "--watermark",
        type=click.Choice(["updated_after", "posted_after"]),
        default=DEFAULTS.watermark,
        show_default=True,
        help="Feed filter used as the incremental watermark.",
    ),
    "expired-action": click.option(
        "--expired-action",
        type=click.Choice(["mark", "delete"]),
        default=DEFAULTS.expired_action,
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
        default=DEFAULTS.max_expire_fraction,
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
_OPTIONS.update(RECORDING_OPTIONS)
_RECORDING = list(RECORDING_OPTIONS)
_FEED_SCAN = ["batch-size", "bulk-concurrency", "queue-mb", "max-credits", *_RECORDING]
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
    "expire": ["overlap", "expired-action", "retention-days", "create-index", *_RECORDING],
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


def build_jobo(params: dict[str, Any]) -> JoboClient:
    return runner.feed_client(
        params["jobo_url"],
        read_api_key(params["api_key"], params["api_key_file"]),
        credits_warn=params["credits_warn"],
        retries=params["upstream_retries"],
        first_backoff=params["upstream_backoff"],
    )


def build_services(params: dict[str, Any], jobo: JoboClient | None) -> flows.Services:
    client = opensearch_client(params["opensearch_url"])
    return runner.connect(
        client,
        params["base"],
        jobo,
        show_progress=params.get("progress"),
        recording=params.get("change_stream"),  # None: a command that writes nothing
    )


def report(summary: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(summary, default=str, sort_keys=True))
    else:
        click.echo(text)


def run_flow(flow: runner.Flow, params: dict[str, Any], *, needs_jobo: bool = True) -> None:
    """Shared body of the flow commands: run the flow, print its result, exit with its code."""
    configure(params["log_format"], params["log_level"])
    jobo = build_jobo(params) if needs_jobo else None
    settings = runner.settings_from(params["base"], params)
    services = build_services(params, jobo)
    metrics = RunMetrics(params.get("metrics_file"))
    data = runner.run_once(flow, services, settings, metrics)
    if data["outcome"] in FAILED_OUTCOMES:
        if params["as_json"]:
            click.echo(json.dumps(data, default=str, sort_keys=True))
        elif params["log_format"] != "json":  # JSON logs already carry it, as JSON
            click.echo(f"Error: {data['error']}", err=True)
    else:
        report(data, params["as_json"], runner.summary_text(data))
    if data["exit_code"]:  # a failure, or a run that ended cleanly short of its work (9)
        raise SystemExit(data["exit_code"])


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
    services = build_services({**params, "progress": False}, None)
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
    data = runner.failure_data(kind, exc)
    if ctx.params.get("as_json"):
        click.echo(json.dumps(data, default=str, sort_keys=True))
    if ctx.params.get("log_format") == "json":
        log.error("%s failed: %s", kind, data["error"])
    else:
        click.echo(f"Error: {data['error']}", err=True)
    raise SystemExit(data["exit_code"])


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
    settings = runner.settings_from(params["base"], params)
    services = build_services(params, build_jobo(params))
    metrics = RunMetrics(params["metrics_file"])
    server = None
    if params["metrics_port"] is not None:
        try:
            server = start_metrics_server(metrics.metrics, params["metrics_port"])
        except OSError as exc:
            raise click.UsageError(str(exc)) from exc
        log.info("run: serving metrics on port %d (/metrics)", server.port)

    def on_result(data: dict[str, Any]) -> None:  # --json: one object per cycle
        report(data, params["as_json"], runner.summary_text(data))

    try:
        cycles = runner.run_forever(
            services,
            settings,
            every=params["every"],
            resync_every=params["resync_every"],
            max_cycles=params["max_cycles"],
            metrics=metrics,
            on_result=on_result,
        )
    except SyncError as exc:  # an index nobody initialised: stop now, exit 2
        _fail_command("run", exc)
    finally:
        if server is not None:
            server.stop()
    log.info("run: stopped after %s", plural(cycles, "run"))
