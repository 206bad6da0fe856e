"""``scripts/opensearch-local`` choices that need no node: which JDK, URLs, refused settings.

Fake JDKs are shell scripts that print a ``java -version`` banner; the real node starts are
covered by every integration test and the cluster fault cases.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "opensearch-local"


def fake_jdk(root: Path, name: str, version: str) -> Path:
    java = root / name / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2026-01-01' >&2\n")
    java.chmod(0o755)
    return java


@pytest.fixture(autouse=True)
def java_17_on_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """``java`` on the PATH is a JDK 17 on every machine (too old for 3.x, enough for 2.19)."""
    root = tmp_path_factory.mktemp("path")
    java = fake_jdk(root, "jdk", "17.0.15")
    monkeypatch.setenv("PATH", f"{java.parent}:{os.environ['PATH']}")
    return java


def script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENSEARCH_", "JAVA_"))}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_3x_takes_the_newest_jdk_21_plus_under_the_jdk_root(tmp_path: Path) -> None:
    fake_jdk(tmp_path, "jdk-17", "17.0.15")
    newest = fake_jdk(tmp_path, "jdk-25", "25.0.3")
    fake_jdk(tmp_path, "jdk-21", "21.0.2")
    done = script("java", OPENSEARCH_LOCAL_JDKS=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(newest)


def test_java_home_is_honoured_when_new_enough(tmp_path: Path) -> None:
    fake_jdk(tmp_path / "jvm", "jdk-25", "25.0.3")
    home21 = fake_jdk(tmp_path, "home21", "21.0.2")
    done = script(
        "java", JAVA_HOME=str(home21.parents[1]), OPENSEARCH_LOCAL_JDKS=str(tmp_path / "jvm")
    )
    assert done.stdout.strip() == str(home21)


def test_a_java_home_too_old_for_3x_is_passed_over(tmp_path: Path) -> None:
    newest = fake_jdk(tmp_path / "jvm", "jdk-25", "25.0.3")
    home17 = fake_jdk(tmp_path, "home17", "17.0.15")
    done = script(
        "java", JAVA_HOME=str(home17.parents[1]), OPENSEARCH_LOCAL_JDKS=str(tmp_path / "jvm")
    )
    assert done.stdout.strip() == str(newest)


def test_2_19_runs_on_a_jdk_17(tmp_path: Path) -> None:
    home17 = fake_jdk(tmp_path, "home17", "17.0.15")
    done = script(
        "java",
        JAVA_HOME=str(home17.parents[1]),
        OPENSEARCH_LOCAL_VERSION="2.19.1",
        OPENSEARCH_LOCAL_JDKS=str(tmp_path / "none"),
    )
    assert done.stdout.strip() == str(home17)


def test_no_jdk_21_fails_naming_what_to_install(tmp_path: Path) -> None:
    fake_jdk(tmp_path, "jdk-17", "17.0.15")
    fake_jdk(tmp_path, "jdk-8", "1.8.0_392")
    done = script("java", OPENSEARCH_LOCAL_JDKS=str(tmp_path))
    assert done.returncode == 1
    assert "OpenSearch 3.8.0 needs a JDK 21 or newer and none was found" in done.stderr
    assert "set JAVA_HOME" in done.stderr


def test_a_cluster_has_consecutive_ports_from_the_given_one() -> None:
    done = script("url", OPENSEARCH_LOCAL_NODES="3", OPENSEARCH_LOCAL_PORT="9270")
    assert done.stdout.strip() == (
        "http://127.0.0.1:9270,http://127.0.0.1:9271,http://127.0.0.1:9272"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OPENSEARCH_LOCAL_NODES": "0"}, "OPENSEARCH_LOCAL_NODES=0: give a node count"),
        ({"OPENSEARCH_LOCAL_NODES": "three"}, "give a node count"),
        ({"OPENSEARCH_LOCAL_VERSION": "latest"}, "give a version like 3.8.0 or 2.19.1"),
    ],
)
def test_settings_that_cannot_work_are_refused(env: dict[str, str], message: str) -> None:
    done = script("url", **env)
    assert done.returncode == 1
    assert message in done.stderr


def test_status_of_a_home_with_no_nodes_says_so(tmp_path: Path) -> None:
    done = script(
        "status",
        OPENSEARCH_LOCAL_HOME=str(tmp_path),
        OPENSEARCH_LOCAL_NODES="2",
        OPENSEARCH_LOCAL_PORT="9268",
    )
    assert done.returncode == 3
    assert "node 1 not running" in done.stdout
    assert "node 2 not running" in done.stdout
