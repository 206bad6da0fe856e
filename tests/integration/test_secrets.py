"""No secret leaks: every command, run for real with a known Jobo API key and a known OpenSearch
password (basic auth enforced by nginx in front of the real node), with JSON DEBUG logs and
``--json`` output, plus failing variants; then every captured byte and every document of the
state, run and dead-letter indices is searched for the secrets and their encoded forms."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from opensearchpy import OpenSearch, helpers

from indexer.cli import main
from indexer.simulator import RunningSimulator, start_simulator
from indexer.store.schema import index_names
from tests.support.tls_proxy import Pki, TlsProxy, free_port, make_pki, start_tls_proxy

pytestmark = pytest.mark.integration

API_KEY = f"sk-TEST-SECRET-{secrets.token_hex(12)}"
WRONG_API_KEY = f"sk-TEST-SECRET-WRONG-{secrets.token_hex(12)}"
USER = "indexer"
PASSWORD = f"pw-TEST-SECRET-{secrets.token_hex(12)}"
WRONG_PASSWORD = f"pw-TEST-SECRET-WRONG-{secrets.token_hex(12)}"
SECRETS = (API_KEY, WRONG_API_KEY, PASSWORD, WRONG_PASSWORD)


def _base64_cores(text: str) -> list[str]:
    """Base64 of ``text`` at each of the three alignments it can have inside a longer value,
    without the edge characters that depend on its neighbours."""
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + text.encode()).decode().rstrip("=")
        cores.append(encoded[(4 if offset else 0) : -4])
    return cores


def forbidden_forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    for secret in SECRETS:
        forms[secret] = secret
        forms[f"url-quoted {secret}"] = quote(secret, safe="")
        for alignment, core in enumerate(_base64_cores(secret)):
            forms[f"base64 of {secret} (alignment {alignment})"] = core
    for password in (PASSWORD, WRONG_PASSWORD):
        basic = base64.b64encode(f"{USER}:{password}".encode()).decode()
        forms[f"basic auth header with {password}"] = basic
    return forms


@dataclass
class Captured:
    label: str
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Transcript:
    base: str
    runs: list[Captured] = field(default_factory=list)

    def by_label(self, label: str) -> Captured:
        return next(run for run in self.runs if run.label == label)


@dataclass(frozen=True)
class Setting:
    proxy: TlsProxy
    pki: Pki
    sim: RunningSimulator
    tmp: Path


def base_env(setting: Setting) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENSEARCH_", "JOBO_", "AWS_"))
    }
    env.update(
        OPENSEARCH_URL=setting.proxy.url,
        OPENSEARCH_CA_CERTS=str(setting.pki.ca_cert),
        OPENSEARCH_USER=USER,
        OPENSEARCH_PASSWORD=PASSWORD,
        JOBO_API_KEY=API_KEY,
        JOBO_BASE_URL=setting.sim.url,
        JOBO_INDEXER_LOG_FORMAT="json",
    )
    return env


def url_with_password(url: str, password: str = PASSWORD) -> str:
    return url.replace("https://", f"https://{USER}:{quote(password, safe='')}@")


class Runner:
    def __init__(self, setting: Setting, transcript: Transcript) -> None:
        self.setting = setting
        self.transcript = transcript
        self.work_dir = setting.tmp / "work"

    def run(
        self,
        label: str,
        *args: str,
        env: dict[str, str] | None = None,
        flow: bool = False,
        logs: bool = True,
        index: bool = True,
    ) -> Captured:
        extra = ["--index", self.transcript.base] if index else []
        if logs:
            extra += ["--log-level", "DEBUG", "--log-format", "json"]
        if flow:
            extra += ["--no-progress"]
            if args[0] in ("sync", "resync", "run"):  # the commands that may spill feed ids
                extra += ["--work-dir", str(self.work_dir)]
        command = [sys.executable, "-m", "indexer", *args, *extra]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env if env is not None else base_env(self.setting),
            timeout=300,
            check=False,
        )
        captured = Captured(label, command, done.returncode, done.stdout, done.stderr)
        self.transcript.runs.append(captured)
        return captured


def run_simulate_briefly(setting: Setting, transcript: Transcript) -> None:
    command = [sys.executable, "-m", "indexer", "simulate", "--port", "0", "--jobs", "20"]
    command += ["--api-key", API_KEY]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base_env(setting),
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    accepted = requests.post(
        f"{url}/api/jobs/feed", json={}, headers={"X-Api-Key": API_KEY}, timeout=30
    )
    refused = requests.post(
        f"{url}/api/jobs/feed", json={}, headers={"X-Api-Key": WRONG_API_KEY}, timeout=30
    )
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    transcript.runs.append(
        Captured(
            "simulate",
            command,
            process.returncode,
            url + "\n" + stdout + f"\n{accepted.status_code} {refused.status_code}",
            stderr,
        )
    )


@pytest.fixture(scope="module")
def setting(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setting]:
    tmp = tmp_path_factory.mktemp("secrets")
    pki = make_pki(tmp / "pki")
    with (
        start_tls_proxy(tmp / "nginx", pki, opensearch_url, {USER: PASSWORD}) as proxy,
        start_simulator(jobs=60, seed=11, api_key=API_KEY) as sim,
    ):
        yield Setting(proxy, pki, sim, tmp)


@pytest.fixture(scope="module")
def transcript(setting: Setting, os_client: OpenSearch) -> Iterator[Transcript]:
    base = f"test-secrets-{uuid.uuid4().hex[:10]}"
    transcript = Transcript(base)
    runner = Runner(setting, transcript)
    sim, proxy = setting.sim, setting.proxy
    env = base_env(setting)
    key_file = setting.tmp / "api-key"
    key_file.write_text(API_KEY + "\n")
    password_file = setting.tmp / "opensearch-password"
    password_file.write_text(PASSWORD + "\n")
    no_secrets_in_env = {
        key: value
        for key, value in env.items()
        if key not in ("OPENSEARCH_PASSWORD", "JOBO_API_KEY", "OPENSEARCH_USER")
    }
    try:
        # Each secret travels every way it can: environment, argv, file, URL.
        runner.run("init", "init", "--json", logs=False)
        runner.run("ping", "ping", "--json", logs=False, index=False)
        # dead letters (after=1: past the backfill's 1-job cost estimate)
        sim.add_fault(path="/api/jobs/feed", malformed_jobs=3, times=1, after=1)
        runner.run(
            "backfill (secrets in argv)",
            "backfill",
            "--json",
            "--api-key",
            API_KEY,
            "--opensearch-user",
            USER,
            "--opensearch-password",
            PASSWORD,
            flow=True,
            env=no_secrets_in_env,
        )
        sim.mutate(create=3, update=4, expire=2)
        runner.run(
            "sync (secrets in files)",
            "sync",
            "--json",
            "--api-key-file",
            str(key_file),
            "--opensearch-user",
            USER,
            "--opensearch-password-file",
            str(password_file),
            flow=True,
            env=no_secrets_in_env,
        )
        runner.run("expire", "expire", "--json", flow=True)
        runner.run(
            "resync (password in the URL)",
            "resync",
            "--json",
            "--opensearch-url",
            url_with_password(proxy.url),
            flow=True,
            env={k: v for k, v in env.items() if k != "OPENSEARCH_PASSWORD"},
        )
        runner.run("status", "status", "--json")
        runner.run("run", "run", "--max-cycles", "1", "--json", flow=True)
        runner.run("migrate", "migrate", "--json", logs=False)
        # The read commands, when registered: the URL carries the password, which works
        # whether or not they take the connection options yet.
        for command, args in (
            ("search", ["search", "engineer"]),
            ("suggest", ["suggest", "eng"]),
            ("stats", ["stats"]),
        ):
            if command in main.list_commands(None):  # type: ignore[arg-type]
                runner.run(
                    command,
                    *args,
                    "--json",
                    "--opensearch-url",
                    url_with_password(proxy.url),
                    logs=False,
                )
        run_simulate_briefly(setting, transcript)
        # Failing variants.
        runner.run(
            "sync with a wrong API key",
            "sync",
            "--json",
            flow=True,
            env={**env, "JOBO_API_KEY": WRONG_API_KEY},
        )
        runner.run(
            "status with a wrong password",
            "status",
            "--json",
            env={**env, "OPENSEARCH_PASSWORD": WRONG_PASSWORD},
        )
        runner.run(
            "init with a wrong password in the URL",
            "init",
            "--json",
            "--opensearch-url",
            url_with_password(proxy.url, WRONG_PASSWORD),
            logs=False,
            env={k: v for k, v in env.items() if k != "OPENSEARCH_PASSWORD"},
        )
        unreachable = f"https://127.0.0.1:{free_port()}"
        runner.run(
            "backfill with OpenSearch unreachable",
            "backfill",
            "--json",
            "--opensearch-url",
            url_with_password(unreachable),
            flow=True,
        )
        runner.run(
            "sync with the Jobo API unreachable",
            "sync",
            "--json",
            "--jobo-url",
            f"http://127.0.0.1:{free_port()}",
            "--upstream-retries",
            "1",
            "--upstream-backoff",
            "0",
            flow=True,
        )
        if os.environ.get("JOBO_SECRETS_TRANSCRIPT"):  # for a human reading what ran
            Path(os.environ["JOBO_SECRETS_TRANSCRIPT"]).write_text(
                json.dumps([run.__dict__ for run in transcript.runs], indent=1)
            )
        yield transcript
    finally:
        os_client.indices.delete(index=f"{base}*", ignore_unavailable=True, expand_wildcards="all")
        os_client.indices.delete_index_template(name=f"{base}*", ignore=[404])


def dump_bookkeeping(client: OpenSearch, base: str) -> dict[str, list[str]]:
    names = index_names(base)
    dumped: dict[str, list[str]] = {}
    for index in (names.state, names.runs, names.dead_letters):
        client.indices.refresh(index=index)
        dumped[index] = [json.dumps(hit) for hit in helpers.scan(client, index=index)]
    dumped["settings, mappings and aliases"] = [
        json.dumps(client.indices.get(index=f"{base}*", expand_wildcards="all"))
    ]
    return dumped


def find_leaks(label: str, text: str) -> list[str]:
    return [
        f"{label}: {form_name}" for form_name, form in forbidden_forms().items() if form in text
    ]


def test_the_commands_ran_and_failed_as_intended(transcript: Transcript) -> None:
    """Makes the search meaningful: real runs with DEBUG logs, and each failure really failed."""
    expected = {
        "init": 0,
        "ping": 0,
        "backfill (secrets in argv)": 0,
        "sync (secrets in files)": 0,
        "expire": 0,
        "resync (password in the URL)": 0,
        "status": 0,
        "run": 0,
        "migrate": 0,
        "sync with a wrong API key": 4,
        "status with a wrong password": 6,
        "init with a wrong password in the URL": 6,
        "backfill with OpenSearch unreachable": 6,
        "sync with the Jobo API unreachable": 5,
    }
    got = {run.label: run.returncode for run in transcript.runs if run.label in expected}
    assert got == expected, {r.label: r.stderr[-800:] for r in transcript.runs if r.returncode}
    for label in ("search", "suggest", "stats"):
        if label in main.list_commands(None):  # type: ignore[arg-type]
            assert transcript.by_label(label).returncode == 0
    simulate = transcript.by_label("simulate")
    assert simulate.stdout.rstrip().endswith("200 401")
    backfill = transcript.by_label("backfill (secrets in argv)")
    levels = {json.loads(line)["level"] for line in backfill.stderr.splitlines() if line[:1] == "{"}
    assert "info" in levels, backfill.stderr[
        -800:
    ]  # JSON log lines, so there was something to scan
    assert json.loads(backfill.stdout.strip().splitlines()[-1])["dead_lettered"] == 3


def test_no_secret_in_any_output(transcript: Transcript) -> None:
    leaks = [
        leak
        for run in transcript.runs
        for leak in find_leaks(f"{run.label} stdout", run.stdout)
        + find_leaks(f"{run.label} stderr", run.stderr)
    ]
    assert leaks == []


def test_no_secret_in_state_runs_or_dead_letters(
    transcript: Transcript, os_client: OpenSearch
) -> None:
    dumped = dump_bookkeeping(os_client, transcript.base)
    names = index_names(transcript.base)
    # backfill, sync, expire, resync, run, and the two syncs that failed upstream
    assert len(dumped[names.runs]) >= 7
    assert dumped[names.state]
    assert len(dumped[names.dead_letters]) == 3
    leaks = [leak for index, docs in dumped.items() for leak in find_leaks(index, "\n".join(docs))]
    assert leaks == []


def test_the_forbidden_forms_would_be_found() -> None:
    """The search itself works: each form is found where a leak would put it."""
    header = "Authorization: Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert f"header: basic auth header with {PASSWORD}" in find_leaks("header", header)
    assert find_leaks("log", f"key={API_KEY}")
    embedded = base64.b64encode(f"X-Api-Key: {API_KEY}".encode()).decode()
    assert [leak.split(" (")[0] for leak in find_leaks("encoded", embedded)] == [
        f"encoded: base64 of {API_KEY}"
    ]
    assert find_leaks("clean", "nothing to see") == []
