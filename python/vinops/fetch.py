"""The feed client: one conditional GET of the Copart sales-data file, streamed to a temporary file while it is
hashed, validated, then stored in the raw store. No Prefect, no environment: the caller passes a
:class:`FeedSource` (address, login, headers, limits) and the previous download's validators.

Two access modes (``SOURCE.md``):

* the tokenized address ``…/salesdata.cgi?authKey=KEY``: a plain GET;
* a member login (:class:`Login`): credentials are POSTed to the login URL and the cookie session is kept. It is
  renewed before it expires (a cookie's expiry minus a margin, or the configured maximum age) and renewed once
  more when the feed answers 401/403, redirects to the login page or serves an HTML page instead of the file.

What :meth:`FeedClient.fetch` ends with:

* ``status="not_modified"``: the server answered 304 to ``If-None-Match`` / ``If-Modified-Since`` (no body);
* ``status="unchanged"``: the body's SHA-256 equals ``last_sha256`` (the server ignores conditional requests):
  nothing is stored;
* ``status="fetched"``: the file passed validation and is in the raw store (``raw_key``);
* :class:`~vinops.errors.RejectedFile` (stage ``fetch``, never retryable): an HTML page instead of the CSV, a
  0-byte body, a first line that is not a Copart header, a file under ``min_ratio`` of the last good size, an
  unexpected status — nothing is stored;
* :class:`FetchError` with ``retryable=True`` (and ``retry_after`` when the server sent ``Retry-After``): a
  network error or timeout, a truncated body, 5xx, 429 — the same request may succeed a little later;
* :class:`CredentialsRefused` (a :class:`FetchError`, not retryable): 401/403 or a login page after one fresh
  login, or a login the server refuses.

A truncated body (the connection ends before ``Content-Length`` bytes, or a chunked body ends early) is a
*retryable* :class:`FetchError`, not a :class:`~vinops.errors.RejectedFile`: the file on the server is not at
fault, the transfer is, and a new GET normally gets it whole. Like a rejection it stores nothing.

Retrying is the caller's policy (the flow's); :func:`retry_delay` gives the delays (1 s, 2 s, 4 s + jitter,
at least the server's ``Retry-After``).

Secrets: the feed URL's key (and any ``key``/``token`` query value), the password and every cookie value are
registered with :func:`vinops.logs.add_secret`; log lines and exception texts of this module are masked with
:func:`vinops.logs.mask`, and never print a cookie or a request's headers. A client also puts a
:class:`~vinops.logs.MaskSecrets` filter on the loggers of httpx and httpcore (which log URLs at INFO and
response headers, ``Set-Cookie`` included, at DEBUG), so their records are masked before any handler sees them.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import random
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

import httpx

from vinops.errors import IngestError, RejectedFile
from vinops.logs import MaskSecrets, add_secret, mask
from vinops.rawstore import RawStore

__all__ = [
    "DEFAULT_REFERER",
    "DEFAULT_USER_AGENT",
    "CredentialsRefused",
    "FeedClient",
    "FeedSource",
    "FetchError",
    "FetchResult",
    "Login",
    "fetch_feed",
    "parse_retry_after",
    "retry_delay",
]

log = logging.getLogger(__name__)

STAGE = "fetch"
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
DEFAULT_REFERER = "https://www.copart.com/"
_CHUNK = 1 << 20
#: The first line (the header row) must end within this many bytes (a 59-column header is about 900).
_HEAD_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_LOT_NUMBER = re.compile(r'(?:^|,)\s*"?\s*lot number\s*"?\s*(?:,|$)', re.IGNORECASE)
_HTML_TYPES = ("text/html", "application/xhtml", "application/json", "text/xml", "application/xml",
               "text/javascript", "application/javascript", "image/", "audio/", "video/")  # fmt: skip
_HTML_START = re.compile(rb"^\s*<(?:!doctype|html|head|body|\?xml|script|meta|title|div|form|!--)", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
#: Query parameters whose values are secrets (the member key and its kin).
_SECRET_PARAM = re.compile(r"key|token|secret|pass|sig|auth", re.IGNORECASE)
_HTML_INSTEAD = "an HTML page instead of the file"


# ---------------------------------------------------------------------------------------------------------
# errors and retry delays


class FetchError(IngestError):
    """The download failed (stage ``fetch``). ``retryable``: the same request may succeed later (network
    error, timeout, truncated body, 5xx, 429); ``retry_after``: seconds the server asked to wait
    (``Retry-After``), else None; ``status``: the HTTP status when there was one."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(STAGE, mask(message), retryable=retryable)
        self.retry_after = retry_after
        self.status = status


class CredentialsRefused(FetchError):
    """The feed or the login refused the key or the credentials (after one fresh login): not retryable."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, retryable=False, status=status)


#: The HTTP libraries' own loggers: httpx logs each request's URL (with its key) at INFO, httpcore each
#: response's headers (with Set-Cookie) at DEBUG. A masking filter on each rewrites their records before any
#: handler (ours, pytest's, Prefect's) sees them.
_HTTP_LOGGERS = ("httpx", "httpcore.http11", "httpcore.http2", "httpcore.connection", "httpcore.proxy",
                 "httpcore.socks")  # fmt: skip


def _guard_http_loggers() -> None:
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskSecrets) for f in logger.filters):
            logger.addFilter(MaskSecrets())


def _rejected(reason: str) -> RejectedFile:
    return RejectedFile(STAGE, mask(reason))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def retry_delay(
    attempt: int,
    error: BaseException | None = None,
    *,
    base: float = 1.0,
    jitter: float = 0.5,
    max_delay: float = 300.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, 3 …): ``base`` · 2^(attempt-1) (1 s, 2 s, 4 s)
    plus up to ``jitter`` seconds at random, and at least the server's ``Retry-After`` (``error.retry_after``);
    never more than ``max_delay``."""
    delay = base * 2.0 ** max(0, attempt - 1) + jitter * rng()
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > delay:
        delay = float(retry_after)
    return min(delay, max_delay)


# ---------------------------------------------------------------------------------------------------------
# settings and results


@dataclass(frozen=True)
class Login:
    """A member login: a form POST of ``username_field=username&password_field=password`` (plus ``extra``) to
    ``url``; the cookies it sets are the session. ``max_age``: seconds a session is used before a fresh login;
    ``renew_margin``: a session is renewed this many seconds before one of its cookies expires."""

    url: str
    username: str = field(repr=False)
    password: str = field(repr=False)
    username_field: str = "username"
    password_field: str = "password"
    extra: Mapping[str, str] = field(default_factory=dict)
    max_age: float = 3600.0
    renew_margin: float = 60.0

    def __post_init__(self) -> None:
        if not self.url or not self.username or not self.password:
            raise ValueError("a login needs a URL, a username and a password")
        if self.max_age <= 0 or self.renew_margin < 0:
            raise ValueError("login max_age must be > 0 and renew_margin >= 0")


@dataclass(frozen=True)
class FeedSource:
    """Where and how to download the feed. ``url``: the tokenized address (``…?authKey=KEY``), or the file's
    address behind the member ``login``. Timeouts are seconds; ``max_seconds`` bounds a whole download;
    ``min_ratio``: a file smaller than this share of the last good file's size is rejected."""

    url: str = field(repr=False)
    login: Login | None = None
    user_agent: str = DEFAULT_USER_AGENT
    referer: str | None = DEFAULT_REFERER
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    max_seconds: float | None = 900.0
    min_ratio: float = 0.8
    max_redirects: int = 5

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError("no feed URL given")
        if not 0.0 <= self.min_ratio <= 1.0:
            raise ValueError(f"min_ratio must be between 0 and 1, not {self.min_ratio}")

    @property
    def safe_url(self) -> str:
        """The address with its secrets masked (for logs and messages)."""
        return mask(self.url)

    def __repr__(self) -> str:
        return f"FeedSource(url={self.safe_url!r}, login={self.login!r}, min_ratio={self.min_ratio})"


@dataclass(frozen=True)
class FetchResult:
    """One download. ``path``: the downloaded file (None unless ``status == "fetched"``): a temporary file the
    caller removes when ``temporary`` is true, else the stored file itself (an uncompressed local raw store).
    ``etag`` / ``last_modified``: the validators to send next time (the previous ones on a 304)."""

    status: Literal["fetched", "not_modified", "unchanged"]
    path: Path | None
    temporary: bool
    sha256: str | None
    bytes: int
    etag: str | None
    last_modified: str | None
    raw_key: str | None
    seconds: float
    http_status: int
    url: str  # masked

    def cleanup(self) -> None:
        """Remove the temporary file (if any)."""
        if self.temporary and self.path is not None:
            self.path.unlink(missing_ok=True)


@dataclass
class _Body:
    path: Path
    sha256: str
    size: int


# ---------------------------------------------------------------------------------------------------------
# the client


class FeedClient:
    """An HTTP client for the feed (one ``httpx.Client``: connections and the login session are reused
    between fetches). Use it as a context manager, or call :meth:`close`.

    ``transport``: an httpx transport (tests); ``clock``: seconds since the epoch (the session's age and its
    cookies' expiry are measured with it)."""

    def __init__(
        self,
        source: FeedSource,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self._clock = clock
        self._session_at: float | None = None
        _guard_http_loggers()
        self._register_url_secrets(source.url)
        if source.login is not None:
            add_secret(source.login.password)
            add_secret(quote(source.login.password, safe=""))
            add_secret(quote(source.login.password, safe="").replace("%20", "+"))
        headers = {"User-Agent": source.user_agent}
        if source.referer:
            headers["Referer"] = source.referer
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(source.read_timeout, connect=source.connect_timeout),
            follow_redirects=False,
            max_redirects=source.max_redirects,
            transport=transport,
        )

    def __enter__(self) -> FeedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- secrets

    @staticmethod
    def _register_url_secrets(url: str) -> None:
        for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=False):
            if _SECRET_PARAM.search(name):
                add_secret(value)
                add_secret(quote(value, safe=""))

    def _register_cookies(self) -> None:
        for cookie in self._client.cookies.jar:
            add_secret(cookie.value)

    # -- the login session

    @property
    def logged_in(self) -> bool:
        return self._session_at is not None

    def _session_stale(self) -> str | None:
        """Why the session must be renewed now (None: it is good)."""
        login = self.source.login
        assert login is not None
        if self._session_at is None:
            return "no session yet"
        now = self._clock()
        if now - self._session_at >= login.max_age:
            return f"session older than {login.max_age:g} s"
        cookies = list(self._client.cookies.jar)
        if not cookies:
            return "no session cookie left"
        for cookie in cookies:
            if cookie.expires is not None and cookie.expires - login.renew_margin <= now:
                return f"a session cookie expires within {login.renew_margin:g} s"
        return None

    def login(self) -> None:
        """POST the credentials; keep the cookies they set. Raises :class:`CredentialsRefused` when the server
        refuses them, a retryable :class:`FetchError` on a network error, 5xx or 429."""
        login = self.source.login
        if login is None:
            raise ValueError("this feed source has no login")
        self._client.cookies.clear()
        self._session_at = None
        data = {**login.extra, login.username_field: login.username, login.password_field: login.password}
        started = time.monotonic()
        try:
            response = self._client.post(login.url, data=data)
        except httpx.TimeoutException as e:
            raise FetchError(f"login at {mask(login.url)} timed out ({type(e).__name__})", retryable=True) from None
        except httpx.TransportError as e:
            raise FetchError(f"login at {mask(login.url)}: network error: {type(e).__name__}: {e}", retryable=True) from None
        self._register_cookies()
        status = response.status_code
        log.info("login %s → HTTP %d in %.2f s", mask(login.url), status, time.monotonic() - started)
        _raise_transient(response, f"login at {mask(login.url)}")
        if status in (401, 403) or status >= 400:
            raise CredentialsRefused(f"login at {mask(login.url)} refused the credentials (HTTP {status})", status=status)
        if response.is_redirect and self._is_login_page(response.headers.get("location", ""), str(response.url)):
            raise CredentialsRefused(f"login at {mask(login.url)} refused the credentials (sent back to the login page)",
                                     status=status)  # fmt: skip
        if not list(self._client.cookies.jar):
            raise CredentialsRefused(
                f"login at {mask(login.url)} refused the credentials (HTTP {status}, no session cookie set)", status=status
            )
        self._session_at = self._clock()

    def _ensure_session(self) -> None:
        reason = self._session_stale()
        if reason is not None:
            log.info("login: renewing the session (%s)", reason)
            self.login()

    def _is_login_page(self, location: str, base: str) -> bool:
        if not location:
            return False
        target = urlsplit(urljoin(base, location))
        if self.source.login is not None:
            page = urlsplit(self.source.login.url)
            if target.path.rstrip("/") == page.path.rstrip("/") and (not page.netloc or target.netloc == page.netloc):
                return True
        path = target.path.lower()
        return any(word in path for word in ("login", "signin", "sign-in", "logon"))

    # -- the download

    def fetch(
        self,
        store: RawStore | None,
        window_at: datetime,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        last_size: int | None = None,
        last_sha256: str | None = None,
        tmp_dir: Path | None = None,
    ) -> FetchResult:
        """Download the feed (conditional on ``etag`` / ``last_modified``), validate it (against ``last_size``,
        the last good file's size) and store it in ``store`` for the window at ``window_at``. See the module's
        documentation for the outcomes. ``store=None`` skips storing (the result's file is temporary)."""
        started = time.monotonic()
        deadline = started + self.source.max_seconds if self.source.max_seconds else None
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        renewed = False
        if self.source.login is not None:
            self._ensure_session()
        while True:
            response = self._open(headers)
            try:
                why = self._needs_login(response)
                if why == _HTML_INSTEAD and renewed:
                    why = None  # still HTML with a fresh session: a bot-check page, rejected below
                if why is not None:
                    if self.source.login is not None and not renewed:
                        renewed = True
                        log.info("GET %s → HTTP %d (%s): logging in again", self.source.safe_url,
                                 response.status_code, why)  # fmt: skip
                        response.close()
                        self.login()
                        continue
                    extra = " after a fresh login" if renewed else ""
                    raise CredentialsRefused(f"the feed refused access{extra}: {why} (HTTP {response.status_code})",
                                             status=response.status_code)  # fmt: skip
                if response.status_code == 304:
                    seconds = time.monotonic() - started
                    log.info("GET %s → HTTP 304 not modified in %.2f s", self.source.safe_url, seconds)
                    return FetchResult(
                        status="not_modified", path=None, temporary=False, sha256=None, bytes=0,
                        etag=response.headers.get("etag") or etag,
                        last_modified=response.headers.get("last-modified") or last_modified,
                        raw_key=None, seconds=seconds, http_status=304, url=self.source.safe_url,
                    )  # fmt: skip
                self._check_status(response)
                body = self._download(response, tmp_dir, deadline)
                break
            finally:
                response.close()
        try:
            seconds = time.monotonic() - started
            new_etag = response.headers.get("etag")
            new_modified = response.headers.get("last-modified")
            log.info("GET %s → HTTP %d, %d bytes in %.2f s (sha256 %s)", self.source.safe_url,
                     response.status_code, body.size, seconds, body.sha256[:12])  # fmt: skip
            if last_size and body.size < self.source.min_ratio * last_size:
                raise _rejected(
                    f"the file is too short: {body.size} bytes, under {self.source.min_ratio:.0%} of the last good "
                    f"file's {last_size} bytes"
                )
            common = dict(bytes=body.size, etag=new_etag, last_modified=new_modified,
                          http_status=response.status_code, url=self.source.safe_url)  # fmt: skip
            if last_sha256 and body.sha256 == last_sha256:
                body.path.unlink(missing_ok=True)
                log.info("the file is unchanged (same SHA-256 as the last one): not stored")
                return FetchResult(status="unchanged", path=None, temporary=False, sha256=body.sha256, raw_key=None,
                                   seconds=time.monotonic() - started, **common)  # type: ignore[arg-type]  # fmt: skip
            path, temporary, key = body.path, True, None
            if store is not None:
                key = store.put(body.path, window_at, body.sha256)
                stored = _stored_plain_path(store, key)
                if stored is not None:
                    body.path.unlink(missing_ok=True)
                    path, temporary = stored, False
                log.info("stored %s (%d bytes)", key, body.size)
            return FetchResult(status="fetched", path=path, temporary=temporary, sha256=body.sha256, raw_key=key,
                               seconds=time.monotonic() - started, **common)  # type: ignore[arg-type]  # fmt: skip
        except BaseException:
            body.path.unlink(missing_ok=True)
            raise

    def _open(self, headers: Mapping[str, str]) -> httpx.Response:
        url = self.source.safe_url
        try:
            request = self._client.build_request("GET", self.source.url, headers=dict(headers))
            response = self._client.send(request, stream=True, follow_redirects=True)
        except httpx.TooManyRedirects:
            raise FetchError(f"GET {url}: more than {self.source.max_redirects} redirects", retryable=False) from None
        except httpx.TimeoutException as e:
            raise FetchError(f"GET {url} timed out ({type(e).__name__})", retryable=True) from None
        except httpx.TransportError as e:
            raise FetchError(f"GET {url}: network error: {type(e).__name__}: {e}", retryable=True) from None
        self._register_cookies()
        return response

    def _needs_login(self, response: httpx.Response) -> str | None:
        """Why this response means the session (or the key) was refused, else None."""
        if response.status_code in (401, 403):
            return "access denied"
        if response.history and self._is_login_page(str(response.url), str(response.url)):
            return "redirected to the login page"
        if response.is_redirect and self._is_login_page(response.headers.get("location", ""), str(response.url)):
            return "redirected to the login page"
        if (
            self.source.login is not None
            and response.status_code == 200
            and "text/html" in response.headers.get("content-type", "").lower()
        ):
            return _HTML_INSTEAD
        return None

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        _raise_transient(response, f"GET {self.source.safe_url}")
        if status != 200:
            raise _rejected(f"unexpected HTTP status {status} {response.reason_phrase} from {self.source.safe_url}")
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype and any(ctype.startswith(t) for t in _HTML_TYPES):
            raise _rejected(f"content type {ctype!r} with HTTP 200 is not the CSV file{_title_of(response)}")

    def _download(self, response: httpx.Response, tmp_dir: Path | None, deadline: float | None) -> _Body:
        fd, name = tempfile.mkstemp(prefix="vinops-feed-", suffix=".csv", dir=tmp_dir)
        path = Path(name)
        digest = hashlib.sha256()
        size = 0
        head = bytearray()
        head_checked = False
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    for chunk in response.iter_bytes(_CHUNK):
                        if not head_checked:
                            head += chunk
                            if b"\n" in head or len(head) >= _HEAD_BYTES:
                                _check_head(bytes(head[:_HEAD_BYTES]))
                                head_checked = True
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                        if deadline is not None and time.monotonic() > deadline:
                            raise FetchError(f"GET {self.source.safe_url}: the download took longer than "
                                             f"{self.source.max_seconds:g} s ({size} bytes so far)", retryable=True)  # fmt: skip
                except httpx.TimeoutException as e:
                    raise FetchError(f"GET {self.source.safe_url}: timed out after {size} bytes of the body "
                                     f"({type(e).__name__})", retryable=True) from None  # fmt: skip
                except httpx.TransportError as e:
                    raise FetchError(f"GET {self.source.safe_url}: {_truncated(response, e)}", retryable=True) from None
            if size == 0:
                raise _rejected(f"empty body (0 bytes) from {self.source.safe_url}")
            if not head_checked:
                _check_head(bytes(head))
            expected = _content_length(response)
            if expected is not None and response.num_bytes_downloaded != expected:
                raise FetchError(f"GET {self.source.safe_url}: truncated body: received {response.num_bytes_downloaded} "
                                 f"of {expected} bytes (Content-Length)", retryable=True)  # fmt: skip
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _Body(path=path, sha256=digest.hexdigest(), size=size)


def fetch_feed(
    source: FeedSource,
    store: RawStore | None,
    window_at: datetime,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    last_size: int | None = None,
    last_sha256: str | None = None,
    tmp_dir: Path | None = None,
    transport: httpx.BaseTransport | None = None,
) -> FetchResult:
    """One download with a fresh client (one login in login mode): :meth:`FeedClient.fetch`."""
    with FeedClient(source, transport=transport) as client:
        return client.fetch(store, window_at, etag=etag, last_modified=last_modified, last_size=last_size,
                            last_sha256=last_sha256, tmp_dir=tmp_dir)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# helpers


def _raise_transient(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if status == 429 or status == 408 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        wait = f", Retry-After {retry_after:g} s" if retry_after is not None else ""
        raise FetchError(f"{what} → HTTP {status} {response.reason_phrase}{wait}", retryable=True,
                         retry_after=retry_after, status=status)  # fmt: skip


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    if raw is None or "," in raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def _truncated(response: httpx.Response, error: Exception) -> str:
    expected = _content_length(response)
    got = response.num_bytes_downloaded
    if expected is not None and got < expected:
        return f"truncated body: received {got} of {expected} bytes (the connection closed early)"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"truncated body: the connection closed early after {got} bytes ({mask(str(error))})"
    return f"network error after {got} bytes of the body: {type(error).__name__}: {mask(str(error))}"


def _title_of(response: httpx.Response) -> str:
    try:
        head = b""
        for chunk in response.iter_bytes(4096):
            head += chunk
            if len(head) >= 16384:
                break
    except httpx.HTTPError:
        return ""
    m = _TITLE.search(head)
    if not m:
        return ""
    title = " ".join(m.group(1).decode("utf-8", "replace").split())[:80]
    return f" (page title {mask(title)!r})" if title else ""


def _check_head(head: bytes) -> None:
    """The first bytes: not an HTML page; the first line a Copart header (a ``Lot number`` column)."""
    if head.startswith(_BOM):
        head = head[len(_BOM):]
    if _HTML_START.match(head):
        m = _TITLE.search(head)
        title = " ".join(m.group(1).decode("utf-8", "replace").split())[:80] if m else ""
        raise _rejected("an HTML page, not the CSV file" + (f" (page title {title!r})" if title else ""))
    end = head.find(b"\n")
    if end < 0 and len(head) >= _HEAD_BYTES:
        raise _rejected(f"the first line is longer than {_HEAD_BYTES} bytes: not a Copart header")
    line = (head if end < 0 else head[:end]).rstrip(b"\r").decode("utf-8", "replace")
    if not _LOT_NUMBER.search(line):
        shown = line[:60].encode("ascii", "backslashreplace").decode("ascii")
        raise _rejected(f"the first line is not a Copart header (no 'Lot number' column): {shown!r}")


def _stored_plain_path(store: RawStore, key: str) -> Path | None:
    """The stored file itself when ``store`` is a local folder keeping files uncompressed (the parser can read
    it there), else None."""
    if getattr(store, "compression", None) != "none":
        return None
    path_of = getattr(store, "path", None)
    if not callable(path_of):
        return None
    path = path_of(key)
    return path if isinstance(path, Path) and path.is_file() else None
