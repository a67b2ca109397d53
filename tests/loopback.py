"""A real HTTP server on loopback for the tests that stand in for the feed or the photo API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler], server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer, **state: Any
) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port) in a thread; ``state`` becomes attributes of the server (the
    handler reads them as ``self.server.<name>``). Yields the base URL; stops the server on exit."""
    server = server_class(("127.0.0.1", 0), handler)
    for name, value in state.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
