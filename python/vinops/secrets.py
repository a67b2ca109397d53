"""Secrets for flows: Prefect Secret blocks first, the environment second, never code or ``prefect.yaml``.

| Secret block (type ``secret``) | environment variable | what |
|---|---|---|
| `vinops-database-url` | `VINOPS_DATABASE_URL` | PostgreSQL connection URL (with its password) |
| `vinops-feed-url` | `VINOPS_FEED_URL` | the tokenized feed address `…/salesdata.cgi?authKey=KEY` (or the file's address behind the login) |
| `vinops-feed-username` | `VINOPS_FEED_USERNAME` | member login name (plain env is fine) |
| `vinops-feed-password` | `VINOPS_FEED_PASSWORD` | member password |
| `vinops-s3-access-key-id` | `VINOPS_S3_ACCESS_KEY_ID` | S3 / R2 / MinIO access key id (plain env is fine) |
| `vinops-s3-secret-access-key` | `VINOPS_S3_SECRET_ACCESS_KEY` | S3 / R2 / MinIO secret access key |

Any other name follows the same rule: ``vinops-x-y`` ↔ ``VINOPS_X_Y``. Create a block with
``prefect block create secret`` in the UI, or in Python: ``Secret(value="…").save("vinops-feed-url")``.

:func:`resolve` asks Prefect only when a Prefect API is configured: ``PREFECT_API_URL`` in the environment,
in Prefect's current settings (when Prefect is already imported) or in the active profile of
``$PREFECT_HOME/profiles.toml``. Without one it never imports Prefect and never starts Prefect's ephemeral
server: it reads the environment at once (a laptop, ``vinops run``, the tests). A block that does not exist
falls back to the environment too; an API that cannot be reached is logged (masked) once and the environment
is used for the rest of the lookup. Every value found is registered with :func:`vinops.logs.add_secret`, so it
is masked wherever it would be logged.

Importing this module does not import Prefect.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vinops.config import Settings
from vinops.logs import add_secret, mask

__all__ = ["BLOCKS", "env_name", "prefect_api_url", "resolve", "settings_for_flow"]

log = logging.getLogger(__name__)

#: Secret block name → environment variable (the fallback). ``settings_for_flow`` resolves each of them.
BLOCKS: dict[str, str] = {
    "vinops-database-url": "VINOPS_DATABASE_URL",
    "vinops-feed-url": "VINOPS_FEED_URL",
    "vinops-feed-username": "VINOPS_FEED_USERNAME",
    "vinops-feed-password": "VINOPS_FEED_PASSWORD",
    "vinops-s3-access-key-id": "VINOPS_S3_ACCESS_KEY_ID",
    "vinops-s3-secret-access-key": "VINOPS_S3_SECRET_ACCESS_KEY",
}


def env_name(name: str) -> str:
    """The environment variable standing in for the block ``name`` (``vinops-feed-url`` → ``VINOPS_FEED_URL``)."""
    return BLOCKS.get(name) or name.strip().upper().replace("-", "_").replace(".", "_")


def _profile_api_url(env: Mapping[str, str]) -> str | None:
    """``PREFECT_API_URL`` of the active profile in ``profiles.toml`` (read as a file: Prefect is not imported)."""
    import tomllib

    path_text = env.get("PREFECT_PROFILES_PATH")
    if path_text:
        path = Path(path_text).expanduser()
    else:
        home = env.get("PREFECT_HOME")
        path = (Path(home).expanduser() if home else Path.home() / ".prefect") / "profiles.toml"
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return None
    active = env.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = (data.get("profiles") or {}).get(active) or {}
    url = profile.get("PREFECT_API_URL")
    return str(url) if url else None


def prefect_api_url(env: Mapping[str, str] | None = None) -> str | None:
    """The Prefect API this process would talk to, or None (no server configured: blocks are not tried).

    With ``env`` given, only ``env`` is consulted (its ``PREFECT_API_URL``, else the profile file that its
    ``PREFECT_HOME`` / ``PREFECT_PROFILES_PATH`` names); with the process environment, also Prefect's current
    settings when Prefect is already imported, and the user's ``~/.prefect/profiles.toml``."""
    explicit = env is not None
    env = os.environ if env is None else env
    url = (env.get("PREFECT_API_URL") or "").strip()
    if url:
        return url
    if not explicit and "prefect" in sys.modules:
        try:
            from prefect.settings import get_current_settings

            current = get_current_settings().api.url
            return str(current) if current else None
        except Exception:  # noqa: BLE001 - an unexpected settings layout: decide from the profile file
            log.debug("could not read Prefect's settings", exc_info=True)
    if explicit and not (env.get("PREFECT_HOME") or env.get("PREFECT_PROFILES_PATH")):
        return None
    return _profile_api_url(env)


class _BlockUnavailable(Exception):
    pass


@dataclass
class _Blocks:
    """Reads Secret blocks from one API; after one failure to reach it, the rest of a lookup uses the env."""

    api_url: str | None
    broken: bool = False

    def read(self, name: str) -> str | None:
        if self.api_url is None or self.broken:
            return None
        try:
            return _read_block(name, self.api_url)
        except _BlockUnavailable:
            return None
        except Exception as e:  # noqa: BLE001 - an unreachable API must not stop the window: env instead
            self.broken = True
            log.warning("Prefect API %s: could not read Secret block %r (%s: %s); using the environment",
                        mask(self.api_url), name, type(e).__name__, mask(" ".join(str(e).split())[:300]))  # fmt: skip
            return None


def _read_block(name: str, api_url: str) -> str | None:
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    def load() -> Any:
        try:
            return Secret.load(name, _sync=True)
        except ValueError as e:
            if "Unable to find block document" in str(e):
                raise _BlockUnavailable(name) from None
            raise

    current = get_current_settings().api.url
    if current and str(current).rstrip("/") == api_url.rstrip("/"):
        block = load()
    else:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            block = load()
    value = block.get()
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _resolve(name: str, env: Mapping[str, str], blocks: _Blocks) -> str | None:
    value = blocks.read(name)
    origin = "Secret block"
    if value is None or value == "":
        value = env.get(env_name(name)) or None
        origin = "environment"
    if value is not None:
        add_secret(value)
        log.debug("secret %s: from the %s", name, origin)
    return value


def resolve(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of the Prefect Secret block ``name`` when a Prefect API is configured and the block exists,
    else the environment variable :func:`env_name` gives (``env``, default ``os.environ``), else None. A value
    found is registered with :func:`vinops.logs.add_secret`."""
    env = os.environ if env is None else env
    explicit = env is not os.environ
    return _resolve(name, env, _Blocks(prefect_api_url(env if explicit else None)))


def settings_for_flow(env: Mapping[str, str] | None = None, names: Iterable[str] | None = None) -> Settings:
    """:meth:`Settings.from_env` with every secret of :data:`BLOCKS` (or of ``names``) taken from its Secret
    block when there is one (blocks win over the environment), else from the environment."""
    env = os.environ if env is None else env
    explicit = env is not os.environ
    blocks = _Blocks(prefect_api_url(env if explicit else None))
    merged = dict(env)
    for name in BLOCKS if names is None else names:
        value = _resolve(name, env, blocks)
        if value is not None:
            merged[env_name(name)] = value
    return Settings.from_env(merged)
