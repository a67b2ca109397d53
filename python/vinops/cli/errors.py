"""The one map from errors to exit codes and one-line messages, for every command (see :mod:`vinops.cli`).

:func:`exit_code` classifies an exception, :func:`message` writes its line (secrets masked, text that came
from a file escaped and cut to a short excerpt), :func:`report` prints ``vinops: error: <message>`` on stderr
and returns the code.
"""

from __future__ import annotations

import logging
import re
import sys

import psycopg

from vinops import VinopsError
from vinops.errors import RejectedFile, is_retryable
from vinops.logs import mask

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TEMPFAIL",
    "EXIT_USAGE",
    "Failure",
    "UsageError",
    "escape",
    "exit_code",
    "message",
    "report",
]

log = logging.getLogger("vinops.cli")

EXIT_OK = 0
#: A failure that is not the input's fault and that a retry will not fix (a bug, a broken installation).
EXIT_FAILURE = 1
#: Bad input or usage: a missing or unreadable file, not a Copart CSV, a rejected file, invalid options.
EXIT_USAGE = 2
#: A failure a retry can help (sysexits.h EX_TEMPFAIL): lost connection, lock timeout.
EXIT_TEMPFAIL = 75
#: Interrupted (SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130

#: Text taken from a file is cut to this many characters (after escaping).
EXCERPT_CHARS = 200

# Codes of VinopsError that say the input file is unusable (others, e.g. `taxonomy`, `zones`: the installation).
_BAD_FILE_CODES = frozenset({"io", "empty_file", "missing_lot_number_column"})
_OS_ERROR_SUFFIX = re.compile(r"\s*\(os error \d+\)")


class UsageError(Exception):
    """Bad input or usage found by the command line itself: invalid options or settings, a missing or
    unreadable input file (exit 2)."""


class Failure(Exception):
    """A failure the command line describes itself, not the input's fault (exit 1)."""


def _bad_input(error: BaseException) -> bool:
    if isinstance(error, UsageError):
        return True
    if isinstance(error, VinopsError):
        return getattr(error, "code", None) in _BAD_FILE_CODES
    return isinstance(error, RejectedFile)


def _from_file(error: BaseException) -> bool:
    """Whether the message may quote the file's own bytes (escaped and cut to an excerpt)."""
    return isinstance(error, (VinopsError, RejectedFile))


def exit_code(error: BaseException) -> int:
    """The exit code of a command that raised ``error`` (the map in :mod:`vinops.cli`)."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, UsageError):
        return EXIT_USAGE
    if is_retryable(error):
        return EXIT_TEMPFAIL
    if _bad_input(error):
        return EXIT_USAGE
    return EXIT_FAILURE


def escape(text: str, *, ascii_only: bool = False) -> str:
    """``text`` on one line: runs of whitespace become one space, every other non-printable character (and
    with ``ascii_only`` every non-ASCII one) is escaped as ``\\x00``, ``\\u00ad`` or ``\\U0001f600``."""
    out = []
    for ch in " ".join(text.split()):
        if ch.isprintable() and not (ascii_only and ord(ch) > 0x7E):
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# Errors raised with a message meant for people (a RuntimeError: "the schema is behind: run vinops db migrate");
# any other type is a bug, named in the message.
_KNOWN = (OSError, ValueError, RuntimeError, VinopsError, psycopg.Error, UsageError, Failure)


def message(error: BaseException) -> str:
    """The one line describing ``error``: escaped, secrets masked; a missing path reads ``cannot read PATH:
    No such file or directory``; text from a file is a short escaped excerpt."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        verb = "cannot read " if isinstance(error, (FileNotFoundError, IsADirectoryError)) else ""
        text = f"{verb}{error.filename}: {error.strerror}"
    else:
        text = str(error).strip()
        if isinstance(error, VinopsError):
            text = _OS_ERROR_SUFFIX.sub("", text)
        if not text:
            text = type(error).__name__
        elif not isinstance(error, _KNOWN):
            text = f"{type(error).__name__}: {text}"
    text = mask(text)
    if _from_file(error):
        return _excerpt(escape(text, ascii_only=True))
    return escape(text)


def report(error: BaseException) -> int:
    """Print ``vinops: error: <message>`` on stderr (the traceback goes to the log at debug level, ``-vv``)
    and return the exit code."""
    code = exit_code(error)
    if not isinstance(error, KeyboardInterrupt):
        log.debug("the command failed (exit %d)", code, exc_info=error)
    line = message(error)
    if code == EXIT_FAILURE and not isinstance(error, _KNOWN):
        line += " (run with -vv for the traceback)"
    print(f"vinops: error: {line}", file=sys.stderr, flush=True)
    return code
