"""Secrets without a Prefect server: the environment fallback, masking, Settings that never show a secret, and
the raw store the settings name."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vinops.config import Settings
from vinops.logs import mask
from vinops.rawstore import LocalRawStore, raw_store_from
from vinops.secrets import BLOCKS, env_name, prefect_api_url, resolve, settings_for_flow

KEY = "fk-" + secrets.token_hex(12)
PASSWORD = "pw-" + secrets.token_hex(8)
S3_SECRET = "s3-" + secrets.token_hex(16)
DB_PASSWORD = "db-" + secrets.token_hex(8)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),  # no profile there: no Prefect API
        "VINOPS_DATA_DIR": str(tmp_path / "data"),
        "VINOPS_DATABASE_URL": f"postgresql://vinops:{DB_PASSWORD}@127.0.0.1:5432/vinops",
        "VINOPS_FEED_URL": f"https://feed.example/FTPLSTDM/salesdata.cgi?authKey={KEY}",
        "VINOPS_FEED_LOGIN_URL": "https://feed.example/login",
        "VINOPS_FEED_USERNAME": "member-1",
        "VINOPS_FEED_PASSWORD": PASSWORD,
        "VINOPS_RAW_STORE": "s3",
        "VINOPS_S3_BUCKET": "vinops-raw",
        "VINOPS_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "VINOPS_S3_REGION": "auto",
        "VINOPS_S3_ACCESS_KEY_ID": "AKIATEST1234",
        "VINOPS_S3_SECRET_ACCESS_KEY": S3_SECRET,
        **extra,
    }


def test_block_names_and_env_names() -> None:
    assert env_name("vinops-feed-url") == "VINOPS_FEED_URL"
    assert env_name("vinops-database-url") == "VINOPS_DATABASE_URL"
    assert env_name("vinops-feed-password") == "VINOPS_FEED_PASSWORD"
    assert env_name("vinops-s3-secret-access-key") == "VINOPS_S3_SECRET_ACCESS_KEY"
    assert env_name("vinops-other-thing") == "VINOPS_OTHER_THING"
    assert {"vinops-database-url", "vinops-feed-url", "vinops-feed-password", "vinops-s3-secret-access-key"} <= set(BLOCKS)
    import vinops.secrets

    for name in BLOCKS:  # every block is documented in the module's table
        assert f"`{name}`" in (vinops.secrets.__doc__ or "")


def test_resolve_falls_back_to_env_and_registers_the_value(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert prefect_api_url(env) is None
    assert resolve("vinops-feed-url", env) == env["VINOPS_FEED_URL"]
    assert resolve("vinops-feed-password", env) == PASSWORD
    assert resolve("vinops-nothing-here", env) is None
    assert resolve("vinops-feed-url", {}) is None
    # registered: masked wherever it appears
    assert mask(f"login with {PASSWORD} failed") == "login with *** failed"
    assert KEY not in mask(f"GET {env['VINOPS_FEED_URL']}")


def test_settings_for_flow_from_env(tmp_path: Path) -> None:
    s = settings_for_flow(_env(tmp_path))
    assert s.feed_url and KEY in s.feed_url and s.feed_password == PASSWORD
    assert s.feed_login_url == "https://feed.example/login" and s.feed_username == "member-1"
    assert s.database_url and DB_PASSWORD in s.database_url
    assert (s.raw_store, s.s3_bucket, s.s3_region, s.s3_prefix) == ("s3", "vinops-raw", "auto", "raw")
    assert s.s3_secret_access_key == S3_SECRET and s.s3_access_key_id == "AKIATEST1234"
    shown = repr(s)
    for secret in (KEY, PASSWORD, S3_SECRET, DB_PASSWORD):
        assert secret not in shown
    assert "feed_url='***'" in shown and "s3_secret_access_key='***'" in shown and "feed_password='***'" in shown
    assert "raw_store='s3'" in shown and "feed_username='member-1'" in shown


def test_settings_defaults_and_validation(tmp_path: Path) -> None:
    from vinops.fetch import DEFAULT_REFERER, DEFAULT_USER_AGENT

    s = Settings.from_env({"VINOPS_DATA_DIR": str(tmp_path)})
    assert s.feed_url is None and s.raw_store == "local" and s.s3_prefix == "raw"
    assert (s.feed_user_agent, s.feed_referer) == (DEFAULT_USER_AGENT, DEFAULT_REFERER)
    assert Settings().feed_user_agent == DEFAULT_USER_AGENT
    assert Settings.from_env({"VINOPS_FEED_REFERER": "none"}).feed_referer is None
    assert Settings.from_env({"VINOPS_FEED_USER_AGENT": "vinops/1"}).feed_user_agent == "vinops/1"
    with pytest.raises(ValueError, match="VINOPS_RAW_STORE must be 'local' or 's3'"):
        Settings.from_env({"VINOPS_RAW_STORE": "ftp"})
    with pytest.raises(ValueError, match="needs VINOPS_S3_BUCKET"):
        Settings.from_env({"VINOPS_RAW_STORE": "s3"})
    with pytest.raises(ValueError, match="both VINOPS_S3_ACCESS_KEY_ID and VINOPS_S3_SECRET_ACCESS_KEY"):
        Settings(s3_access_key_id="AKIA")
    with pytest.raises(ValueError, match="needs VINOPS_FEED_PASSWORD"):
        Settings(feed_url="https://f.example/x.csv", feed_login_url="https://f.example/login", feed_username="u")
    with pytest.raises(ValueError, match="needs the file's address"):
        Settings(feed_login_url="https://f.example/login", feed_username="u", feed_password="p4ssword")
    with pytest.raises(ValueError, match="VINOPS_FEED_URL must be an http") as info:
        Settings(feed_url=f"ftp://feed.example/?authKey={KEY}")
    assert KEY not in str(info.value)


def test_raw_store_from(tmp_path: Path) -> None:
    local = raw_store_from(Settings(data_dir=tmp_path, raw_compression="none", raw_retention_days=3))
    assert isinstance(local, LocalRawStore)
    assert (local.root, local.compression, local.retention_days) == (tmp_path / "raw", "none", 3)
    # S3RawStore imports prefect-aws (hence Prefect, which fixes its home when first imported): a child process
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    env.update(_env(tmp_path, VINOPS_S3_PREFIX="feeds"), HOME=str(tmp_path))
    code = (
        "from vinops.rawstore import S3RawStore, raw_store_from\n"
        "from vinops.secrets import settings_for_flow\n"
        "s3 = raw_store_from(settings_for_flow())\n"
        "assert isinstance(s3, S3RawStore)\n"
        "assert (s3.bucket_name, s3.prefix, s3.compression) == ('vinops-raw', 'feeds', 'zstd'), repr(s3)\n"
        "print(repr(s3))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "S3RawStore(bucket='vinops-raw'" in out.stdout and S3_SECRET not in out.stdout + out.stderr


def test_profile_api_url_is_read_without_prefect(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "remote"\n[profiles.remote]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n[profiles.ephemeral]\n'
    )
    assert prefect_api_url({"PREFECT_HOME": str(home)}) == "http://127.0.0.1:4200/api"
    assert prefect_api_url({"PREFECT_HOME": str(home), "PREFECT_PROFILE": "ephemeral"}) is None
    assert prefect_api_url({"PREFECT_API_URL": "http://10.0.0.1/api"}) == "http://10.0.0.1/api"


def test_no_prefect_import_without_an_api(tmp_path: Path) -> None:
    """Importing vinops.secrets and resolving without a configured API neither imports Prefect nor starts its
    ephemeral server; it reads the environment at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), HOME=str(tmp_path), VINOPS_FEED_URL=f"https://f.example/?authKey={KEY}")
    code = (
        "import sys, time\n"
        "t = time.monotonic()\n"
        "from vinops.secrets import resolve, settings_for_flow\n"
        "assert resolve('vinops-feed-url') is not None\n"
        "s = settings_for_flow()\n"
        "assert s.feed_url and s.database_url is None\n"
        "assert 'prefect' not in sys.modules, sorted(m for m in sys.modules if m.startswith('prefect'))\n"
        "print(round(time.monotonic() - t, 2))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) < 10


def test_unreachable_api_falls_back_to_env(tmp_path: Path) -> None:
    """A configured but unreachable Prefect API: the environment is used, with one masked warning."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
               VINOPS_FEED_URL=f"https://f.example/?authKey={KEY}", VINOPS_FEED_PASSWORD=PASSWORD,
               VINOPS_FEED_LOGIN_URL="https://f.example/login", VINOPS_FEED_USERNAME="member-1")  # fmt: skip
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "from vinops.secrets import settings_for_flow\n"
        "s = settings_for_flow()\n"
        "assert s.feed_password and s.feed_url\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert out.stderr.count("could not read Secret block") == 1, out.stderr
    assert KEY not in out.stderr and PASSWORD not in out.stderr


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A real Prefect server on loopback (temporary PREFECT_HOME); yields its API URL and an environment for it."""
    import time
    import urllib.request

    home = tmp_path_factory.mktemp("prefect-home")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false",
               PREFECT_LOGGING_LEVEL="WARNING")  # fmt: skip
    prefect = Path(sys.executable).with_name("prefect")
    log = (home / "server.log").open("wb")
    server = subprocess.Popen([str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield api, {**env, "PREFECT_API_URL": api}
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()


def test_blocks_win_over_env(prefect_api: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """With a Prefect API configured, a Secret block wins over its environment variable; a missing block falls
    back to the environment; the values are masked in logs."""
    api, env = prefect_api
    block_key = "bk-" + secrets.token_hex(10)
    env = {**env, "VINOPS_DATA_DIR": str(tmp_path), "VINOPS_FEED_URL": f"https://env.example/?authKey={KEY}",
           "VINOPS_FEED_PASSWORD": "env-password", "VINOPS_FEED_LOGIN_URL": "https://f.example/login",
           "VINOPS_FEED_USERNAME": "member-1"}  # fmt: skip
    code = (
        "import logging, sys\n"
        "from prefect.blocks.system import Secret\n"
        f"Secret(value='https://block.example/salesdata.cgi?authKey={block_key}').save('vinops-feed-url', overwrite=True)\n"
        f"Secret(value='{PASSWORD}').save('vinops-feed-password', overwrite=True)\n"
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
        "from vinops.logs import mask\n"
        "from vinops.secrets import resolve, settings_for_flow\n"
        "s = settings_for_flow()\n"
        f"assert s.feed_url == 'https://block.example/salesdata.cgi?authKey={block_key}', 'block wins'\n"
        f"assert s.feed_password == '{PASSWORD}'\n"
        "assert s.feed_username == 'member-1'  # no block: the environment\n"
        "assert resolve('vinops-database-url') is None\n"
        "print(mask(s.feed_url), mask(s.feed_password), repr(s))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    url, password, shown = out.stdout.split(" ", 2)
    assert (url, password) == ("***", "***")  # registered: masked wherever they would be logged
    assert block_key not in shown and PASSWORD not in shown
    assert block_key not in out.stderr and PASSWORD not in out.stderr
    assert "could not read Secret block" not in out.stderr
