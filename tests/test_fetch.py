"""The feed client against a real HTTP server on loopback that plays the Copart feed: a sample file with ETag
and Last-Modified, 304 on a match, an HTML login page with status 200, a truncated body, an empty body, 503 then
success, 429 with Retry-After, a short file, a member login whose cookie session expires, refused credentials;
the raw store holds exactly the served bytes; no secret reaches a log line or an exception text."""

from __future__ import annotations

import email.utils
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from loopback import serving

from vinops.errors import IngestError, RejectedFile, is_retryable
from vinops.fetch import (
    DEFAULT_USER_AGENT,
    CredentialsRefused,
    FeedClient,
    FeedSource,
    FetchError,
    Login,
    fetch_feed,
    parse_retry_after,
    retry_delay,
)
from vinops.logs import mask
from vinops.rawstore import LocalRawStore
from vinops.sample import write_sample

AUTH_KEY = "k3y-" + secrets.token_hex(12)
USERNAME = "member-4711"
PASSWORD = "pw-" + secrets.token_hex(10) + " &x"
WINDOW_AT = datetime(2026, 1, 28, 9, 15, tzinfo=timezone.utc)
LAST_MODIFIED = email.utils.formatdate(time.time() - 600, usegmt=True)
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Member Login | Copart</title></head><body>"
    b'<form method="post" action="/login"><input name="username"><input type="password" name="password">'
    b"</form></body></html>"
)


# ---------------------------------------------------------------------------------------------------------
# the feed on loopback


class Feed:
    """What the server serves and what it saw. ``script``: modes for the next requests of the file, one per
    request (``"503"``, ``"429"``, ``"html"``, ``"truncate"``, ``"empty"``, ``"short"``, ``"403"``)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = f'"{int(time.time()):x}-{len(body):x}"'
        self.last_modified = LAST_MODIFIED
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.sessions: set[str] = set()
        self.logins = 0
        self.cookie_max_age: int | None = None
        self.lock = threading.Lock()

    def next_mode(self) -> str | None:
        with self.lock:
            return self.script.pop(0) if self.script else None

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the request line names the key
        pass

    @property
    def feed(self) -> Feed:
        return self.server.feed  # type: ignore[no-any-return]

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _cookie(self) -> str | None:
        jar = SimpleCookie(self.headers.get("Cookie", ""))
        return jar["sess"].value if "sess" in jar else None

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        self.feed.requests.append({"method": "GET", "path": url.path, "headers": dict(self.headers.items())})
        if url.path == "/login":
            return self._send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        if url.path == "/FTPLSTDM/salesdata.cgi":
            if parse_qs(url.query).get("authKey") != [AUTH_KEY]:
                return self._send(403, b"forbidden", {"Content-Type": "text/plain"})
            return self._serve_file()
        if url.path == "/member/salesdata.csv":
            if self._cookie() not in self.feed.sessions:
                return self._send(302, b"", {"Location": "/login?next=/member/salesdata.csv"})
            return self._serve_file()
        if url.path == "/moved":
            return self._send(301, b"", {"Location": f"/FTPLSTDM/salesdata.cgi?authKey={AUTH_KEY}"})
        self._send(404, b"not found", {"Content-Type": "text/plain"})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode("ascii"))
        self.feed.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers.items())})
        if urlsplit(self.path).path != "/login":
            return self._send(404)
        with self.feed.lock:
            self.feed.logins += 1
        if form.get("username") == [USERNAME] and form.get("password") == [PASSWORD]:
            token = secrets.token_hex(16)
            self.feed.sessions.add(token)
            cookie = f"sess={token}; Path=/; HttpOnly"
            if self.feed.cookie_max_age is not None:
                cookie += f"; Max-Age={self.feed.cookie_max_age}"
            return self._send(302, b"", {"Location": "/", "Set-Cookie": cookie})
        # a refused login: the form again, no session
        self._send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})

    def _serve_file(self) -> None:
        feed = self.feed
        mode = feed.next_mode()
        if mode == "503":
            return self._send(503, b"<html>busy</html>", {"Content-Type": "text/html"})
        if mode == "429":
            return self._send(429, b"slow down", {"Content-Type": "text/plain", "Retry-After": "7"})
        if mode == "403":
            return self._send(403, b"forbidden", {"Content-Type": "text/plain"})
        if mode == "html":
            return self._send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        if mode == "html-as-csv":
            return self._send(200, LOGIN_PAGE, {"Content-Type": "application/octet-stream"})
        if mode == "empty":
            return self._send(200, b"", {"Content-Type": "application/octet-stream"})
        if mode == "not-csv":
            return self._send(200, b"id,name\n1,x\n", {"Content-Type": "application/octet-stream"})
        validators = {"ETag": feed.etag, "Last-Modified": feed.last_modified}
        if self.headers.get("If-None-Match") == feed.etag or (
            "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == feed.last_modified
        ):
            self.send_response(304)
            for name, value in validators.items():
                self.send_header(name, value)
            self.end_headers()
            return None
        body = feed.body
        if mode == "short":
            cut = body.index(b"\n", len(body) // 2) + 1
            body = body[:cut]
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": 'attachment; filename="salesdata.csv"',
            **validators,
        }
        if mode == "truncate":
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.close_connection = True
            return None
        self._send(200, body, headers)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # the client hangs up early on purpose (a rejected page, a truncated body): not an error here
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def sample_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("feed") / "salesdata.csv"
    write_sample(path, rows=500, seed=3)
    return path.read_bytes()


@pytest.fixture
def feed(sample_bytes: bytes) -> Iterator[tuple[Feed, str]]:
    state = Feed(sample_bytes)
    with serving(Handler, Server, feed=state) as url:
        yield state, url


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    _assert_no_secret(caplog.text, *(r.getMessage() for r in caplog.records))


def _secrets_of(feed: Feed | None = None) -> list[str]:
    found = [AUTH_KEY, PASSWORD, PASSWORD.replace(" ", "+").replace("&", "%26")]
    if feed is not None:
        found += sorted(feed.sessions)
    return found


def _assert_no_secret(*texts: str, feed: Feed | None = None) -> None:
    for text in texts:
        for secret in _secrets_of(feed):
            assert secret not in text, f"a secret leaked into: {text[:200]!r}"


def _token(base: str, **kw: Any) -> FeedSource:
    return FeedSource(url=f"{base}/FTPLSTDM/salesdata.cgi?authKey={AUTH_KEY}", **kw)


def _member(base: str, password: str = PASSWORD, **kw: Any) -> FeedSource:
    login = Login(url=f"{base}/login", username=USERNAME, password=password, **kw)
    return FeedSource(url=f"{base}/member/salesdata.csv", login=login)


def _store(tmp_path: Path, compression: str = "zstd") -> LocalRawStore:
    return LocalRawStore(tmp_path / "raw", compression=compression)


def _expect(error: type[IngestError], fn: Any, *args: Any, **kw: Any) -> IngestError:
    with pytest.raises(error) as info:
        fn(*args, **kw)
    e = info.value
    assert e.stage == "fetch"
    text = str(e)
    assert "\n" not in text
    _assert_no_secret(text, repr(e))
    return e


# ---------------------------------------------------------------------------------------------------------
# the tokenized address


def test_fetch_stores_exactly_the_served_bytes_and_returns_the_validators(
    feed: tuple[Feed, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state, base = feed
    store = _store(tmp_path)
    result = fetch_feed(_token(base), store, WINDOW_AT, tmp_dir=tmp_path)
    assert result.status == "fetched" and result.http_status == 200
    assert result.sha256 == hashlib.sha256(state.body).hexdigest() and result.bytes == len(state.body)
    assert result.etag == state.etag and result.last_modified == state.last_modified
    assert result.raw_key == "copart/2026/01/28/0915.csv.zst"
    with store.open(result.raw_key) as stored:
        assert stored.read() == state.body
    assert result.temporary and result.path is not None and result.path.read_bytes() == state.body
    result.cleanup()
    assert not result.path.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("vinops-feed-")] == []
    # a fixed User-Agent and Referer; the key is in the request, never in the log
    seen = state.requests[-1]["headers"]
    assert seen["User-Agent"] == DEFAULT_USER_AGENT and seen["Referer"] == "https://www.copart.com/"
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and r.name == "vinops.fetch"]
    assert any(f"{len(state.body)} bytes" in m and "HTTP 200" in m and "authKey=***" in m for m in info), info


def test_an_uncompressed_local_store_returns_the_stored_file(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    store = _store(tmp_path, "none")
    result = fetch_feed(_token(base, user_agent="vinops-test/1", referer=None), store, WINDOW_AT, tmp_dir=tmp_path)
    assert result.status == "fetched" and not result.temporary
    assert result.path == store.path(result.raw_key or "") and result.path.read_bytes() == state.body
    assert store.key_of(result.path) == result.raw_key
    assert state.requests[-1]["headers"]["User-Agent"] == "vinops-test/1" and "Referer" not in state.requests[-1]["headers"]


def test_conditional_get_ends_as_not_modified(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    store = _store(tmp_path)
    with FeedClient(_token(base)) as client:
        first = client.fetch(store, WINDOW_AT, tmp_dir=tmp_path)
        first.cleanup()
        again = client.fetch(store, WINDOW_AT + timedelta(minutes=15), etag=first.etag,
                             last_modified=first.last_modified, last_size=first.bytes)  # fmt: skip
        assert again.status == "not_modified" and again.http_status == 304 and again.path is None
        assert again.raw_key is None and again.bytes == 0 and again.sha256 is None
        assert (again.etag, again.last_modified) == (state.etag, state.last_modified)
        assert state.requests[-1]["headers"]["If-None-Match"] == state.etag
        assert state.requests[-1]["headers"]["If-Modified-Since"] == state.last_modified
        # Last-Modified alone also matches
        only_date = client.fetch(store, WINDOW_AT, last_modified=state.last_modified)
        assert only_date.status == "not_modified"
        # a changed file: its new ETag no longer matches the old one
        state.etag = '"changed-1"'
        changed = client.fetch(store, WINDOW_AT + timedelta(minutes=30), etag=first.etag, tmp_dir=tmp_path)
        assert changed.status == "fetched" and changed.etag == '"changed-1"'
        changed.cleanup()
        # a server that ignores the validators: the same SHA-256 ends as unchanged, nothing stored
        same = client.fetch(store, WINDOW_AT + timedelta(minutes=45), last_sha256=first.sha256, tmp_dir=tmp_path)
        assert same.status == "unchanged" and same.path is None and same.raw_key is None
    assert sorted(p.name for p in (tmp_path / "raw" / "copart" / "2026" / "01" / "28").iterdir()) == [
        "0915.csv.zst", "0945.csv.zst",
    ]  # fmt: skip


def test_an_html_login_page_with_status_200_is_rejected(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    store = _store(tmp_path)
    state.script = ["html"]
    e = _expect(RejectedFile, fetch_feed, _token(base), store, WINDOW_AT, tmp_dir=tmp_path)
    assert "text/html" in str(e) and "Member Login" in str(e) and not e.retryable
    # served as octet-stream: the first bytes give it away
    state.script = ["html-as-csv"]
    e = _expect(RejectedFile, fetch_feed, _token(base), store, WINDOW_AT, tmp_dir=tmp_path)
    assert "an HTML page" in str(e)
    # a CSV that is not Copart's
    state.script = ["not-csv"]
    e = _expect(RejectedFile, fetch_feed, _token(base), store, WINDOW_AT, tmp_dir=tmp_path)
    assert "not a Copart header" in str(e)
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").rglob("*.csv*"))
    assert not list(tmp_path.glob("vinops-feed-*"))


def test_a_zero_byte_body_is_rejected(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    state.script = ["empty"]
    e = _expect(RejectedFile, fetch_feed, _token(base), _store(tmp_path), WINDOW_AT, tmp_dir=tmp_path)
    assert "empty body (0 bytes)" in str(e)
    assert not list(tmp_path.glob("vinops-feed-*")) and not (tmp_path / "raw" / "copart").exists()


def test_a_truncated_body_is_retryable_and_stores_nothing(feed: tuple[Feed, str], tmp_path: Path) -> None:
    # Retryable, not rejected: the file on the server is whole, the transfer broke; a new GET gets it.
    state, base = feed
    state.script = ["truncate"]
    with FeedClient(_token(base)) as client:
        e = _expect(FetchError, client.fetch, _store(tmp_path), WINDOW_AT, tmp_dir=tmp_path)
        assert e.retryable and is_retryable(e) and not isinstance(e, RejectedFile)
        assert "truncated body" in str(e) and f"of {len(state.body)} bytes" in str(e)
        assert not list(tmp_path.glob("vinops-feed-*")) and not (tmp_path / "raw" / "copart").exists()
        # the retry succeeds
        ok = client.fetch(_store(tmp_path), WINDOW_AT, tmp_dir=tmp_path)
        assert ok.status == "fetched" and ok.bytes == len(state.body)
        ok.cleanup()


def test_503_is_retryable_then_the_file_arrives(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    state.script = ["503"]
    store = _store(tmp_path)
    attempts = 0
    with FeedClient(_token(base)) as client:
        while True:
            attempts += 1
            try:
                result = client.fetch(store, WINDOW_AT, tmp_dir=tmp_path)
                break
            except FetchError as e:
                assert e.retryable and e.status == 503 and e.retry_after is None and attempts == 1
                assert retry_delay(attempts, e, rng=lambda: 0.0) == 1.0
    assert attempts == 2 and result.status == "fetched"
    with store.open(result.raw_key or "") as stored:
        assert stored.read() == state.body
    result.cleanup()


def test_429_carries_retry_after(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    state.script = ["429"]
    e = _expect(FetchError, fetch_feed, _token(base), _store(tmp_path), WINDOW_AT, tmp_dir=tmp_path)
    assert isinstance(e, FetchError) and e.retryable and e.status == 429 and e.retry_after == 7.0
    assert "Retry-After 7 s" in str(e)
    assert 7.0 <= retry_delay(1, e) <= 7.5


def test_a_file_under_80_percent_of_the_last_is_rejected(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    state.script = ["short"]
    store = _store(tmp_path)
    e = _expect(RejectedFile, fetch_feed, _token(base), store, WINDOW_AT, last_size=len(state.body), tmp_dir=tmp_path)
    assert "too short" in str(e) and "under 80%" in str(e) and str(len(state.body)) in str(e)
    assert not list(tmp_path.glob("vinops-feed-*")) and not (tmp_path / "raw" / "copart").exists()
    # 85 % of the last size is fine; a lower min_ratio accepts the short file
    ok = fetch_feed(_token(base), store, WINDOW_AT, last_size=int(len(state.body) / 0.85), tmp_dir=tmp_path)
    assert ok.status == "fetched"
    ok.cleanup()
    state.script = ["short"]
    ok = fetch_feed(_token(base, min_ratio=0.4), store, WINDOW_AT, last_size=len(state.body), tmp_dir=tmp_path)
    assert ok.status == "fetched" and ok.bytes < 0.8 * len(state.body)
    ok.cleanup()


def test_a_wrong_key_is_refused_and_not_retryable(feed: tuple[Feed, str], tmp_path: Path) -> None:
    _, base = feed
    wrong = FeedSource(url=f"{base}/FTPLSTDM/salesdata.cgi?authKey=wrong-{AUTH_KEY[::-1]}")
    e = _expect(CredentialsRefused, fetch_feed, wrong, _store(tmp_path), WINDOW_AT, tmp_dir=tmp_path)
    assert not e.retryable and not is_retryable(e) and "HTTP 403" in str(e) and AUTH_KEY[::-1] not in str(e)
    assert "authKey" not in repr(wrong) or "authKey=***" in repr(wrong)


def test_redirects_are_followed_and_network_errors_are_retryable(feed: tuple[Feed, str], tmp_path: Path) -> None:
    _, base = feed
    ok = fetch_feed(FeedSource(url=f"{base}/moved"), _store(tmp_path), WINDOW_AT, tmp_dir=tmp_path)
    assert ok.status == "fetched"
    ok.cleanup()
    e = _expect(RejectedFile, fetch_feed, FeedSource(url=f"{base}/nothing-here"), None, WINDOW_AT)
    assert "unexpected HTTP status 404" in str(e)
    # nothing listens on port 1 of loopback
    e = _expect(FetchError, fetch_feed, _token("http://127.0.0.1:1", connect_timeout=2), None, WINDOW_AT)
    assert e.retryable and "network error" in str(e) and "authKey=***" in str(e)


# ---------------------------------------------------------------------------------------------------------
# the member login


def test_login_keeps_the_session_and_logs_in_again_when_it_expires(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    store = _store(tmp_path)
    with FeedClient(_member(base)) as client:
        first = client.fetch(store, WINDOW_AT, tmp_dir=tmp_path)
        assert first.status == "fetched" and state.logins == 1
        first.cleanup()
        second = client.fetch(store, WINDOW_AT, tmp_dir=tmp_path)
        assert second.status == "fetched" and state.logins == 1  # the session is reused
        second.cleanup()
        cookies = set(state.sessions)
        # the server forgets the session: the feed redirects to the login page, the client logs in again once
        state.expire_sessions()
        third = client.fetch(store, WINDOW_AT + timedelta(minutes=15), tmp_dir=tmp_path)
        assert third.status == "fetched" and state.logins == 2
        with store.open(third.raw_key or "") as stored:
            assert stored.read() == state.body
        third.cleanup()
        # a 403 on the file: one fresh login, then the file
        state.script = ["403"]
        fourth = client.fetch(None, WINDOW_AT, tmp_dir=tmp_path)
        assert fourth.status == "fetched" and state.logins == 3
        fourth.cleanup()
        # an HTML page instead of the file: one fresh login; still HTML afterwards → rejected, not refused
        state.script = ["html", "html"]
        e = _expect(RejectedFile, client.fetch, None, WINDOW_AT, tmp_dir=tmp_path)
        assert state.logins == 4 and "text/html" in str(e)
        cookies |= state.sessions
    assert cookies and all(len(c) == 32 for c in cookies)


def test_the_session_is_renewed_before_its_cookie_expires_or_it_gets_too_old(
    feed: tuple[Feed, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state, base = feed
    now = [time.time()]
    # a cookie that lives 30 s, renewed 60 s ahead: every fetch logs in first (no 401, no redirect seen)
    state.cookie_max_age = 30
    with FeedClient(_member(base), clock=lambda: now[0]) as client:
        for n in (1, 2):
            client.fetch(None, WINDOW_AT, tmp_dir=tmp_path).cleanup()
            assert state.logins == n
    assert not any(r["path"] == "/login" and r["method"] == "GET" for r in state.requests)
    assert "a session cookie expires within 60 s" in caplog.text
    # a long-lived cookie, but the session is older than max_age: a fresh login before the GET
    state.cookie_max_age = 86400
    with FeedClient(_member(base, max_age=600), clock=lambda: now[0]) as client:
        client.fetch(None, WINDOW_AT, tmp_dir=tmp_path).cleanup()
        client.fetch(None, WINDOW_AT, tmp_dir=tmp_path).cleanup()
        assert state.logins == 3
        now[0] += 601
        client.fetch(None, WINDOW_AT, tmp_dir=tmp_path).cleanup()
        assert state.logins == 4
    assert not any(r["path"] == "/login" and r["method"] == "GET" for r in state.requests)
    assert "session older than 600 s" in caplog.text
    _assert_no_secret(caplog.text, feed=state)


def test_refused_credentials_are_not_retryable(feed: tuple[Feed, str], tmp_path: Path) -> None:
    state, base = feed
    e = _expect(CredentialsRefused, fetch_feed, _member(base, password=PASSWORD + "-wrong"), _store(tmp_path),
                WINDOW_AT, tmp_dir=tmp_path)  # fmt: skip
    assert not e.retryable and not is_retryable(e) and "refused the credentials" in str(e)
    assert state.logins == 1 and not any(r["path"].startswith("/member") for r in state.requests)
    # the login works but the file stays refused after one fresh login
    state.script = ["403", "403"]
    e = _expect(CredentialsRefused, fetch_feed, _member(base), None, WINDOW_AT, tmp_dir=tmp_path)
    assert not e.retryable and "after a fresh login" in str(e) and state.logins == 3


# ---------------------------------------------------------------------------------------------------------
# secrets, delays


def test_secrets_never_reach_logs_or_errors(
    feed: tuple[Feed, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state, base = feed
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log requests at DEBUG (URLs with the key)
    state.script = ["truncate", "429", "html"]
    errors: list[str] = []
    for _ in range(3):
        with pytest.raises(IngestError) as info:
            fetch_feed(_token(base), _store(tmp_path), WINDOW_AT, tmp_dir=tmp_path)
        errors += [str(info.value), repr(info.value)]
    with FeedClient(_member(base)) as client:
        client.fetch(None, WINDOW_AT, tmp_dir=tmp_path).cleanup()
        cookie = next(iter(state.sessions))
        # the session cookie is a registered secret: a handler's MaskSecrets masks it anywhere
        assert mask(f"session {cookie} in use") == "session *** in use"
        state.expire_sessions()
        client.fetch(None, WINDOW_AT, tmp_dir=tmp_path).cleanup()
        cookies = [c.value for c in client._client.cookies.jar]
    # httpx logs each URL at INFO, httpcore each response's headers (Set-Cookie) at DEBUG: both are masked
    assert any(r.name == "httpx" for r in caplog.records) and any(r.name.startswith("httpcore") for r in caplog.records)
    assert "(b'Set-Cookie', b'***')" in caplog.text and "authKey=***" in caplog.text
    everything = [caplog.text, *errors, *(r.getMessage() for r in caplog.records)]
    for text in everything:
        for secret in [AUTH_KEY, PASSWORD, cookie, *cookies]:
            assert secret not in text


def test_mask_covers_feed_keys_and_cookie_headers() -> None:
    assert mask("GET https://x.io/salesdata.cgi?authKey=abc123XYZ&y=1") == "GET https://x.io/salesdata.cgi?authKey=***&y=1"
    assert mask("Set-Cookie: sess=abc; Path=/; HttpOnly") == "Set-Cookie: ***"
    assert mask("Cookie: a=b; c=d\nnext") == "Cookie: ***\nnext"
    assert mask("{'cookie': 'sess=abc', 'host': 'x'}") == "{'cookie': '***', 'host': 'x'}"
    assert mask("the cookie session was renewed") == "the cookie session was renewed"


def test_retry_delay_and_retry_after() -> None:
    assert [retry_delay(n, rng=lambda: 0.0) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert 1.0 <= retry_delay(1) <= 1.5
    e = FetchError("x", retryable=True, retry_after=30.0)
    assert retry_delay(1, e, rng=lambda: 0.0) == 30.0 and retry_delay(1, e, max_delay=10) == 10
    assert parse_retry_after("12") == 12.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2026, 1, 28, 9, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Wed, 28 Jan 2026 09:01:30 GMT", now) == 90.0
    assert parse_retry_after("Wed, 28 Jan 2026 08:00:00 GMT", now) == 0.0


def test_the_module_reads_no_environment_and_reprs_hide_secrets() -> None:
    import ast

    import vinops.fetch

    tree = ast.parse(Path(vinops.fetch.__file__).read_text(encoding="utf-8"))
    names = {ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute | ast.Name)}
    assert not {"os.environ", "os.getenv", "print", "Settings"} & names
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    assert not any(name.startswith("prefect") for name in imported)
    source = FeedSource(url=f"http://127.0.0.1:9/x?authKey={AUTH_KEY}",
                        login=Login(url="http://127.0.0.1:9/login", username=USERNAME, password=PASSWORD))  # fmt: skip
    assert AUTH_KEY not in repr(source) and PASSWORD not in repr(source) and "authKey=***" in repr(source)
