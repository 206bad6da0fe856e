"""The service when OpenSearch fails it: a node that never answers, one that is not there.

No OpenSearch here: a listening socket that never answers (the request times out) and a closed
port (the connection is refused). The answers are JSON 504/503, never a 500, and carry neither
the OpenSearch URL nor its password.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from indexer.store.connection import connect
from tests.support.serve import running_service

PASSWORD = "s3cret-pw-7731"


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _assert_no_secret(answer: requests.Response, port: int) -> None:
    assert PASSWORD not in answer.text
    assert f":{port}" not in answer.text
    assert "elastic" not in answer.text


def test_a_node_that_never_answers_is_a_504_within_the_timeout(black_hole: int) -> None:
    client = connect(f"http://elastic:{PASSWORD}@127.0.0.1:{black_hole}", timeout=0.5)
    with running_service(client, "jobs") as url:
        for path in ("/api/search?q=engineer", "/api/suggest?q=soft", "/api/jobs/x"):
            answer = requests.get(url + path, timeout=10)
            assert answer.status_code == 504, answer.text
            assert answer.elapsed.total_seconds() < 5
            assert "in time" in answer.json()["error"]["message"]
            _assert_no_secret(answer, black_hole)
        health = requests.get(url + "/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json()["opensearch"] == {"answers": False, "reason": "timeout"}
        _assert_no_secret(health, black_hole)


def test_a_node_that_is_not_there_is_a_503() -> None:
    port = _closed_port()
    client = connect(f"http://elastic:{PASSWORD}@127.0.0.1:{port}", timeout=2)
    with running_service(client, "jobs") as url:
        answer = requests.get(url + "/api/search", timeout=10)
        assert answer.status_code == 503
        assert answer.json()["error"] == {
            "status": 503,
            "parameter": None,
            "message": "OpenSearch does not answer: try again later",
        }
        _assert_no_secret(answer, port)
        health = requests.get(url + "/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json()["opensearch"]["reason"] == "unreachable"
        _assert_no_secret(health, port)


def test_bad_input_is_refused_before_opensearch_is_asked() -> None:
    """The parameters are checked first: a 400 even while OpenSearch is down."""
    client = connect(f"http://127.0.0.1:{_closed_port()}", timeout=2)
    with running_service(client, "jobs") as url:
        answer = requests.get(url + "/api/search?size=500", timeout=10)
        assert answer.status_code == 400
        assert answer.json()["error"]["parameter"] == "size"
