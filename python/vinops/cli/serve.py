"""``vinops serve [--host H] [--port P]``: the HTTP service of ``/metrics``, ``/health``, ``/healthz`` and
``/readyz`` (:mod:`vinops.web.server`) on the command line's database, until interrupted or terminated
(SIGTERM: a pod being stopped ends with exit 0)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import timedelta
from typing import Any

from vinops.cli.common import MIGRATED, database_option
from vinops.cli.errors import UsageError

__all__ = ["add_arguments", "cmd_serve"]

log = logging.getLogger("vinops.cli")


def cmd_serve(args: argparse.Namespace) -> int:
    from vinops.web import App, make_server

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {args.port}")
    if args.connect_timeout < 1:
        raise UsageError("--connect-timeout must be at least 1 second")
    app = App(args.database.url, connect_timeout=args.connect_timeout,
              statement_timeout=timedelta(seconds=args.statement_timeout))  # fmt: skip
    try:
        server = make_server(app, args.host, args.port)
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from e
    host, port = server.server_address[:2]
    # One line on stdout says where (port 0 picks a free port: a caller reads it from here).
    print(f"vinops serve: http://{host}:{port}/health (metrics: /metrics, probes: /healthz, /readyz)", flush=True)

    def stop(signum: int, frame: Any) -> None:
        # shutdown() waits for serve_forever to return: it must not run on the thread that serves.
        threading.Thread(target=server.shutdown, name="vinops-serve-stop", daemon=True).start()

    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        server.serve_forever(poll_interval=0.25)
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    log.info("vinops serve: stopped")
    return 0


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops serve``."""
    p = subparsers.add_parser("serve", help="serve /metrics, /health (JSON and HTML), /healthz and /readyz over HTTP")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 in a pod)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    p.add_argument("--connect-timeout", type=int, default=3, metavar="S",
                   help="seconds to wait for the database on each request (default 3)")  # fmt: skip
    p.add_argument("--statement-timeout", type=float, default=10.0, metavar="S",
                   help="seconds a request's queries may take (default 10)")  # fmt: skip
    database_option(p)
    p.set_defaults(func=cmd_serve, database=MIGRATED)
