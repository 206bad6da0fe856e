"""``jobo-indexer ping``: check that OpenSearch answers (the smallest end-to-end command)."""

from __future__ import annotations

import json

import click

from indexer.cli import main
from indexer.cli.options import (
    connection_settings,
    opensearch_client,
    opensearch_connection_options,
)


@main.command()
@opensearch_connection_options
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def ping(opensearch_url: str, as_json: bool) -> None:
    """Check that OpenSearch answers (URL, TLS, credentials) and print its version."""
    url = connection_settings(opensearch_url).url  # without user:password
    info = opensearch_client(opensearch_url).info()  # the check already proved GET / works
    summary = {"url": url, "version": info["version"]["number"]}
    click.echo(json.dumps(summary) if as_json else f"OpenSearch {summary['version']} at {url}")
