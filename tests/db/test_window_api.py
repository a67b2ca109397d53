"""The window as a library call: explicit database and settings, one result shape, errors that say whether a
retry can help, rejected files, stage logs without secrets."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import psycopg
import pytest
from lotrows import lot, source
from psycopg.conninfo import make_conninfo

from vinops.config import Settings
from vinops.errors import IngestError, RejectedFile, is_retryable
from vinops.sample import write_sample
from vinops.window import WindowOptions, WindowResult, ingest_file, load_window

pytestmark = pytest.mark.db


def _counts(url: str) -> tuple[int, int, list[tuple[str, str]]]:
    with psycopg.connect(url) as c:
        files = c.execute("SELECT count(*) FROM raw.csv_files").fetchone()[0]  # type: ignore[index]
        lots = c.execute("SELECT count(*) FROM lots").fetchone()[0]  # type: ignore[index]
        errors = c.execute("SELECT stage, error FROM audit.ingest_errors ORDER BY id").fetchall()
    return files, lots, errors


def test_no_database_is_an_error_not_a_throwaway_server(tmp_path: Path, settings: Settings) -> None:
    f = tmp_path / "s.csv"
    write_sample(f, rows=10, seed=1)
    assert settings.database_url is None
    with pytest.raises(ValueError, match="no database"):
        ingest_file(f, settings)


def test_an_unreachable_database_is_retryable(tmp_path: Path, settings: Settings) -> None:
    f = tmp_path / "s.csv"
    write_sample(f, rows=10, seed=1)
    with pytest.raises(IngestError) as err:
        ingest_file(f, settings, database_url="postgresql:///vinops?host=/nonexistent&connect_timeout=2")
    assert err.value.stage == "connect" and err.value.retryable is True
    assert is_retryable(err.value)


def test_a_header_only_file_is_rejected_and_nothing_is_loaded(db_url: str, settings: Settings, tmp_path: Path) -> None:
    full = tmp_path / "full.csv"
    write_sample(full, rows=5, seed=2)
    header_only = tmp_path / "header.csv"
    header_only.write_bytes(full.read_bytes().split(b"\n")[0] + b"\n")
    with pytest.raises(RejectedFile, match="no data rows") as err:
        ingest_file(header_only, settings, database_url=db_url)
    assert err.value.retryable is False
    files, lots, errors = _counts(db_url)
    assert (files, lots) == (0, 0)
    assert [stage for stage, _ in errors] == ["copy"] and "no data rows" in errors[0][1]
    assert not (settings.raw_root / "copart").exists()  # no raw copy of a rejected file
    assert list((settings.raw_root / ".incoming").glob("*")) == []  # and no temporary one left behind


def test_random_bytes_are_rejected_with_the_reason_recorded(db_url: str, settings: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(RejectedFile) as err:
        ingest_file(junk, settings, database_url=db_url)
    assert err.value.stage == "parse" and not err.value.retryable
    files, _, errors = _counts(db_url)
    assert files == 0 and [stage for stage, _ in errors] == ["parse"]


def test_loaded_and_skipped_results_have_one_shape(db_url: str, settings: Settings, tmp_path: Path) -> None:
    f = tmp_path / "s.csv"
    write_sample(f, rows=40, seed=4)
    loaded = ingest_file(f, settings, database_url=db_url)
    assert loaded.raw_key and (settings.raw_root / loaded.raw_key).is_file()
    skipped = ingest_file(f, settings, database_url=db_url)
    assert skipped.raw_key is None and list((settings.raw_root / ".incoming").glob("*")) == []
    assert isinstance(loaded, WindowResult) and isinstance(skipped, WindowResult)
    assert (loaded.outcome, skipped.outcome) == ("loaded", "skipped")
    names = [fl.name for fl in dataclasses.fields(WindowResult)]
    assert list(loaded.to_dict()) == names == list(skipped.to_dict())
    assert skipped.load_id == loaded.load_id and skipped.file_sha256 == loaded.file_sha256
    assert skipped.rows_in == skipped.rows_loaded + skipped.rows_quarantined == 0
    assert loaded.rows_in == loaded.rows_loaded + loaded.rows_quarantined == 40
    assert "total" in skipped.seconds and skipped.source == str(f)


def test_options_are_checked_when_made() -> None:
    from datetime import datetime, timedelta

    with pytest.raises(ValueError, match="timezone"):
        WindowOptions(window_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="negative"):
        WindowOptions(grace=timedelta(hours=-1))
    with pytest.raises(ValueError, match="engine"):
        WindowOptions(engine="perl")


def test_each_stage_logs_its_figures_and_no_password(
    db_url: str, settings: Settings, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # The test server trusts local connections, so a password in the URL is accepted and ignored.
    url = make_conninfo(db_url, password="hunter2-secret")
    f = tmp_path / "s.csv"
    write_sample(f, rows=30, seed=5)
    with caplog.at_level(logging.INFO, logger="vinops"):
        result = ingest_file(f, settings, WindowOptions(store_raw=False), database_url=url)
    started = [r.stage for r in caplog.records if getattr(r, "stage", None) and not getattr(r, "done", False)]
    finished = [r.stage for r in caplog.records if getattr(r, "done", False)]
    assert started[:4] == ["lock", "register", "copy", "prepare"] and "commit" in started
    assert finished == ["lock", "register", "stage", "plan", "write", "complete"]
    staged = next(r for r in caplog.records if getattr(r, "done", False) and r.stage == "stage")
    assert staged.rows_in == 30 and staged.load_id == result.load_id and staged.seconds >= 0  # type: ignore[attr-defined]
    assert "hunter2" not in caplog.text


def test_load_window_takes_settings_explicitly(conn: psycopg.Connection) -> None:
    with pytest.raises(TypeError):
        load_window(conn, source([lot(1)]))  # type: ignore[call-arg]
