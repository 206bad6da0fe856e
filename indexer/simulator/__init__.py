"""The Jobo Feed API simulator: a real HTTP server over a deterministic world of jobs.

Tests and benchmarks start one in a background thread::

    with start_simulator(jobs=300, seed=7) as sim:
        requests.post(f"{sim.url}/api/jobs/feed", headers={"X-Api-Key": sim.api_key}, json={})
        sim.mutate(create=5, update=3)
        truth = sim.truth()

``jobo-indexer simulate`` runs the same server in the foreground.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from indexer.simulator.server import SimulatorApp, SimulatorConfig, SimulatorHTTPServer

__all__ = ["RunningSimulator", "SimulatorConfig", "serve", "start_simulator"]


@dataclass
class RunningSimulator:
    """A simulator serving in a background thread. ``api_key`` is kept out of the repr."""

    url: str
    api_key: str = field(repr=False)
    app: SimulatorApp = field(repr=False)
    _server: SimulatorHTTPServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # Conveniences over the /_sim/ control endpoints (real HTTP, like any client).

    def _control(self, method: str, path: str, payload: Any = None) -> Any:
        response = requests.request(
            method,
            f"{self.url}{path}",
            headers={"X-Api-Key": self.api_key},
            json=payload,
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def mutate(
        self,
        *,
        create: int = 0,
        update: int = 0,
        expire: int = 0,
        repost: int = 0,
        lag_minutes: float = 0,
    ) -> dict[str, list[str]]:
        body = {"create": create, "update": update, "expire": expire, "repost": repost}
        return self._control("POST", "/_sim/mutate", {**body, "lag_minutes": lag_minutes})

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        """E.g. ``add_fault(path="/api/jobs/feed", status=503, times=2, after=1)``."""
        return self._control("POST", "/_sim/faults", spec)

    def clear_faults(self) -> dict[str, Any]:
        return self._control("DELETE", "/_sim/faults")

    def wallet(self, **changes: Any) -> dict[str, Any]:
        """Read the wallet, or change it: ``wallet(add=500)``, ``wallet(balance=10)``,
        ``wallet(subscription=True)``."""
        if not changes:
            return self._control("GET", "/_sim/wallet")
        return self._control("POST", "/_sim/wallet", changes)

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/_sim/stats")

    def truth(self) -> dict[str, Any]:
        return self._control("GET", "/_sim/truth")


def serve(config: SimulatorConfig, host: str, port: int) -> SimulatorHTTPServer:
    """Build the world and bind the server (call ``serve_forever`` on the result)."""
    return SimulatorHTTPServer((host, port), SimulatorApp(config))


def start_simulator(
    *,
    jobs: int = 1000,
    seed: int = 42,
    api_key: str = "sim-key",
    host: str = "127.0.0.1",
    port: int = 0,
    retry_after: int = 5,
    latency_ms: int = 0,
    cursor_ttl: float = 600.0,
    credits: float | None = None,
    subscription: bool | None = None,
    anchor: datetime | None = None,
    expired_jobs: int | None = None,
) -> RunningSimulator:
    """Start a simulator on ``host:port`` (0 = a free port) in a daemon thread.

    Pass ``credits`` for a wallet (then ``subscription`` defaults to False) or leave both unset for
    a free Feed subscription. ``anchor`` fixes world time (same seed and anchor -> same bytes).
    """
    if subscription is None:
        subscription = credits is None
    config = SimulatorConfig(
        api_key=api_key,
        jobs=jobs,
        seed=seed,
        retry_after=retry_after,
        latency_ms=latency_ms,
        cursor_ttl=cursor_ttl,
        credits=credits,
        subscription=subscription,
        anchor=anchor,
        expired_jobs=expired_jobs,
    )
    server = serve(config, host, port)
    bound_host, bound_port = server.server_address[:2]
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        daemon=True,
        name=f"jobo-simulator-{bound_port}",
    )
    thread.start()
    return RunningSimulator(
        url=f"http://{bound_host}:{bound_port}",
        api_key=api_key,
        app=server.app,
        _server=server,
        _thread=thread,
    )
