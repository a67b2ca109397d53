"""Drill 4, bad files: after a good window, every kind of bad file, through the real fetch path (a loopback feed
server, :func:`vinops.pipeline.run_window`) and through ``vinops ingest`` (a fresh process, exit code, stderr,
peak RSS). Each must end in a one-line error (rejected: exit 2, nothing written but the run and error logs) or in
quarantine / a refused completion; the tables are compared by checksum before and after; no completion runs
from a bad file. The one-line file (64 MiB short, 2 GiB full) and a file whose one data row is that long must be
read with bounded memory: the command's peak RSS stays well below the file's size."""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from drilldb import checksums, cli_env, run_cli
from drillfeed import LOGIN_PAGE, Answer, feed_server

from vinops.config import Settings
from vinops.errors import IngestError
from vinops.pipeline import run_window
from vinops.sample import write_sample

pytestmark = pytest.mark.timeout(1800)

AUTH_KEY = "drill4-" + secrets.token_hex(10)
ROWS = 3000
#: The tables a loaded window writes; a window that loads rows but must not change any lot compares these.
LOT_TABLES = ("vehicles", "lots", "lot_events", "staging.presence", "staging.presence_window")


def _lines(body: bytes) -> tuple[bytes, list[bytes]]:
    head, _, rest = body.partition(b"\n")
    return head + b"\n", [line + b"\n" for line in rest.split(b"\n") if line]


def _cut_mid_row(body: bytes) -> bytes:
    """The file cut in the middle of a row, 90 % of the way in (a transfer that stopped, saved as complete)."""
    at = body.index(b'","', int(len(body) * 0.9)) + 2
    return body[:at]


def _rename(body: bytes, old: bytes, new: bytes | None) -> bytes:
    """The header with column ``old`` renamed to ``new`` (None: the column left out of header and rows). The
    sample quotes every field; a row that does not split into the header's fields is kept as it is."""
    head, rows = _lines(body)
    names = head.rstrip(b"\n")[1:-1].split(b'","')
    i = names.index(old)
    width = len(names)
    if new is not None:
        names[i] = new
    else:
        del names[i]
    out = [b'"' + b'","'.join(names) + b'"\n']
    for row in rows:
        fields = row.rstrip(b"\n")[1:-1].split(b'","')
        if new is None and len(fields) == width:
            del fields[i]
            row = b'"' + b'","'.join(fields) + b'"\n'
        out.append(row)
    return b"".join(out)


def _short(body: bytes, share: float) -> bytes:
    head, rows = _lines(body)
    return head + b"".join(rows[: int(len(rows) * share)])


def _write_one_line(path: Path, size: int, header_first: bool) -> None:
    """``size`` bytes: one line (``header_first``: a real header line, then one data row of the rest)."""
    chunk = b"x" * (1 << 20)
    with path.open("wb") as f:
        written = 0
        if header_first:
            written += f.write(b'"Lot number","Sale Date M/D/CY","Sale time (HHMM)","Make","Model Detail"\n'
                               b'"1","20260105","1000","A","')
        else:
            written += f.write(b'"Lot number","Make",')
        while written + len(chunk) <= size:
            written += f.write(chunk)
        f.write(b"x" * (size - written))


@dataclass
class Case:
    name: str
    body: Callable[[bytes], bytes]
    content_type: str = "application/octet-stream"
    declared_length: Callable[[bytes], int] | None = None


#: Through the fetch path: each must be refused before anything is loaded.
FETCH_CASES = [
    Case("empty", lambda b: b""),
    Case("header_only", lambda b: _lines(b)[0]),
    Case("html_login_page", lambda b: LOGIN_PAGE, "text/html; charset=utf-8"),
    Case("html_login_page_as_csv", lambda b: LOGIN_PAGE),
    Case("truncated_transfer", lambda b: b[: len(b) // 2], declared_length=len),
    Case("lot_number_renamed", lambda b: _rename(b, b"Lot number", b"Lot #")),
    Case("short_30_percent", lambda b: _short(b, 0.3)),
    Case("random_bytes", lambda b: random.Random(4).randbytes(len(b))),
    Case("one_line_64_MiB", lambda b: b'"Lot number","Make",' + b"x" * (64 << 20)),
]


def _runs(conn: psycopg.Connection) -> list[tuple[str, str | None, bool | None]]:
    rows = conn.execute("SELECT outcome, reason, retryable FROM audit.window_runs ORDER BY id").fetchall()
    conn.rollback()
    return rows


def _lot_digests(conn: psycopg.Connection) -> dict[int, str]:
    """Each lot's whole row (every column), as an md5."""
    rows = dict(conn.execute("SELECT lot_number, md5(l::text) FROM lots l").fetchall())
    conn.rollback()
    return rows


def test_bad_files(drill: Any, db_url: str, settings: Settings, tmp_path: Path) -> None:
    failures: list[str] = []
    good_path = tmp_path / "good.csv"
    write_sample(good_path, rows=ROWS, seed=404)
    good = good_path.read_bytes()
    big = (2 << 30) if drill.full else (512 << 20)

    with feed_server(AUTH_KEY) as (state, base), psycopg.connect(db_url) as conn:
        s = replace(settings, database_url=db_url, feed_url=f"{base}/FTPLSTDM/salesdata.cgi?authKey={AUTH_KEY}",
                    completion_grace=timedelta(hours=2))  # fmt: skip
        state.serve(Answer(good))
        first = run_window(s, conn=conn)
        assert first.outcome == "loaded" and first.result is not None and first.result.completion["ran"]
        # Lots past their auction + grace: any bad file that ran completion without them would move them.
        at_risk = conn.execute(
            "SELECT count(*) FROM lots WHERE status = 'ACTIVE' AND auction_at <= %s::timestamptz - interval '2 hours'",
            (first.result.window_at,),
        ).fetchone()[0]  # type: ignore[index]
        conn.rollback()
        assert at_risk > 0, "the drill needs lots that a wrongly run completion would mark PENDING_RESULT"
        lots_at_start = _lot_digests(conn)

        # 1. the fetch path
        for case in FETCH_CASES:
            before = checksums(conn)
            body = case.body(good)
            state.serve(Answer(body, case.content_type,
                               declared_length=case.declared_length(good) if case.declared_length else None))  # fmt: skip
            n_runs = len(_runs(conn))
            try:
                run_window(s, conn=conn)
            except IngestError as e:
                text = str(e)
                recorded = _runs(conn)
                if "\n" in text or not text or len(recorded) != n_runs + 1 or recorded[-1][0] not in ("rejected", "failed"):
                    failures.append(f"fetch/{case.name}: error {text!r}, runs {recorded[n_runs:]}")
                elif case.name == "truncated_transfer" and not e.retryable:
                    failures.append(f"fetch/{case.name}: a truncated transfer should be retryable: {text}")
                elif case.name != "truncated_transfer" and e.retryable:
                    failures.append(f"fetch/{case.name}: a bad file must not be retried: {text}")
            else:
                failures.append(f"fetch/{case.name}: the window was not refused")
            if checksums(conn) != before:
                failures.append(f"fetch/{case.name}: the tables changed")
        rejected_fetch = len(FETCH_CASES)

        # 2. the command line, file by file: (name, bytes or writer, rejected?)
        env = cli_env(tmp_path, VINOPS_RAW_DIR=str(tmp_path / "cli-raw"), VINOPS_COMPLETION_GRACE="2h")
        files: list[tuple[str, Callable[[Path], None], bool]] = [
            ("empty", lambda p: p.write_bytes(b""), True),
            ("header_only", lambda p: p.write_bytes(_lines(good)[0]), True),
            ("random_bytes", lambda p: p.write_bytes(random.Random(5).randbytes(len(good))), True),
            ("lot_number_renamed", lambda p: p.write_bytes(_rename(good, b"Lot number", b"Lot #")), True),
            ("sale_date_renamed", lambda p: p.write_bytes(_rename(good, b"Sale Date M/D/CY", b"Sale Date")), True),
            ("sale_time_missing", lambda p: p.write_bytes(_rename(good, b"Sale time (HHMM)", None)), True),
            ("truncated_mid_row", lambda p: p.write_bytes(_cut_mid_row(good)), False),
            ("short_30_percent", lambda p: p.write_bytes(_short(good, 0.3)), False),
            (f"one_line_{big >> 20}_MiB", lambda p: _write_one_line(p, big, header_first=False), True),
            (f"one_row_of_{big >> 20}_MiB", lambda p: _write_one_line(p, big, header_first=True), False),
        ]
        peak: dict[str, float] = {}
        for name, write, rejected in files:
            before = checksums(conn)
            path = tmp_path / f"{name}.csv"
            write(path)
            size = path.stat().st_size
            out = run_cli(["ingest", str(path), "--json", "--database-url", db_url], env)
            path.unlink()
            err_lines = [x for x in out["stderr"].splitlines() if x.strip()]
            now = checksums(conn)
            if rejected:
                if out["returncode"] != 2 or len(err_lines) != 1 or not err_lines[0].startswith("vinops: error: "):
                    failures.append(f"cli/{name}: exit {out['returncode']}, stderr {out['stderr'][-500:]!r}")
                if now != before:
                    failures.append(f"cli/{name}: the tables changed")
            else:
                result = json.loads(out["stdout"]) if out["returncode"] == 0 else {}
                if out["returncode"] != 0 or result.get("completion", {}).get("ran") is not False:
                    failures.append(f"cli/{name}: exit {out['returncode']}, completion "
                                    f"{result.get('completion')}, stderr {out['stderr'][-500:]!r}")  # fmt: skip
                if {t: now[t] for t in LOT_TABLES} != {t: before[t] for t in LOT_TABLES}:
                    failures.append(f"cli/{name}: lots, vehicles or their history changed")
            if size >= big:
                peak[name] = round(out["peak_rss_kb"] / 1024, 1)
                # A correctness bound, not a timing: the line must not be held whole.
                if out["peak_rss_kb"] * 1024 > size / 2:
                    failures.append(f"cli/{name}: peak RSS {peak[name]} MiB for a {size >> 20} MiB line")
        runs = rejected_fetch + len(files)
        # A lot lost or changed by a bad file: its row is no longer what the good window left.
        lots_at_end = _lot_digests(conn)
        rows_lost = sum(1 for lot, digest in lots_at_start.items() if lots_at_end.get(lot) != digest)

    drill.record(runs=runs, failures=len(failures), rows_lost=rows_lost, file_mib=big >> 20,
                 peak_rss_mib=peak, fetch_cases=rejected_fetch, cli_cases=len(files))  # fmt: skip
    assert not failures and rows_lost == 0, "\n".join(failures)
