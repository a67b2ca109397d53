"""A TCP proxy on loopback that a test controls: it forwards each connection to a PostgreSQL server (a TCP
address or a Unix socket) and cuts every connection when told to, or when a trigger fires.

A trigger watches the bytes the client sends (the PostgreSQL protocol carries each statement's text) for a
pattern, then cuts in one of four ways:

``before``  the chunk holding the pattern is not forwarded (the server never sees the statement)
``delay``   forwarded; everything is cut ``delay`` seconds later (the server is executing it)
``bytes``   forwarded; cut once ``after_bytes`` more bytes have gone to the server (mid-COPY)
``reply``   forwarded; the server's next bytes on that connection are dropped and everything is cut (the
            statement ran, its answer never arrives: the ambiguous outcome of a lost COMMIT reply)

A cut closes both sides with a reset, as a dropped network path or a killed middlebox does. New connections
are still accepted after a cut (the next run goes through the same proxy).
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

__all__ = ["TcpProxy", "Trigger"]

_CHUNK = 1 << 16


@dataclass
class Trigger:
    pattern: bytes
    mode: str  # before | delay | bytes | reply
    delay: float = 0.0
    after_bytes: int = 0
    fired: threading.Event = field(default_factory=threading.Event)
    #: set once the connections were cut because of this trigger
    cut: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.mode not in ("before", "delay", "bytes", "reply"):
            raise ValueError(f"unknown trigger mode {self.mode!r}")


@dataclass
class _Pair:
    client: socket.socket
    server: socket.socket
    tail: bytes = b""  # the last bytes the client sent (a pattern may straddle two chunks)
    bytes_left: int | None = None  # mode "bytes": upstream bytes still allowed before the cut
    drop_reply: bool = False  # mode "reply": the server's next bytes end everything


class TcpProxy:
    """``TcpProxy(upstream)``: ``upstream`` is ``(host, port)`` or the path of a Unix socket. ``port`` is the
    local port to connect to; :meth:`arm` sets a trigger, :meth:`cut` cuts now, :meth:`close` stops."""

    def __init__(self, upstream: tuple[str, int] | str) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.port: int = self.listener.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.pairs: list[_Pair] = []
        self.lock = threading.Lock()
        self.trigger: Trigger | None = None
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0
        self.cuts = 0
        self._cut_at: float | None = None
        self._cut_now = False
        # a socketpair wakes the loop when another thread asks for something
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stop = False
        self.thread = threading.Thread(target=self._loop, name="tcpproxy", daemon=True)
        self.thread.start()

    # -- control (any thread)

    def arm(self, pattern: bytes, mode: str, *, delay: float = 0.0, after_bytes: int = 0) -> Trigger:
        trigger = Trigger(pattern, mode, delay=delay, after_bytes=after_bytes)
        with self.lock:
            self.trigger = trigger
        return trigger

    def disarm(self) -> None:
        with self.lock:
            self.trigger = None

    def cut(self) -> None:
        """Cut every open connection now."""
        with self.lock:
            self._cut_now = True
        self._wake_w.send(b"x")

    def close(self) -> None:
        self._stop = True
        self._wake_w.send(b"x")
        self.thread.join(5)
        for s in (self.listener, self._wake_r, self._wake_w):
            s.close()
        self.sel.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop (the proxy's thread)

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.upstream, str):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.upstream)
        else:
            s = socket.create_connection(self.upstream)
        s.setblocking(False)
        return s

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except BlockingIOError:
            return
        try:
            server = self._connect_upstream()
        except OSError:
            _reset(client)
            return
        client.setblocking(False)
        pair = _Pair(client, server)
        self.pairs.append(pair)
        self.connections += 1
        self.sel.register(client, selectors.EVENT_READ, (pair, "up"))
        self.sel.register(server, selectors.EVENT_READ, (pair, "down"))

    def _drop(self, pair: _Pair) -> None:
        for s in (pair.client, pair.server):
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            _reset(s)
        if pair in self.pairs:
            self.pairs.remove(pair)

    def _cut_all(self) -> None:
        for pair in list(self.pairs):
            self._drop(pair)
        self.cuts += 1
        with self.lock:
            trigger, self.trigger = self.trigger, None
            self._cut_now = False
        self._cut_at = None
        if trigger is not None and trigger.fired.is_set():
            trigger.cut.set()

    def _up(self, pair: _Pair, data: bytes) -> bool:
        """Forward client bytes; False when the connections were cut instead."""
        with self.lock:
            trigger = self.trigger
        if pair.bytes_left is not None:
            if len(data) >= pair.bytes_left:
                _sendall(pair.server, data[: pair.bytes_left])
                self.bytes_up += pair.bytes_left
                self._cut_all()
                return False
            pair.bytes_left -= len(data)
        elif trigger is not None and not trigger.fired.is_set():
            window = pair.tail + data
            if trigger.pattern in window:
                trigger.fired.set()
                if trigger.mode == "before":
                    self._cut_all()
                    return False
                if trigger.mode == "delay":
                    self._cut_at = time.monotonic() + trigger.delay
                elif trigger.mode == "bytes":
                    pair.bytes_left = trigger.after_bytes
                elif trigger.mode == "reply":
                    pair.drop_reply = True
            pair.tail = window[-len(trigger.pattern) :]
        _sendall(pair.server, data)
        self.bytes_up += len(data)
        return True

    def _loop(self) -> None:
        while not self._stop:
            timeout = None if self._cut_at is None else max(0.0, self._cut_at - time.monotonic())
            for key, _ in self.sel.select(timeout if timeout is not None else 0.5):
                if key.fileobj is self.listener:
                    self._accept()
                    continue
                if key.data == "wake":
                    try:
                        self._wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                    continue
                pair, direction = key.data
                if pair not in self.pairs:
                    continue
                src = pair.client if direction == "up" else pair.server
                try:
                    data = src.recv(_CHUNK)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    self._drop(pair)
                    continue
                try:
                    if direction == "up":
                        self._up(pair, data)
                    elif pair.drop_reply:
                        self._cut_all()
                    else:
                        _sendall(pair.client, data)
                        self.bytes_down += len(data)
                except OSError:
                    self._drop(pair)
            with self.lock:
                now = self._cut_now
            if now or (self._cut_at is not None and time.monotonic() >= self._cut_at):
                self._cut_all()
        for pair in list(self.pairs):
            self._drop(pair)


def _sendall(s: socket.socket, data: bytes) -> None:
    """A blocking send on a non-blocking socket (the loop forwards in order; loopback drains fast)."""
    view = memoryview(data)
    while view:
        try:
            n = s.send(view)
        except BlockingIOError:
            time.sleep(0.0005)
            continue
        view = view[n:]


def _reset(s: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), as a broken path looks to both ends."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
