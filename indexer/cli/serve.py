"""``serve``: the read-only search service (JSON API, OpenAPI docs, a search page)."""

from __future__ import annotations

import json

import click

from indexer.cli import main
from indexer.cli.failures import or_exit
from indexer.cli.options import opensearch_client, opensearch_options
from indexer.store.schema import index_names


@main.command(name="serve")
@opensearch_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0: any free."
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    envvar="JOBO_SEARCH_CORS_ORIGINS",
    show_envvar=True,
    help="An origin allowed to call the API from a browser (repeat; env: space-separated).",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(0.1, 120),
    default=10.0,
    show_default=True,
    help="Seconds an OpenSearch request may take before the API answers 504.",
)
@click.option("--access-log/--no-access-log", default=True, help="One log line per request.")
@click.option("--json", "as_json", is_flag=True, help="Print where it listens as one JSON line.")
def serve_command(
    opensearch_url: str,
    base: str,
    host: str,
    port: int,
    cors_origins: tuple[str, ...],
    request_timeout: float,
    access_log: bool,
    as_json: bool,
) -> None:
    """Serve the search API and page over the index (read-only) until stopped."""
    from indexer.serve import ServiceSettings, create_app, listen, run
    from indexer.serve.fastjson import use_orjson

    alias = or_exit(lambda: index_names(base)).read_alias
    # No connection check: the service starts while OpenSearch is still coming up, and
    # /healthz says whether it answers.
    client = use_orjson(opensearch_client(opensearch_url, check=False, timeout=request_timeout))
    app = create_app(client, ServiceSettings(alias=alias, cors_origins=cors_origins))
    try:
        sock = listen(host, port)
    except OSError as error:
        raise click.UsageError(
            f"cannot listen on {host}:{port} ({error.strerror}): pick another --port or --host"
        ) from None
    bound = sock.getsockname()
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}/"
    if as_json:
        click.echo(
            json.dumps({"kind": "serve", "outcome": "listening", "url": url, "index": alias})
        )
    else:
        click.echo(f"serving {alias!r} at {url} (API docs at {url}docs); Ctrl-C stops", err=True)
    run(app, sock, access_log=access_log)
