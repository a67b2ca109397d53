"""What an installed package needs beside its code: the SQL files as package data, the zone table from the
extension, and no migrations folder silently taken as "nothing to apply". (scripts/wheel_check.sh installs
the wheel into a fresh environment and runs the commands from another folder.)"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

import pytest

import vinops
from vinops import _core, taxonomy
from vinops.config import sql_dir
from vinops.db import MigrationError, migrations

REPO = Path(__file__).resolve().parents[1]


def test_sql_files_are_package_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VINOPS_SQL_DIR", raising=False)
    folder = sql_dir()
    assert folder == importlib.resources.files("vinops") / "sql"
    assert folder.parent.resolve() == Path(vinops.__file__).resolve().parent
    # Every file of the repository's sql/ is there, with the same bytes (a checkout reaches it by a symlink).
    files = sorted(p.relative_to(REPO / "sql") for p in (REPO / "sql").rglob("*") if p.is_file())
    assert Path("migrations/0001_init.sql") in files and Path("taxonomy/terms.csv") in files
    for name in files:
        assert (folder / name).read_bytes() == (REPO / "sql" / name).read_bytes(), name
    assert taxonomy.default_directory() == folder / "taxonomy"
    assert [m.path.parent for m in migrations()] == [folder / "migrations"] * len(migrations())


def test_sql_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VINOPS_SQL_DIR", str(tmp_path))
    assert sql_dir() == tmp_path
    assert taxonomy.default_directory() == tmp_path / "taxonomy"


def test_no_migration_files_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(MigrationError, match=re.escape(str(missing / "migrations"))):
        migrations(missing)
    (tmp_path / "migrations").mkdir()
    with pytest.raises(MigrationError, match=re.escape(str(tmp_path / "migrations"))):
        migrations(tmp_path)
    (tmp_path / "migrations" / "README.md").write_text("not a migration\n")
    with pytest.raises(MigrationError, match="no migration files"):
        migrations(tmp_path)
    # The default folder comes from VINOPS_SQL_DIR too: a wrong one is an error, not "nothing to apply".
    monkeypatch.setenv("VINOPS_SQL_DIR", str(missing))
    with pytest.raises(MigrationError, match=re.escape(str(missing / "migrations"))):
        migrations()


def test_zone_table_comes_from_the_extension() -> None:
    # One table: the crate compiles vinops_core/data/zones.csv in, and Python reads it from the extension.
    # Its bytes are part of record_seed's fingerprint (vinops.parse.record_seed), so they must not change.
    table = (REPO / "vinops_core" / "data" / "zones.csv").read_bytes()
    assert _core.zones_csv().encode() == table
    assert table.startswith(b"kind,key,zone,note\n")
    assert not list((REPO / "python").rglob("zones.csv"))
