"""Who holds the run lock, in words, and removing the lock of a run that is gone.

A lock owner is ``host:pid:token``. On its own host a holder is alive when its pid exists;
elsewhere this host cannot see it, so only an expired lease says it is gone.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from indexer.errors import ExitCode, SyncError
from indexer.store.state import LockHolder, StateStore
from indexer.store.state import force_unlock as remove_lock
from indexer.timestamps import format_timestamp, utcnow


def process_state(owner: str) -> str:
    """``gone`` or ``running`` for a process of this host; ``elsewhere`` when the owner names
    another host (or no pid), whose processes this host cannot see."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return "elsewhere"
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        return "running"  # it exists, under another user
    return "running"


class UnlockRefusedError(SyncError):
    """``--force-unlock`` on a lock whose holder may still be writing."""

    exit_code = ExitCode.LOCKED


def describe_holder(holder: LockHolder, now: datetime | None = None) -> str:
    """Who holds a lock, for people: owner, pid and host, age, lease."""
    now = now or utcnow()
    where = {"running": "running on this host", "gone": "gone from this host"}.get(
        process_state(holder.owner), f"on host {holder.host}"
    )
    lease = "expired" if holder.expired else f"expires in {_age(holder.expires_at - now)}"
    return (
        f"{holder.owner} (pid {holder.pid}, {where}; held for {_age(now - holder.acquired_at)}, "
        f"renewed {_age(now - holder.renewed_at)} ago, lease {lease})"
    )


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def force_unlock(state: StateStore, base: str) -> LockHolder | None:
    """Remove the lock of a run that is gone; returns what was removed (None: it was free).

    Refused (UnlockRefusedError, exit code 3) while the holder runs on this host, or while its
    lease is fresh when it runs elsewhere (this host cannot tell whether it is alive; the lease
    expires by itself and the next run takes it over).
    """

    def check(holder: LockHolder) -> None:
        state = process_state(holder.owner)
        if state == "running":
            raise UnlockRefusedError(
                f"the lock of {base!r} is held by {describe_holder(holder)}: that run "
                f"is alive, so nothing was removed. Wait for it to finish, or stop it (kill "
                f"{holder.pid}: it stores its checkpoint and exits)"
            )
        if state == "elsewhere" and not holder.expired:
            raise UnlockRefusedError(
                f"the lock of {base!r} is held by {describe_holder(holder)}: its "
                "lease is fresh, so it may be alive there and nothing was removed. Check that "
                f"host; the lease expires by itself at {format_timestamp(holder.expires_at)}, "
                "after which the next run takes it over"
            )

    return remove_lock(state, check=check)
