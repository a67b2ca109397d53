"""The command line's database: the URL it resolves (the embedded server only when none is given, migrated
automatically only there) and the exit codes of `vinops db` against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from vinops.cli import main
from vinops.db import migrations

pytestmark = pytest.mark.db


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_url_is_never_migrated_implicitly(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["taxonomy", "unknown", "--database-url", empty_db], capsys)
    assert code == 1 and "vinops db migrate" in err
    with psycopg.connect(empty_db) as c:
        assert c.execute("SELECT to_regclass('public.vinops_migrations')").fetchone() == (None,)


def test_the_embedded_server_is_the_cli_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VINOPS_DATABASE_URL", raising=False)
    monkeypatch.setenv("VINOPS_DATA_DIR", str(tmp_path / "data"))
    try:
        code, out, err = _cli(["db", "url"], capsys)  # starts the server, does not migrate
        assert code == 0, err
        url = out.strip()
        assert str(tmp_path / "data" / "pg18") in url
        with psycopg.connect(url) as c:
            assert c.execute("SELECT to_regclass('public.vinops_migrations')").fetchone() == (None,)
        code, out, err = _cli(["taxonomy", "unknown", "--json", "-v"], capsys)  # migrates the embedded one
        assert code == 0 and json.loads(out) == [], err
        assert "embedded PostgreSQL" in err and "migrated the embedded database" in err
        code, out, err = _cli(["db", "migrate", "--json"], capsys)
        assert code == 0 and json.loads(out)["applied"] == [] and json.loads(out)["version"] == len(migrations())
    finally:
        code, out, err = _cli(["db", "stop"], capsys)
    assert (code, err) == (0, "stopped the embedded server\n")
    assert _cli(["db", "stop"], capsys) == (0, "", "the embedded server is not running\n")
