"""A loopback HTTP server that plays Copart's lot-images API and photo host for the photo drills: every lot has
``SEQUENCES`` sequences of ``_ful`` and ``_thb``; each photo is a small JPEG whose bytes depend on its path
only, so two runs store the same content under the same keys. Each answer waits ``delay`` seconds (a run
lasts long enough to be killed in the middle); ``requests`` counts the answers given."""

from __future__ import annotations

import json
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["PhotoServer", "SEQUENCES"]

SEQUENCES = 3


def _jpeg(path: str) -> bytes:
    """SOI, a comment naming the path, a SOF0 frame header (640 × 480), EOI."""
    com = path.encode() * 4
    sof0 = struct.pack(">BHHB", 8, 480, 640, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return (
        b"\xff\xd8"
        + b"\xff\xfe" + struct.pack(">H", len(com) + 2) + com
        + b"\xff\xc0" + struct.pack(">H", len(sof0) + 2) + sof0
        + b"\xff\xd9"
    )  # fmt: skip


class PhotoServer:
    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay
        self.requests = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def image_url(self, lot: int) -> str:
        return f"{self.base}/v1/lotImages/{lot}?country=us&brand=cprt"

    def answer(self, lot: int) -> dict[str, Any]:
        items = []
        for seq in range(1, SEQUENCES + 1):
            links = [
                {"url": f"{self.base}/cs/{lot}/{seq}_ful.jpg ", "isThumbNail": False, "isHdImage": False},
                {"url": f"{self.base}/cs/{lot}/{seq}_thb.jpg", "isThumbNail": True, "isHdImage": False},
            ]
            items.append({"sequence": seq, "link": links})
        return {"imgCount": SEQUENCES, "lotImages": items}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                time.sleep(owner.delay)
                with owner.lock:
                    owner.requests += 1
                path = self.path.split("?", 1)[0]
                if path.startswith("/v1/lotImages/"):
                    body, ctype = json.dumps(owner.answer(int(path.rsplit("/", 1)[1]))).encode(), "application/json"
                elif path.startswith("/cs/"):
                    body, ctype = _jpeg(path), "image/jpeg"
                else:
                    body, ctype = b"not found", "text/plain"
                    self.send_response(404)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
