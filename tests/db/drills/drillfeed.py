"""A loopback feed server for the drills: it plays Copart's sales-data address (``/FTPLSTDM/salesdata.cgi``,
checking ``authKey``) and the member login (``POST /login`` checks the username and password and sets a session
cookie; ``/member/salesdata.csv`` needs it). What the next file requests get is scripted: a body, its content
type, and optionally a ``Content-Length`` larger than the body (the connection then closes early: a truncated
transfer). It also plays the lot-images API (``/v1/lotImages/<lot>``: one sequence, ``_ful`` and ``_thb``) and the
photo host (``/cs/<name>.jpg``: a small JPEG). Nothing it logs names a key, a password or a cookie."""

from __future__ import annotations

import json
import secrets
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loopback import serving

LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Member Login | Copart</title></head><body>"
    b'<form method="post" action="/login"><input name="username"><input type="password" name="password">'
    b"</form></body></html>"
)


def make_jpeg(width: int, height: int, payload: bytes) -> bytes:
    """A small JPEG as a camera writes its headers: SOI, APP0 JFIF, a comment (``payload``), SOF0, EOI."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return (b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0
            + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload
            + b"\xff\xc0" + struct.pack(">H", len(sof0) + 2) + sof0 + b"\xff\xd9")  # fmt: skip


@dataclass
class Answer:
    """One answer to a file request. ``declared_length``: the ``Content-Length`` sent (None: the body's)."""

    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    declared_length: int | None = None


class FeedState:
    def __init__(self, auth_key: str, username: str, password: str) -> None:
        self.auth_key, self.username, self.password = auth_key, username, password
        self.answer = Answer(b"")
        self.sessions: set[str] = set()
        self.file_requests = 0
        self.lock = threading.Lock()

    def serve(self, answer: Answer) -> None:
        with self.lock:
            self.answer = answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the request line holds the key
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str], declared: int | None = None) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if declared is None else declared))
        if declared is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        state: FeedState = self.server.state
        url = urlsplit(self.path)
        if url.path == "/FTPLSTDM/salesdata.cgi":
            if parse_qs(url.query).get("authKey") != [state.auth_key]:
                return self._send(403, b"forbidden", {"Content-Type": "text/plain"})
            return self._file(state)
        if url.path == "/member/salesdata.csv":
            jar = SimpleCookie(self.headers.get("Cookie", ""))
            if "sess" not in jar or jar["sess"].value not in state.sessions:
                return self._send(302, b"", {"Location": "/login?next=/member/salesdata.csv"})
            return self._file(state)
        if url.path.startswith("/v1/lotImages/"):
            lot = url.path.rsplit("/", 1)[-1]
            base = f"http://{self.headers.get('Host')}/cs/{lot}"
            links = [{"url": f"{base}_ful.jpg ", "isThumbNail": False, "isHdImage": False},
                     {"url": f"{base}_thb.jpg", "isThumbNail": True, "isHdImage": False}]  # fmt: skip
            body = json.dumps({"imgCount": 1, "lotImages": [{"sequence": 1, "link": links}]}).encode()
            return self._send(200, body, {"Content-Type": "application/json"})
        if url.path.startswith("/cs/"):
            size = (640, 480) if "_ful" in url.path else (101, 76)
            return self._send(200, make_jpeg(*size, url.path.encode()), {"Content-Type": "image/jpeg"})
        if url.path == "/login":
            return self._send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        return self._send(404, b"not found", {"Content-Type": "text/plain"})

    def do_POST(self) -> None:  # noqa: N802
        state: FeedState = self.server.state
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("ascii"))
        if urlsplit(self.path).path == "/login" and form.get("username") == [state.username] \
                and form.get("password") == [state.password]:  # fmt: skip
            token = "sess-" + secrets.token_hex(16)
            state.sessions.add(token)
            return self._send(302, b"", {"Location": "/", "Set-Cookie": f"sess={token}; Path=/; HttpOnly"})
        return self._send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})

    def _file(self, state: FeedState) -> None:
        with state.lock:
            answer = state.answer
            state.file_requests += 1
        self._send(answer.status, answer.body, {"Content-Type": answer.content_type}, answer.declared_length)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def feed_server(auth_key: str, username: str = "member-1", password: str = "pw") -> Iterator[tuple[FeedState, str]]:
    """The server on 127.0.0.1 (a free port): yields its state and base URL."""
    state = FeedState(auth_key, username, password)
    with serving(_Handler, _Server, state=state) as url:
        yield state, url
