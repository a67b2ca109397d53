"""Shared test setup: hypothesis profiles and the real Copart material (the repository's copy in tests/data)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
#: Real samples, copied into the repository (tests/data/copart/PROVENANCE.md says from where).
COPART_DATA = REPO / "tests" / "data" / "copart"

# Fast by default; CI runs at least 2,000 examples per property; "slow" is for long local runs.
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile("ci", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=50_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

# platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); give it a private one.
os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"vinops-xdg-{os.getuid()}"))
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def copart_data() -> Path:
    if not (COPART_DATA / "README.md").is_file():
        raise RuntimeError(f"real samples not found at {COPART_DATA}: they are part of the repository")
    return COPART_DATA


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one temporary PREFECT_HOME of the session. Prefect fixes its settings (its home) when it is first
    imported, so every test that imports Prefect in this process asks for this fixture first: nothing is
    written to ~/.prefect, and two tests never disagree about the home."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return home


@pytest.fixture(scope="session")
def prefect_api(prefect_home: Path) -> Iterator[str]:
    """One Prefect API server for the whole session, shared by every flow test (tests/test_flows.py,
    tests/test_image_flows.py): ``prefect_test_harness`` (a temporary SQLite database, the API on loopback)
    under :func:`prefect_home`. Startup timeout 120 s: 20 s is typical on 2 cores."""
    home = prefect_home
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "storage"),
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from prefect.settings import (
        PREFECT_HOME,
        PREFECT_RESULTS_LOCAL_STORAGE_PATH,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    try:
        with temporary_settings(
            {PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: False,
             PREFECT_RESULTS_LOCAL_STORAGE_PATH: home / "storage"}  # fmt: skip
        ):
            with prefect_test_harness(server_startup_timeout=120):
                from prefect.settings import PREFECT_API_URL

                yield str(PREFECT_API_URL.value())
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
