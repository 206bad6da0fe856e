"""``jobo-indexer dashboards import`` against recorded OpenSearch Dashboards exchanges.

Dashboards cannot run here, so the saved-objects import API is replayed with ``responses`` from the
shapes recorded in tests/support/fixtures/osd-import-*.json. The requests are asserted: path, the
overwrite flag, the ``osd-xsrf`` header, basic auth, and the multipart file with its index patterns
rewritten for the base.
"""

from __future__ import annotations

import base64
import json
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from click.testing import CliRunner

import indexer.cli.search  # noqa: F401 (registers the commands on main)
from indexer.cli import main
from indexer.dashboards import (
    DashboardsError,
    import_saved_objects,
    load_saved_objects,
    parse_ndjson,
    to_ndjson,
)

FIXTURES = Path(__file__).resolve().parents[1] / "support" / "fixtures"
OSD = "http://osd.example:5601"
ENDPOINT = f"{OSD}/api/saved_objects/_import"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def replay(name: str) -> None:
    exchange = recorded(name)["response"]
    responses.add(responses.POST, ENDPOINT, json=exchange["body"], status=exchange["status"])


def multipart_files(request: requests.PreparedRequest) -> dict[str, tuple[str, bytes]]:
    """Field name -> (file name, content) of a multipart/form-data request body."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    files = {}
    for part in message.iter_parts():
        files[part.get_param("name", header="content-disposition")] = (
            part.get_filename(),
            part.get_payload(decode=True),
        )
    return files


def imported_objects(request: requests.PreparedRequest) -> list[dict[str, Any]]:
    name, content = multipart_files(request)["file"]
    assert name.endswith(".ndjson")
    return parse_ndjson(content.decode("utf-8"))


@responses.activate
def test_cli_import_posts_multipart_with_xsrf_overwrite_and_rewritten_patterns() -> None:
    replay("osd-import-success.json")
    result = CliRunner().invoke(
        main, ["dashboards", "import", "--url", OSD + "/", "--index", "acme-jobs"]
    )
    assert result.exit_code == 0, result.output
    assert "imported 2 of" in result.output
    (call,) = responses.calls
    request = call.request
    assert request.method == "POST"
    assert request.url.startswith(ENDPOINT + "?")
    assert "overwrite=true" in request.url
    assert request.headers["osd-xsrf"] == "true"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "Authorization" not in request.headers
    objects = imported_objects(request)
    titles = {o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    assert titles == {"acme-jobs-all", "acme-jobs-indexer-runs"}
    shipped = load_saved_objects()
    assert len(objects) == len(shipped)
    assert all(o["id"].endswith("-acme-jobs") for o in objects)


@responses.activate
def test_default_base_imports_the_file_unchanged() -> None:
    replay("osd-import-success.json")
    result = CliRunner().invoke(main, ["dashboards", "import", "--url", OSD, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["success"] is True
    assert summary["imported"][0] == "index-pattern jobo-index-pattern-jobs-all"
    sent = imported_objects(responses.calls[0].request)
    assert to_ndjson(sent) == to_ndjson(load_saved_objects())


@responses.activate
def test_basic_auth_from_the_environment_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    replay("osd-import-success.json")
    monkeypatch.setenv("OSD_USERNAME", "admin")
    monkeypatch.setenv("OSD_PASSWORD", "s3cret-Pass")
    result = CliRunner().invoke(main, ["dashboards", "import", "--url", OSD])
    assert result.exit_code == 0, result.output
    header = responses.calls[0].request.headers["Authorization"]
    assert header == "Basic " + base64.b64encode(b"admin:s3cret-Pass").decode()
    assert "s3cret-Pass" not in result.output


@responses.activate
def test_partial_failure_lists_each_object_and_exits_non_zero() -> None:
    replay("osd-import-errors.json")
    result = CliRunner().invoke(main, ["dashboards", "import", "--url", OSD, "--no-overwrite"])
    assert result.exit_code == 1
    assert "overwrite=false" in responses.calls[0].request.url
    assert "index-pattern jobo-index-pattern-jobs-all 'jobs-all' failed (conflict)" in result.output
    assert "missing index-pattern jobo-index-pattern-jobs-all" in result.output
    assert "immense term" in result.output


@responses.activate
def test_unauthorised_import_says_how_to_authenticate() -> None:
    replay("osd-import-unauthorized.json")
    with pytest.raises(DashboardsError, match="--user/--password"):
        import_saved_objects(OSD, to_ndjson(load_saved_objects()), username="x", password="bad")


@responses.activate
def test_unreachable_dashboards_is_a_clear_error_without_credentials() -> None:
    responses.add(responses.POST, ENDPOINT, body=requests.ConnectionError("refused"))
    with pytest.raises(DashboardsError, match="cannot reach OpenSearch Dashboards") as caught:
        import_saved_objects(OSD, "{}\n", username="admin", password="hunter2")
    assert "hunter2" not in str(caught.value)


@responses.activate
def test_a_non_json_answer_is_reported_with_its_status() -> None:
    responses.add(responses.POST, ENDPOINT, body="<html>Bad Gateway</html>", status=502)
    result = CliRunner().invoke(main, ["dashboards", "import", "--url", OSD])
    assert result.exit_code == 2
    assert "HTTP 502" in result.output


@responses.activate
def test_workspace_import_names_the_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    """With workspaces enabled (Dashboards 3.x), objects in no workspace are hidden: --workspace
    (or OSD_WORKSPACE) imports into one; without it the request names none."""
    replay("osd-import-success.json")
    replay("osd-import-success.json")
    runner = CliRunner()
    assert runner.invoke(main, ["dashboards", "import", "--url", OSD]).exit_code == 0
    monkeypatch.setenv("OSD_WORKSPACE", "ws-jobs")
    assert runner.invoke(main, ["dashboards", "import", "--url", OSD]).exit_code == 0
    first, second = (call.request.url for call in responses.calls)
    assert "workspaces" not in first
    assert "workspaces=ws-jobs" in second
    assert "overwrite=true" in second
