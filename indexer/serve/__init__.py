"""The search service behind ``jobo-indexer serve``: a JSON API and a page (:mod:`.app`).

:func:`create_app` builds the Starlette app; :func:`listen` binds its socket and :func:`run`
serves it with uvicorn until stopped (SIGINT/SIGTERM finish the requests in flight).
"""

from __future__ import annotations

import signal
import socket
import threading

import uvicorn
from starlette.applications import Starlette

from indexer.serve.app import ServiceSettings, create_app

__all__ = ["ServiceSettings", "create_app", "listen", "run"]


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one; read it with getsockname)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def server(app: Starlette, *, access_log: bool = True, log_level: str = "info") -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers: 16 KiB at most
    )
    return uvicorn.Server(config)


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run(app: Starlette, sock: socket.socket, *, access_log: bool = True) -> None:
    """Serve until SIGINT or SIGTERM; then finish the requests in flight and exit 0 (uvicorn
    raises the signal again once it has stopped: these handlers make that a clean exit)."""
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _stopped)
    server(app, access_log=access_log).run(sockets=[sock])
