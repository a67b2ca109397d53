"""Logging with secrets masked: :func:`mask` for any text, :class:`MaskSecrets` for a logging handler.

A database URL's password must never reach a log line or an error message, whichever form it is written in:

* a URL: ``postgresql://user:PASSWORD@host/db`` (any ``scheme://user:PASSWORD@``) → ``postgresql://user:***@host/db``;
* a conninfo string or a query parameter: ``password=PASSWORD``, ``password='pass word'``,
  ``?password=PASSWORD&…``, ``PGPASSWORD=…`` → ``password=***``;
* a mapping's repr or JSON: ``'password': 'PASSWORD'`` → ``'password': '***'``;
* a feed URL's key: ``?authKey=KEY`` (also ``auth_key``, ``api_key``, ``apikey``, ``access_token``) →
  ``?authKey=***``;
* HTTP headers that carry a session or credentials: ``Cookie: …``, ``Set-Cookie: …``, ``Authorization: …``
  (as a header line, in a mapping's repr ``'cookie': '…'`` or a header tuple ``(b'Set-Cookie', b'…')``) →
  ``Cookie: ***``;
* any other secret a caller registers (:func:`add_secret`: a feed key, an S3 key, a cookie), wherever it
  appears verbatim.

The command line installs :class:`MaskSecrets` on its stderr handler (:func:`stderr_handler`) and masks its
error messages; flows add the same filter to their handlers::

    handler.addFilter(MaskSecrets())

Two formats (``VINOPS_LOG_FORMAT``, chosen by the command line): ``text``, one human-readable line
(``HH:MM:SS LEVEL logger: message``), and ``json``, one JSON object a line (:class:`JsonFormatter`: ``time``,
``level``, ``logger``, ``message``, then ``load_id``, ``stage``, ``seconds`` and any other attribute the
record was given with ``extra=``), for a log collector. The mask applies to both: the filter masks the
message and the traceback, and the JSON formatter masks every string it writes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["LOG_FORMATS", "MASK", "JsonFormatter", "MaskSecrets", "add_secret", "mask", "stderr_handler"]

#: The log formats of :func:`stderr_handler`.
LOG_FORMATS: tuple[str, ...] = ("text", "json")

MASK = "***"

# scheme://user:PASSWORD@ — the password runs to the last '@' of the same token (a raw '@' in a password is
# invalid in a URL, but people write it).
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:)(?P<secret>\S+)(?=@)")
# password=…, password = '…', "password": "…", 'password': '…', PGPASSWORD=…, ?password=…&
_KEY_PASSWORD = re.compile(
    r"""(?P<head>(?i:password|passwd|pgpassword)['"]?\s*[=:]\s*)"""
    r"""(?P<secret>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&;,'")}\]]+)"""
)

# ?authKey=…&, authKey: '…' — a query parameter (or a mapping entry) that holds the feed's member key
_KEY_QUERY = re.compile(
    r"""(?P<head>\b(?i:authkey|auth_key|api_key|apikey|access_token)['"]?\s*[=:]\s*)"""
    r"""(?P<secret>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&;,'")}\]#]+)"""
)
# Cookie: …, Set-Cookie: …, Authorization: … (to the end of the line), 'cookie': '…' (a quoted value), and the
# header tuples an HTTP library's debug log prints: (b'Set-Cookie', b'…')
_HEADER_NAME = r"(?i:set-cookie|cookie|authorization|proxy-authorization)"
_HEADER = re.compile(
    rf"""(?P<head>(?<![\w-]){_HEADER_NAME}['"]?\s*:\s*|['"]{_HEADER_NAME}['"]\s*,\s*b?)"""
    r"""(?P<secret>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\r\n]+)"""
)

_lock = threading.Lock()
_secrets: set[str] = set()


def add_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears verbatim, from now on (values shorter than 4 characters are
    ignored: masking them would garble ordinary text)."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def _quoted(secret: str) -> str:
    if len(secret) >= 2 and secret[0] in "'\"" and secret[-1] == secret[0]:
        return secret[0] + MASK + secret[0]
    if secret[:1] in ("'", '"'):
        return secret[0] + MASK
    return MASK


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every password of a database URL or conninfo string, every feed key in a URL, every
    cookie or authorization header value, every registered secret (:func:`add_secret`) and every one of
    ``secrets`` replaced by ``***``."""
    if not text:
        return text
    with _lock:
        known = sorted({*_secrets, *(s for s in secrets if s and len(s) >= 4)}, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _KEY_QUERY.sub(lambda m: m.group("head") + _quoted(m.group("secret")), text)
    text = _HEADER.sub(lambda m: m.group("head") + _quoted(m.group("secret")), text)
    return _KEY_PASSWORD.sub(lambda m: m.group("head") + _quoted(m.group("secret")), text)


class MaskSecrets(logging.Filter):
    """A filter that masks secrets (:func:`mask`) in a record's message, its traceback and its stack: add it
    to a handler and nothing that handler writes shows a password. It never drops a record.

    The record is rewritten in place (message formatted with its arguments, then masked), so handlers after
    this one see the masked text too."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep what there is
            message = f"{record.msg!s} {record.args!r}"
        record.msg = mask(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, self.secrets)
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr`` (looked up at each record, so a replaced stderr is honoured)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


#: Attributes every LogRecord has: the rest came from ``extra=`` and go into the JSON object.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
#: The extras a window's log lines carry, written first (null when a record has none).
_FIRST_EXTRAS = ("load_id", "stage", "seconds")


#: Mapping keys whose value is a secret whatever it looks like (an extra such as ``headers={"Cookie": …}``).
_SECRET_KEY = re.compile(r"(?i)^(?:password|passwd|pgpassword|set-cookie|cookie|authorization|proxy-authorization|"
                         r"authkey|auth_key|api_key|apikey|access_token)$")  # fmt: skip


def _masked(value: Any) -> Any:
    """``value`` ready for JSON with every string in it masked."""
    if isinstance(value, str):
        return mask(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): MASK if _SECRET_KEY.match(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_masked(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return mask(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``,
    ``message``, ``load_id``, ``stage``, ``seconds`` (null when the record has none), every other ``extra=``
    attribute, and ``exception`` / ``stack`` when there is one. Every string is masked (:func:`mask`), extras
    included: a filter only sees the message."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _FIRST_EXTRAS:
            out[key] = getattr(record, key, None)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(_masked(out), ensure_ascii=False)


def stderr_handler(level: int = logging.NOTSET, log_format: str = "text") -> logging.Handler:
    """A handler on stderr with :class:`MaskSecrets`: human-readable lines (``HH:MM:SS LEVEL logger: message``),
    or with ``log_format="json"`` one JSON object a line (:class:`JsonFormatter`)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = _StderrHandler()
    handler.setLevel(level)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(MaskSecrets())
    return handler
