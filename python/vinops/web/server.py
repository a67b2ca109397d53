"""The HTTP service of ``vinops serve``: ``/metrics``, ``/health``, ``/healthz``, ``/readyz``.

Built on the standard library's :class:`http.server.ThreadingHTTPServer` and prometheus-client's exposition
(``generate_latest``): four read-only GET routes, a few requests a minute from Prometheus and the kubelet,
and pages rendered from one database read do not need a web framework; this keeps the wheel's dependencies
and the attack surface where they are. A thread per request; each request that needs the database opens its
own connection with a short ``connect_timeout`` and a ``statement_timeout``, so a database that is down or
stuck turns into an "unhealthy" answer within seconds instead of a hung request.

``GET /health`` answers JSON when the request prefers ``application/json`` (``Accept``) or asks
``?format=json``, else the HTML page (:mod:`vinops.web.page`); 200 when healthy or degraded, 503 when
unhealthy. ``/healthz``: 200 while the process serves (liveness). ``/readyz``: 200 when the database answers
and has no pending migration, else 503 (readiness). ``/`` redirects to ``/health``.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vinops.health import HealthReport, Rules, Snapshot, read_snapshot, unreachable, verdict
from vinops.logs import mask
from vinops.metrics import VinopsCollector
from vinops.web.page import render

__all__ = ["App", "make_server", "wants_json"]

log = logging.getLogger(__name__)

#: No asset of the page comes from anywhere (styles inline, no script): the browser is told so.
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


class App:
    """What the routes need: the database URL, the timeouts, the rules, the metrics registry."""

    def __init__(
        self,
        database_url: str,
        *,
        connect_timeout: int = 3,
        statement_timeout: timedelta = timedelta(seconds=10),
        rules: Rules | None = None,
        refresh_seconds: int = 30,
    ) -> None:
        if not database_url:
            raise ValueError("App needs a database URL")
        self.database_url = database_url
        self.connect_timeout = max(1, int(connect_timeout))  # libpq treats 0 as "wait forever"
        self.statement_timeout = statement_timeout
        self.rules = rules or Rules()
        self.refresh_seconds = refresh_seconds
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(VinopsCollector(self.snapshot))

    def connect(self) -> psycopg.Connection:
        ms = int(self.statement_timeout.total_seconds() * 1000)
        return psycopg.connect(self.database_url, connect_timeout=self.connect_timeout,
                               options=f"-c statement_timeout={ms}", application_name="vinops-serve")  # fmt: skip

    def snapshot(self) -> Snapshot:
        with self.connect() as conn:
            return read_snapshot(conn)

    def health(self) -> HealthReport:
        """The verdict, or :func:`~vinops.health.unreachable` when the database cannot be read."""
        try:
            return verdict(self.snapshot(), self.rules)
        except (psycopg.Error, OSError) as e:
            log.warning("health: the database could not be read: %s", mask(" ".join(str(e).split())))
            return unreachable(e)

    def ready(self) -> tuple[bool, str]:
        """(ready, why): the database answers and its migrations are current."""
        from vinops.db import MigrationError, pending_migrations

        try:
            with self.connect() as conn:
                pending = pending_migrations(conn)
        except (psycopg.Error, OSError) as e:
            return False, "database unreachable: " + mask(" ".join(str(e).split()))
        except MigrationError as e:
            return False, mask(str(e))
        if pending:
            return False, f"{len(pending)} migration(s) pending (first {pending[0].label}): run `vinops db migrate`"
        return True, "ready"

    def metrics(self) -> bytes:
        return generate_latest(self.registry)


def wants_json(accept: str | None, query: str = "") -> bool:
    """Whether ``/health`` answers JSON: ``?format=json`` (``format=html`` forces the page), else the media type
    of ``Accept`` with the higher quality among ``application/json`` and ``text/html`` (the first listed on a
    tie); with neither named (``*/*``, none), JSON: a browser always names ``text/html``."""
    fmt = parse_qs(query).get("format", [""])[0].lower()
    if fmt in ("json", "html"):
        return fmt == "json"
    best: dict[str, tuple[float, int]] = {}
    for i, item in enumerate((accept or "").split(",")):
        media, *params = (x.strip() for x in item.split(";"))
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media in ("application/json", "text/html") and q > 0 and media not in best:
            best[media] = (q, -i)
    if not best:
        return True
    return max(best, key=lambda m: best[m]) == "application/json"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "vinops"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # each request is logged once by _send, through the masked handlers

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None,
              t0: float | None = None) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        seconds = time.perf_counter() - t0 if t0 is not None else None
        log.info("%s %s %d", self.command, urlsplit(self.path).path, status,
                 extra={"stage": "http", "status": status, "seconds": round(seconds, 4) if seconds else None})  # fmt: skip

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        t0 = time.perf_counter()
        try:
            self._route(t0)
        except ConnectionError:  # the client went away
            raise
        except Exception:  # noqa: BLE001 - a bug answers 500 with a logged traceback, never a dropped connection
            log.exception("%s %s failed", self.command, urlsplit(self.path).path)
            self._send(500, b"internal error: see the server's log\n", "text/plain; charset=utf-8", t0=t0)

    def _route(self, t0: float) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        if url.path == "/metrics":
            return self._send(200, app.metrics(), CONTENT_TYPE_LATEST, t0=t0)
        if url.path == "/health":
            report = app.health()
            if wants_json(self.headers.get("Accept"), url.query):
                body = json.dumps(report.to_dict(), indent=2, default=str).encode() + b"\n"
                return self._send(report.http_status, body, "application/json", {"Vary": "Accept"}, t0=t0)
            page = render(report, refresh_seconds=app.refresh_seconds).encode("utf-8")
            return self._send(report.http_status, page, "text/html; charset=utf-8",
                              {"Vary": "Accept", "Content-Security-Policy": _PAGE_POLICY}, t0=t0)  # fmt: skip
        if url.path == "/healthz":
            return self._send(200, b"ok\n", "text/plain; charset=utf-8", t0=t0)
        if url.path == "/readyz":
            ok, why = app.ready()
            return self._send(200 if ok else 503, why.encode("utf-8") + b"\n", "text/plain; charset=utf-8", t0=t0)
        if url.path == "/":
            return self._send(302, b"", "text/plain; charset=utf-8", {"Location": "/health"}, t0=t0)
        return self._send(404, b"not found: try /health, /metrics, /healthz, /readyz\n", "text/plain; charset=utf-8",
                          t0=t0)  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: App

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away
            return
        log.exception("request from %s failed", client_address[0] if client_address else "?")


def make_server(app: App, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (port 0: any free port; read ``server.server_address``), not yet
    serving: call ``serve_forever()`` (and ``shutdown()`` from another thread)."""
    server = _Server((host, port), _Handler)
    server.app = app
    return server
