"""Where a resync spills its feed ids, and what happens when that place changes between runs.

A resync resumes only with the very spill file it wrote (anything else would make its evidence
incomplete). When the resync in progress spilled to another ``--work-dir`` (a typo, another
container volume), the new run refuses and names the old place, instead of silently paging the
feed again from page 1 and leaving the old file behind; ``--restart`` starts over on purpose
and deletes the old file.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from indexer.errors import ExitCode, SyncError
from indexer.store.state import StateStore
from indexer.sync.resync_spill import ResyncSpill

log = logging.getLogger("indexer.sync")


def spill_path(work_dir: Path, base: str) -> Path:
    return work_dir / f"{base}-resync-seen.sqlite"


def check_resync_spill(state: StateStore, path: Path, *, restart: bool) -> None:
    """Refuse (exit 2) to abandon a resync in progress whose spill lives elsewhere."""
    found = state.load("resync")
    doc = found.doc if found else {}
    old = doc.get("seen_path")
    if not doc or doc.get("completed") or not old or Path(old) == path:
        return
    if not Path(old).exists():
        log.warning(
            "resync: the resync in progress spilled its feed ids to %s, which is gone: "
            "starting over from the first page",
            old,
        )
        return
    if restart:
        log.warning("resync: --restart: deleting the spill of the resync in progress, %s", old)
        for suffix in ("", "-wal", "-shm"):
            Path(old + suffix).unlink(missing_ok=True)
        return
    raise SyncError(
        f"a resync is in progress (page {doc.get('pages', 0)}, {doc.get('jobs', 0)} jobs "
        f"since {doc.get('started_at')}) with its feed ids in {old}, not in {path}: run it with "
        f"--work-dir {Path(old).parent} to resume it, or pass --restart to start over from the "
        "first page (which deletes that file)",
        exit_code=ExitCode.USAGE,
    )


def open_spill(path: Path) -> ResyncSpill:
    try:
        return ResyncSpill(path)
    except (OSError, sqlite3.Error) as exc:
        raise SyncError(
            f"cannot write the resync spill {path} ({exc}): pass --work-dir (or set "
            "JOBO_INDEXER_WORK_DIR) to a directory this user can write",
            exit_code=ExitCode.USAGE,
        ) from None
