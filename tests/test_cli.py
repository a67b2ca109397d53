"""The command line's edges, without a database: the exit-code map, one-line messages (a missing path, random
bytes), the secret mask in logs and errors, and library calls that refuse to pick a database themselves."""

from __future__ import annotations

import ast
import io
import logging
import os
import random
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import vinops
from vinops import db
from vinops.cli import main
from vinops.cli.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
    Failure,
    UsageError,
    escape,
    exit_code,
    message,
)
from vinops.logs import MaskSecrets, add_secret, mask, stderr_handler

PACKAGE = Path(vinops.__file__).resolve().parent
PASSWORD = "s3cr3t-Pa55"
#: A URL with a password whose server refuses connections at once (port 1 on this host).
REFUSED_URL = f"postgresql://bob:{PASSWORD}@127.0.0.1:1/vinops"


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("vinops: error: "), err
    return err[len("vinops: error: ") : -1]


# ---------------------------------------------------------------------------------------------------------
# the library never picks a database


@pytest.mark.parametrize("url", [None, "", "   "])
def test_connect_without_a_url_raises(url: str | None) -> None:
    with pytest.raises(ValueError, match="no database URL given"):
        db.connect(url)  # type: ignore[arg-type]


def test_connect_takes_the_url_it_is_given() -> None:
    with pytest.raises(psycopg.OperationalError):
        db.connect(REFUSED_URL)


@pytest.mark.parametrize("module", ["db.py", "taxonomy.py", "taxonomy_tables.py", "parse.py", "logs.py"])
def test_library_modules_do_not_read_the_settings_or_print(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    calls = {
        ast.unparse(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert "Settings.from_env" not in calls and "print" not in calls and "sys.exit" not in calls
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "argparse" not in imported
    if module == "taxonomy.py":
        assert not any(name.startswith("psycopg") or name.startswith("vinops.db") for name in imported)


def test_db_does_not_start_the_embedded_server_by_itself() -> None:
    tree = ast.parse((PACKAGE / "db.py").read_text(encoding="utf-8"))
    callers = {
        fn.name
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Call) and ast.unparse(node.func) in {"embedded_url", "embedded_server"}
    }
    assert callers <= {"embedded_url", "stop_embedded"}  # only the embedded helpers themselves


# ---------------------------------------------------------------------------------------------------------
# exit codes and messages


def test_a_missing_file_reads_the_same_for_every_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.csv"
    expected = f"cannot read {missing}: No such file or directory"
    for argv in (
        ["parse", str(missing)],
        ["parse", str(missing), "--engine", "python", "--json"],
        ["ingest", str(missing), "--database-url", REFUSED_URL],
        ["ingest", str(missing)],  # checked before any database is chosen: no embedded server starts
    ):
        code, out, err = _cli(argv, capsys)
        assert (code, out) == (EXIT_USAGE, ""), argv
        assert _one_error_line(err) == expected, argv


def test_a_folder_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["parse", str(tmp_path)], capsys)
    assert code == EXIT_USAGE and _one_error_line(err) == f"cannot read {tmp_path}: Is a directory"


def test_the_module_runs_as_a_program(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    p = subprocess.run([sys.executable, "-m", "vinops.cli", "parse", str(missing)], capture_output=True, text=True)
    assert p.returncode == EXIT_USAGE and p.stdout == ""
    assert p.stderr == f"vinops: error: cannot read {missing}: No such file or directory\n"
    p = subprocess.run([sys.executable, "-m", "vinops.cli", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("vinops ")


def _random_bytes(seed: int, n: int = 4096) -> bytes:
    data = bytearray(random.Random(seed).randbytes(n))
    data[:4] = b"\x00\x1b\xff\xfe"  # a NUL, an escape, invalid UTF-8 at the very start
    return bytes(data)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bytes_give_an_escaped_excerpt(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(_random_bytes(seed))
    p = subprocess.run([sys.executable, "-m", "vinops.cli", "parse", str(path)], capture_output=True)
    assert p.returncode == EXIT_USAGE and p.stdout == b""
    err = p.stderr
    assert err.endswith(b"\n") and err.count(b"\n") == 1
    assert all(0x20 <= b <= 0x7E for b in err[:-1]), err  # no raw byte > 0x7f, no control character
    line = err.decode("ascii")
    assert line.startswith("vinops: error: not a Copart sales-data CSV")
    assert len(line) < 300  # a short excerpt, not the file


def test_random_bytes_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(_random_bytes(7))
    code, out, err = _cli(["parse", str(path), "--json"], capsys)
    assert code == EXIT_USAGE and out == ""
    text = _one_error_line(err)
    assert text.isascii() and text.isprintable() and ("\\u" in text or "\\x" in text)


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["bogus"], ["parse"], ["parse", "x.csv", "--engine", "perl"], ["db"], []):
        code, out, err = _cli(argv, capsys)
        assert code == EXIT_USAGE and out == "", argv
        _one_error_line(err)


def test_invalid_settings_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VINOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VINOPS_RAW_RETENTION_DAYS", "forever")
    code, out, err = _cli(["db", "stop"], capsys)
    assert code == EXIT_USAGE and "VINOPS_RAW_RETENTION_DAYS" in _one_error_line(err)


def test_db_stop_without_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VINOPS_DATA_DIR", str(tmp_path / "data"))
    assert _cli(["db", "stop"], capsys) == (0, "", "the embedded server is not running\n")


def test_a_refused_connection_is_a_temporary_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["db", "migrate", "--database-url", REFUSED_URL], capsys)
    assert code == EXIT_TEMPFAIL and out == ""
    assert "connection" in _one_error_line(err) and PASSWORD not in err


class _Retryable(RuntimeError):
    retryable = True


class _NotRetryable(RuntimeError):
    retryable = False


def _caused(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), EXIT_TEMPFAIL),
        (psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"), EXIT_TEMPFAIL),
        (_Retryable("lost the lock"), EXIT_TEMPFAIL),
        (_caused(RuntimeError("stage copy"), psycopg.OperationalError("gone")), EXIT_TEMPFAIL),
        (_caused(_NotRetryable("the schema is behind"), psycopg.OperationalError("gone")), EXIT_FAILURE),
        (UsageError("--grace: not a duration"), EXIT_USAGE),
        (Failure("run vinops db migrate"), EXIT_FAILURE),
        (ValueError("terms.csv:2: duplicate id"), EXIT_FAILURE),
        (FileNotFoundError(2, "No such file or directory", "/x/sql/migrations"), EXIT_FAILURE),
        (psycopg.errors.UndefinedTable("relation does not exist"), EXIT_FAILURE),
        (KeyError("bug"), EXIT_FAILURE),
        (KeyboardInterrupt(), EXIT_INTERRUPTED),
    ],
)
def test_exit_codes(error: BaseException, code: int) -> None:
    assert exit_code(error) == code


@pytest.mark.parametrize(
    ("code", "exit"),
    [("missing_lot_number_column", EXIT_USAGE), ("empty_file", EXIT_USAGE), ("io", EXIT_USAGE), ("taxonomy", EXIT_FAILURE)],
)
def test_parser_errors(code: str, exit: int) -> None:
    error = vinops.VinopsError("x")
    error.code = code
    assert exit_code(error) == exit


def test_a_rejected_file_is_bad_input() -> None:
    import vinops.errors as errors
    assert exit_code(errors.RejectedFile("read", "not a Copart CSV")) == EXIT_USAGE


def test_messages() -> None:
    assert message(FileNotFoundError(2, "No such file or directory", "/x/terms.csv")) == (
        "cannot read /x/terms.csv: No such file or directory"
    )
    assert message(KeyError("lot")) == "KeyError: 'lot'"
    assert message(RuntimeError("two\n  lines\tjoined")) == "two lines joined"
    assert message(ValueError(f"bad {REFUSED_URL}")) == "bad postgresql://bob:***@127.0.0.1:1/vinops"
    long = vinops.VinopsError("header starts " + "\x00é" * 500)
    text = message(long)
    assert text.isascii() and text.isprintable() and len(text) <= 210 and text.startswith("header starts \\x00\\xe9")


def test_escape() -> None:
    assert escape("a\x00b\x1bc\x7fd") == "a\\x00b\\x1bc\\x7fd"
    assert escape("Машина\u200b\ufffd") == "Машина\\u200b\ufffd"
    assert escape("Машина\ufffd", ascii_only=True) == "\\u041c\\u0430\\u0448\\u0438\\u043d\\u0430\\ufffd"
    assert escape(" a \n\t b ") == "a b"


# ---------------------------------------------------------------------------------------------------------
# the secret mask


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"postgresql://bob:{PASSWORD}@db:5432/vinops", "postgresql://bob:***@db:5432/vinops"),
        (f"postgres://bob:{PASSWORD}@db/x and mail me at a@b.c", "postgres://bob:***@db/x and mail me at a@b.c"),
        (f"host=db user=bob password={PASSWORD} dbname=x", "host=db user=bob password=*** dbname=x"),
        ("host=db password = 'with space' user=bob", "host=db password = '***' user=bob"),
        (f"postgresql://db/x?user=bob&password={PASSWORD}&sslmode=require", "postgresql://db/x?user=bob&password=***&sslmode=require"),
        (f"{{'password': '{PASSWORD}', 'host': 'db'}}", "{'password': '***', 'host': 'db'}"),
        (f'{{"password": "{PASSWORD}"}}', '{"password": "***"}'),
        (f"PGPASSWORD={PASSWORD} psql", "PGPASSWORD=*** psql"),
        # no password: nothing to mask
        ("postgresql://postgres:@/vinops?host=/run/pg", "postgresql://postgres:@/vinops?host=/run/pg"),
        ("postgresql://db:5432/vinops", "postgresql://db:5432/vinops"),
        ('password authentication failed for user "bob"', 'password authentication failed for user "bob"'),
        ("fe_sendauth: no password supplied", "fe_sendauth: no password supplied"),
    ],
)
def test_mask(text: str, masked: str) -> None:
    assert mask(text) == masked
    assert PASSWORD not in mask(text)


def test_mask_registered_secrets() -> None:
    assert mask("key abcd-1234 used", secrets=["abcd-1234"]) == "key *** used"
    add_secret("feed-key-9876")
    assert mask("GET /feed?k=feed-key-9876") == "GET /feed?k=***"


def test_the_filter_masks_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskSecrets())
    logger = logging.getLogger("vinops.test_mask")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.info("connecting to %s", REFUSED_URL)
        logger.info(f"conninfo host=db password={PASSWORD}")
        try:
            raise psycopg.OperationalError(f"could not connect to {REFUSED_URL}")
        except psycopg.OperationalError:
            logger.exception("failed")
        logger.warning("stack", stack_info=True, extra={"url": REFUSED_URL})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    assert PASSWORD not in text
    assert "connecting to postgresql://bob:***@127.0.0.1:1/vinops" in text
    assert "password=***" in text and "OperationalError: could not connect to postgresql://bob:***@" in text


def test_the_stderr_handler_masks_and_follows_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    handler = stderr_handler()
    logger = logging.getLogger("vinops.test_stderr")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.info("url %s", REFUSED_URL)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    err = capsys.readouterr().err
    assert "INFO vinops.test_stderr: url postgresql://bob:***@127.0.0.1:1/vinops" in err and PASSWORD not in err


def test_the_cli_never_shows_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # -vv: the debug log names the database and shows the failure's traceback; stdout prints the URL masked
    code, out, err = _cli(["-vv", "db", "url", "--database-url", REFUSED_URL], capsys)
    assert code == 0 and out == "postgresql://bob:***@127.0.0.1:1/vinops\n"
    assert "DEBUG vinops.cli: database: postgresql://bob:***@127.0.0.1:1/vinops" in err and PASSWORD not in err
    code, out, err = _cli(["db", "url", "--show-password", "--database-url", REFUSED_URL], capsys)
    assert code == 0 and out == REFUSED_URL + "\n"

    code, out, err = _cli(["db", "migrate", "-vv", "--database-url", REFUSED_URL], capsys)
    assert code == EXIT_TEMPFAIL and out == ""
    assert "Traceback" in err and err.rstrip("\n").splitlines()[-1].startswith("vinops: error: ")
    assert PASSWORD not in err
    assert any(r.levelno == logging.DEBUG and r.name == "vinops.cli" for r in caplog.records)

    # a conninfo string the client refuses: its error echoes the string, masked here
    bad = f"host=db password={PASSWORD} nonsense"
    code, out, err = _cli(["db", "migrate", "--database-url", bad], capsys)
    assert code == EXIT_USAGE and PASSWORD not in err and "password=***" in _one_error_line(err)

    # from the environment too, in the subprocess's own stderr
    env = {**os.environ, "VINOPS_DATABASE_URL": f"postgresql://bob:{PASSWORD}@127.0.0.1:1/x?sslmode=bogus"}
    p = subprocess.run([sys.executable, "-m", "vinops.cli", "-vv", "taxonomy", "unknown"], env=env,
                       capture_output=True, text=True)  # fmt: skip
    assert p.returncode != 0 and PASSWORD not in p.stderr and p.stderr.splitlines()[-1].startswith("vinops: error: ")


def test_logging_levels(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://db/x"
    assert _cli(["db", "url", "--database-url", url], capsys) == (0, url + "\n", "")  # default: warnings only
    code, out, err = _cli(["-v", "db", "url", "--database-url", url], capsys)
    assert code == 0 and "DEBUG" not in err
    code, out, err = _cli(["db", "url", "-vv", "--database-url", url], capsys)
    assert code == 0 and "DEBUG vinops.cli: database: postgresql://db/x" in err
    code, out, err = _cli(["-q", "db", "url", "-vv", "--database-url", url], capsys)
    assert code == 0 and err == ""  # -q wins
    # each run removes its handler: nothing is left on the root logger
    assert not [h for h in logging.getLogger().handlers if any(isinstance(f, MaskSecrets) for f in h.filters)]
