"""``jobo-indexer serve`` as a user starts it: a real process on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner
from opensearchpy import OpenSearch

import indexer.cli.serve  # noqa: F401 (registers the command)
from indexer.cli import main
from tests.integration.test_search_data import WorldIndex, world_index  # noqa: F401

pytestmark = pytest.mark.integration


def test_serve_answers_then_stops_on_sigterm(
    opensearch_url: str,
    world_index: WorldIndex,  # noqa: F811
    os_client: OpenSearch,
) -> None:
    args = [sys.executable, "-m", "indexer", "serve", "--port", "0", "--json", "--no-access-log"]
    args += ["--index", world_index.names.base, "--opensearch-url", opensearch_url]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["outcome"] == "listening"
        assert ready["index"] == world_index.names.read_alias
        url = ready["url"]
        health = requests.get(f"{url}healthz", timeout=30)
        assert health.status_code == 200
        page = requests.get(f"{url}api/search", params={"q": "engineer", "size": 3}, timeout=30)
        assert page.status_code == 200
        assert len(page.json()["hits"]) == 3
        assert page.headers["server-timing"].startswith("search;dur=")
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_serve_refuses_a_port_in_use_with_one_json_line(opensearch_url: str) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = str(busy.getsockname()[1])
        env = {"OPENSEARCH_URL": opensearch_url}
        result = CliRunner().invoke(main, ["serve", "--port", port, "--json"], env=env)
    finally:
        busy.close()
    assert result.exit_code == 2
    failure = json.loads(result.stdout.strip().splitlines()[-1])
    assert failure["outcome"] == "failed"
    assert f"cannot listen on 127.0.0.1:{port}" in failure["error"]
    assert "--port" in failure["error"]


def test_serve_help_shows_the_options_and_an_example() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"], env=dict(os.environ))
    assert result.exit_code == 0
    for option in ("--host", "--port", "--cors-origin", "--request-timeout", "--index"):
        assert option in result.output
    assert "jobo-indexer serve" in result.output.split("Example:")[1]
