"""``jobo-indexer ping``: check that OpenSearch answers (the smallest end-to-end command)."""

from __future__ import annotations

import json

import click
from opensearchpy import OpenSearch

from indexer.cli import main


@main.command()
@click.option(
    "--opensearch-url",
    envvar="OPENSEARCH_URL",
    default="http://127.0.0.1:9200",
    show_default=True,
    help="OpenSearch base URL (env OPENSEARCH_URL).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def ping(opensearch_url: str, as_json: bool) -> None:
    """Check that OpenSearch answers and print its version."""
    info = OpenSearch(hosts=[opensearch_url]).info()
    summary = {"url": opensearch_url, "version": info["version"]["number"]}
    click.echo(
        json.dumps(summary) if as_json else f"OpenSearch {summary['version']} at {opensearch_url}"
    )
