"""A non-editable install finds mappings/ and the dashboards: build the wheel, run elsewhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_mappings_and_finds_them_from_another_folder(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("jobo_indexer-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    for name in ("jobs.json", "indexer-state.json", "indexer-runs.json", "dead-letters.json"):
        assert f"indexer/_data/mappings/{name}" in names
    assert "indexer/_data/dashboards/jobo-indexer.ndjson" in names
    assert "indexer/data/fx_rates.json" in names
    for name in ("index.html", "app.js", "style.css", "docs.html", "docs.js"):
        assert f"indexer/serve/static/{name}" in names  # the search page ships in the wheel
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "from indexer.resources import mappings_dir; from indexer.store import schema; "
        "print(mappings_dir()); print(schema.load_jobs_mapping().version)"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    found, version = run.stdout.split()
    assert Path(found) == site / "indexer" / "_data" / "mappings"
    assert int(version) >= 1
