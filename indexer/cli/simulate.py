"""``jobo-indexer simulate``: run the Jobo Feed API simulator in the foreground."""

from __future__ import annotations

import signal
import sys
import time
from datetime import datetime
from types import FrameType

import click

from indexer.cli import main
from indexer.simulator import SimulatorConfig, serve


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    # PID 1 in a container ignores SIGTERM unless it handles it; exit like Ctrl-C.
    raise KeyboardInterrupt


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port, 0..65535 (0 = any free port).",
)
@click.option("--jobs", default=10_000, show_default=True, type=click.IntRange(min=0))
@click.option("--seed", default=42, show_default=True, type=int, help="Same seed, same world.")
@click.option(
    "--api-key",
    envvar="JOBO_API_KEY",
    required=True,
    help="Key clients must send as X-Api-Key (env JOBO_API_KEY).",
)
@click.option("--retry-after", default=5, show_default=True, type=click.IntRange(min=0))
@click.option("--latency-ms", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--cursor-ttl",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a cursor stays valid.",
)
@click.option(
    "--credits",
    type=click.FloatRange(min=0),
    default=None,
    help="Start a wallet with this many credits (0.5 per delivered job).",
)
@click.option(
    "--subscription",
    is_flag=True,
    help="Feed subscription: pages are free (the default when --credits is not given).",
)
@click.option(
    "--anchor",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    default=None,
    help="World time zero (UTC); default now rounded down to the hour.",
)
def simulate(
    host: str,
    port: int,
    jobs: int,
    seed: int,
    api_key: str,
    retry_after: int,
    latency_ms: int,
    cursor_ttl: float,
    credits: float | None,
    subscription: bool,
    anchor: datetime | None,
) -> None:
    """Serve a simulated Jobo Feed API (plus /_sim/ control endpoints) until stopped."""
    if credits is not None and subscription:
        raise click.UsageError("give --credits (a wallet) or --subscription, not both")
    config = SimulatorConfig(
        api_key=api_key,
        jobs=jobs,
        seed=seed,
        retry_after=retry_after,
        latency_ms=latency_ms,
        cursor_ttl=cursor_ttl,
        credits=credits,
        subscription=credits is None,
        anchor=anchor,
    )
    started = time.monotonic()
    try:
        server = serve(config, host, port)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {error.strerror}; pick another --port"
        ) from error
    counts = server.app.world.counts()
    bound_host, bound_port = server.server_address[:2]
    wallet = "subscription (free)" if credits is None else f"wallet of {credits:g} credits"
    click.echo(
        f"Jobo feed simulator: {counts['active_jobs']} active + {counts['expired_jobs']} expired "
        f"jobs (seed {seed}, {wallet}) built in {time.monotonic() - started:.1f}s",
        err=True,
    )
    click.echo(f"http://{bound_host}:{bound_port}")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        click.echo("simulator stopped", err=True)
    finally:
        server.server_close()
