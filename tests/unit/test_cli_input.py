"""Input slips caught by the CLI before anything connects: each names the option and the fix."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result

from indexer.cli import main
from indexer.durations import DurationError, format_duration, parse_duration

# Nothing listens here: a command that got past its options would fail with exit code 6, not 2.
NOWHERE = ["--opensearch-url", "http://127.0.0.1:9"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"JOBO_API_KEY": "k"})
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("2d12h", timedelta(hours=60)),
        (" 7d ", timedelta(days=7)),
        ("1H 30M", timedelta(minutes=90)),
    ],
)
def test_durations_in_the_forms_operators_write(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "m", "1x", "1h-30m", "-5m", "1.h", "30 minutes"])
def test_a_non_duration_lists_the_accepted_forms(text: str) -> None:
    with pytest.raises(DurationError, match=r"e\.g\. 90s, 15m, 1\.5h, 1h30m"):
        parse_duration(text)


def test_format_duration_is_the_compact_compound_form() -> None:
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(days=7)) == "7d"
    assert format_duration(timedelta(0)) == "0s"


@pytest.mark.parametrize(
    ("command", "option"),
    [("sync", "--overlap"), ("run", "--every"), ("run", "--resync-every")],
)
def test_a_bad_duration_names_its_option(command: str, option: str) -> None:
    code, output = invoke(command, *NOWHERE, option, "soon")
    assert code == 2, output
    assert f"'{option}'" in output
    assert "1h30m" in output  # the accepted forms, compound ones included


def test_run_every_below_the_minimum_is_refused_before_any_run() -> None:
    code, output = invoke("run", *NOWHERE, "--every", "0s")
    assert code == 2, output
    assert "'--every'" in output
    assert "minimum 1m" in output
    assert "paid API" in output


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_simulate_refuses_a_port_outside_0_65535(port: str) -> None:
    result = CliRunner().invoke(main, ["simulate", "--api-key", "k", "--port", port])
    assert result.exit_code == 2, result.output
    assert "'--port'" in result.output
    assert "0<=x<=65535" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- output contract


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"JOBO_API_KEY": "k"})


def test_a_usage_error_under_json_is_a_json_object_in_the_flows_own_shape() -> None:
    result = run_cli("sync", *NOWHERE, "--json", "--batch-size", "0")
    assert result.exit_code == 2
    failure = json.loads(result.stdout.strip().splitlines()[-1])
    assert failure["outcome"] == "failed"
    assert failure["exit_code"] == 2
    assert "'--batch-size'" in failure["error"]
    # the same keys a successful run prints (one shape): counts, steps, error...
    for key in ("kind", "fetched", "indexed", "unchanged", "expired", "steps", "error", "written"):
        assert key in failure, key


def test_a_failed_flow_prints_the_same_shape_as_a_successful_one() -> None:
    failed = json.loads(run_cli("sync", *NOWHERE, "--json").stdout.strip().splitlines()[-1])
    assert failed["exit_code"] == 6
    from indexer.sync.flows import RunSummary
    from indexer.sync.runner import summary_data

    assert set(failed) == set(summary_data(RunSummary(kind="sync", outcome="success")))


@pytest.mark.parametrize(
    "args",
    [
        ["status", *NOWHERE, "--json"],
        ["search", "x", *NOWHERE, "--json"],
        ["init", *NOWHERE, "--json"],
        ["dashboards", "import", "--url", "http://127.0.0.1:9", "--json"],
        ["search", "--size", "0", "--json"],
    ],
)
def test_every_failure_under_json_prints_one_json_object(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.exit_code != 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    failure = json.loads(lines[0])
    assert failure["outcome"] == "failed"
    assert failure["exit_code"] == result.exit_code
    assert failure["error"]


@pytest.mark.parametrize(
    "args",
    [
        ["sync", *NOWHERE, "--log-format", "json"],
        ["sync", *NOWHERE, "--log-format", "json", "--batch-size", "0"],
        ["status", *NOWHERE, "--log-format", "json"],
    ],
)
def test_json_logs_stay_json_lines_when_a_command_fails(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "the failure is logged"
    for line in lines:
        entry = json.loads(line)  # no plain "Error: ..." line among them
        assert "level" in entry
    assert any(json.loads(line)["level"] == "error" for line in lines)
