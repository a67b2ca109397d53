"""`ingest_file` and `vinops ingest` on real files: skip by SHA-256, the raw store, the CLI contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from lotrows import ingest, load, lot, lots, snapshot, source

from vinops.cli import main
from vinops.config import Settings
from vinops.db import migrations
from vinops.rawstore import LocalRawStore
from vinops.sample import write_sample

pytestmark = pytest.mark.db

CONTRACT_KEYS = {
    "file_sha256", "skipped", "rows_in", "rows_loaded", "rows_quarantined", "vehicles_inserted", "vehicles_updated",
    "lots_inserted", "lots_updated", "lots_unchanged", "lots_pending_result", "lots_not_sold", "unknown_rate", "seconds",
}  # fmt: skip


class _FakeParsed:
    """What vinops.parse.read_file returns, for batches made in the test."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        src = source(rows)
        self.reader = src.batches
        self._summary = {k: v for k, v in src.summary().items() if k != "sha256"}

    def summary(self) -> dict[str, Any]:
        return self._summary


def fake_reader(rows: list[dict[str, Any]]) -> Any:
    def read(path: Path, **_: Any) -> _FakeParsed:
        return _FakeParsed(rows)

    return read


def test_same_file_twice_is_skipped_fast_and_writes_nothing(db_url: str, settings: Settings, tmp_path: Path) -> None:
    f = tmp_path / "salesdata.csv"
    f.write_bytes(b"any bytes: the parser is replaced\n" * 1000)
    first = ingest(f, settings, database_url=db_url, read=fake_reader([lot(1), lot(2)]))
    assert first["skipped"] is False and first["lots_inserted"] == 2
    with psycopg.connect(db_url) as c:
        before = snapshot(c)
    t0 = time.perf_counter()
    second = ingest(f, settings, database_url=db_url, read=fake_reader([lot(1), lot(3)]))
    elapsed = time.perf_counter() - t0
    assert second["skipped"] is True and second["load_id"] == first["load_id"]
    assert second["file_sha256"] == first["file_sha256"]
    assert CONTRACT_KEYS <= set(second)
    assert elapsed < 0.5 and second["seconds"]["total"] < 0.5
    with psycopg.connect(db_url) as c:
        assert snapshot(c) == before


def test_original_file_is_kept_losslessly_in_the_raw_store(db_url: str, settings: Settings, tmp_path: Path) -> None:
    f = tmp_path / "salesdata.csv"
    payload = os.urandom(300_000) + b"\n\xef\xbb\xbf\r\n end"
    f.write_bytes(payload)
    r = ingest(f, settings, database_url=db_url, read=fake_reader([lot(1)]))
    assert r["raw_key"] == "copart/2025/06/02/1200.csv.zst"
    store = LocalRawStore(settings.raw_root)
    with store.open(r["raw_key"]) as stored:
        assert stored.read() == payload
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT raw_key FROM raw.csv_files").fetchone() == (r["raw_key"],)


def test_raw_store_layout_collisions_and_retention(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    store = LocalRawStore(tmp_path / "raw", compression="zstd", retention_days=7)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(b"first file\n")
    b.write_bytes(b"second file, same minute\n")
    when = datetime(2026, 1, 28, 9, 15, 42, tzinfo=timezone.utc)
    import hashlib

    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    key_a = store.put(a, when, sha(a))
    assert key_a == "copart/2026/01/28/0915.csv.zst"
    assert store.put(a, when, sha(a)) == key_a  # idempotent
    key_b = store.put(b, when, sha(b))
    assert key_b == f"copart/2026/01/28/0915-{sha(b)[:12]}.csv.zst"
    assert store.sha256(key_b) == sha(b)
    plain = LocalRawStore(tmp_path / "plain", compression="none")
    assert plain.put(a, when, sha(a)) == "copart/2026/01/28/0915.csv"
    assert (tmp_path / "plain" / "copart/2026/01/28/0915.csv").read_bytes() == a.read_bytes()
    # A file already inside the store (put there by the fetch step) is not copied again.
    assert store.put(store.path(key_a), when, sha(a)) == key_a
    old = store.path(key_a)
    os.utime(old, (time.time() - 8 * 86400, time.time() - 8 * 86400))
    assert store.prune() == [key_a]
    assert not old.exists() and store.path(key_b).exists()
    assert LocalRawStore(tmp_path / "raw", retention_days=0).prune() == []


def test_retention_marks_deleted_files(db_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", raw_dir=tmp_path / "raw", raw_retention_days=1)
    f1 = tmp_path / "one.csv"
    f1.write_bytes(b"one\n")
    r1 = ingest(f1, settings, database_url=db_url, read=fake_reader([lot(1)]))
    stored = settings.raw_root / r1["raw_key"]
    os.utime(stored, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    f2 = tmp_path / "two.csv"
    f2.write_bytes(b"two\n")
    r2 = ingest(f2, settings, database_url=db_url, read=fake_reader([lot(1), lot(2)]))
    assert r2["raw_pruned"] == 1 and not stored.exists()
    with psycopg.connect(db_url) as c:
        rows = c.execute("SELECT load_id, raw_deleted_at IS NOT NULL FROM raw.csv_files ORDER BY 1").fetchall()
    assert rows == [(r1["load_id"], True), (r2["load_id"], False)]


@pytest.fixture
def sample_csv(tmp_path: Path) -> Path:
    path = tmp_path / "salesdata.csv"
    write_sample(path, rows=300, seed=7)
    return path


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_ingest_json_on_a_real_file(
    db_url: str, sample_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VINOPS_RAW_DIR", str(tmp_path / "raw"))
    code, out, err = _cli(["ingest", str(sample_csv), "--json", "--engine", "python", "--database-url", db_url], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert CONTRACT_KEYS <= set(r)
    assert r["skipped"] is False and r["rows_in"] == 300
    assert r["rows_in"] == r["rows_loaded"] + r["rows_quarantined"]
    assert r["lots_inserted"] + r["rows_duplicate"] == r["rows_loaded"] - r["rows_refused"]
    assert {"parse", "copy", "upsert", "completion", "total"} <= set(r["seconds"])
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM lots").fetchone() == (r["lots_inserted"],)
        assert c.execute("SELECT count(*) FROM raw.quarantine").fetchone() == (r["rows_quarantined"],)
        n_sched = c.execute("SELECT count(*) FROM lots WHERE auction_at IS NOT NULL").fetchone()[0]  # type: ignore[index]
        assert n_sched > 50  # auction times are parsed and stored
    code, out, err = _cli(["ingest", str(sample_csv), "--json", "--database-url", db_url], capsys)
    assert code == 0 and json.loads(out)["skipped"] is True
    code, out, err = _cli(["ingest", str(sample_csv), "--database-url", db_url], capsys)
    assert code == 0 and out.startswith("skipped:")


def test_cli_human_summary_and_errors(
    db_url: str, sample_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VINOPS_RAW_DIR", str(tmp_path / "raw"))
    code, out, err = _cli(["ingest", str(sample_csv), "--engine", "python", "--no-completion", "--database-url", db_url], capsys)
    assert code == 0, err
    assert "lots" in out and "completion not run: completion disabled" in out
    missing = tmp_path / "nope.csv"
    code, out, err = _cli(["ingest", str(missing), "--database-url", db_url], capsys)
    assert code != 0 and out == "" and err.count("\n") == 1 and err.startswith("vinops: error:")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, out, err = _cli(["ingest", str(empty), "--engine", "python", "--database-url", db_url], capsys)
    assert code != 0 and err.count("\n") == 1 and err.startswith("vinops: error:")
    code, out, err = _cli(["ingest", str(sample_csv), "--grace", "soon", "--database-url", db_url], capsys)
    assert code == 2 and "duration" in err


def test_cli_db_migrate(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["db", "migrate", "--database-url", empty_db, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["applied"] == [m.label for m in migrations()]
    code, out, err = _cli(["db", "migrate", "--database-url", empty_db], capsys)
    assert code == 0 and "nothing to apply" in out
    code, out, err = _cli(["db", "migrate", "--database-url", "postgresql:///nowhere?host=/nonexistent"], capsys)
    assert code == 75 and err.count("\n") == 1  # a refused connection: a retry may help


def test_a_real_file_then_a_changed_one(db_url: str, tmp_path: Path, settings: Settings) -> None:
    """The parser's own output (python engine) through two windows: the second file changes some rows."""
    first = tmp_path / "w1.csv"
    write_sample(first, rows=200, seed=3)
    r1 = ingest(first, settings, database_url=db_url, engine="python")
    second = tmp_path / "w2.csv"
    lines = first.read_bytes().split(b"\n")
    header = lines[0].decode().split('","')
    hb = header.index("High Bid =non-vix,Sealed=Vix")
    lu = header.index("Last Updated Time")
    changed = 0
    for i in range(1, len(lines)):
        fields = lines[i].decode().split('","')
        if len(fields) != len(header) or i % 10:
            continue
        fields[hb] = "987654.0"
        fields[lu] = "2026-03-01T00:00:00Z"
        lines[i] = '","'.join(fields).encode()
        changed += 1
    second.write_bytes(b"\n".join(lines))
    r2 = ingest(second, settings, database_url=db_url, engine="python")
    assert r2["lots_updated"] == changed and r2["lots_inserted"] == 0
    with psycopg.connect(db_url) as c:
        n = c.execute("SELECT count(*) FROM lot_events WHERE kind = 'changed'").fetchone()[0]  # type: ignore[index]
        assert n == changed
        assert c.execute("SELECT count(*) FROM lots WHERE high_bid_cents = 98765400").fetchone() == (changed,)
    assert r1["rows_loaded"] == r2["rows_loaded"]


def test_embedded_server_just_works(tmp_path: Path) -> None:
    """No URL anywhere: `vinops ingest` starts the embedded server under VINOPS_DATA_DIR and migrates it."""
    sample = tmp_path / "s.csv"
    write_sample(sample, rows=50, seed=1)
    env = {k: v for k, v in os.environ.items() if k != "VINOPS_DATABASE_URL"}
    env["VINOPS_DATA_DIR"] = str(tmp_path / "vd")
    cmd = [sys.executable, "-c", "import sys; from vinops.cli import main; sys.exit(main())"]
    try:
        p = subprocess.run([*cmd, "ingest", str(sample), "--json", "--engine", "python"], env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["lots_inserted"] > 0
        p = subprocess.run([*cmd, "ingest", str(sample), "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0 and json.loads(p.stdout)["skipped"] is True, p.stderr
        assert (tmp_path / "vd" / "raw" / "copart").is_dir()
    finally:
        subprocess.run([*cmd, "db", "stop"], env=env, capture_output=True, timeout=120)


def test_lots_without_vin_are_stored(conn: psycopg.Connection) -> None:
    load(conn, source([lot(1, vin=None, vin_valid_iso=None, vin_check_digit_ok=None, vin_short_or_legacy=None,
                              vin_model_year=None)]), Settings(), store_raw=False)  # fmt: skip
    assert lots(conn)[1]["vin"] is None
    assert conn.execute("SELECT count(*) FROM vehicles").fetchone() == (0,)
