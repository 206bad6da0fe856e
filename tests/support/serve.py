"""The search service for real: uvicorn on a loopback port in a thread, stopped afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opensearchpy import OpenSearch

from indexer.serve import ServiceSettings, create_app, listen
from indexer.serve import server as uvicorn_server


@contextmanager
def running_service(
    client: OpenSearch, alias: str, cors_origins: Sequence[str] = ()
) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT``) of the service over ``alias`` while in the block."""
    app = create_app(client, ServiceSettings(alias=alias, cors_origins=tuple(cors_origins)))
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn_server(app, access_log=False, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 20 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
