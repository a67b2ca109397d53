"""Settings of the database path, read from the environment (every one has a default).

| variable | default | meaning |
|---|---|---|
| `VINOPS_DATABASE_URL` | unset: the embedded server | PostgreSQL connection URL |
| `VINOPS_DATA_DIR` | the user's data folder (`platformdirs`) + `vinops` | embedded server, raw store |
| `VINOPS_RAW_DIR` | `$VINOPS_DATA_DIR/raw` | raw store root: files at `copart/YYYY/MM/DD/HHmm.csv[.zst]` |
| `VINOPS_RAW_COMPRESSION` | `zstd` | `zstd` or `none` |
| `VINOPS_RAW_RETENTION_DAYS` | `30` | raw files older than this many days are deleted; `0` keeps them forever |
| `VINOPS_COMPLETION_GRACE` | `2h` | time after a lot's auction before its absence makes it PENDING_RESULT |
| `VINOPS_COMPLETION_MIN_RATIO` | `0.8` | a file with fewer rows than this share of the previous complete window's rows does not run completion |
| `VINOPS_MAX_QUARANTINE_SHARE` | `0.01` | a file quarantining a larger share of its rows fails validation (no completion) |
| `VINOPS_SQL_DIR` | `vinops/sql` of the installed package | migrations, statements and `taxonomy/` |

Durations are written `90m`, `2h`, `1h30m`, `45s`, `1d` (a bare number means hours).
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

__all__ = ["Settings", "data_dir", "parse_duration", "sql_dir"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])", re.IGNORECASE)
_UNIT = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """`2h`, `90m`, `1h30m`, `45s`, `1d` or a bare number of hours → timedelta (ValueError otherwise)."""
    s = text.strip().replace(" ", "")
    if not s:
        raise ValueError("empty duration")
    try:
        return timedelta(hours=float(s))
    except ValueError:
        pass
    pos, total = 0, timedelta()
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += timedelta(**{_UNIT[m.group(2).lower()]: float(m.group(1))})
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"not a duration: {text!r} (write e.g. 2h, 90m, 1h30m)")
    return total


def sql_dir() -> Path:
    """Where migrations, statements and the taxonomy files (`taxonomy/`) live: `$VINOPS_SQL_DIR`, else the
    package data `vinops/sql` (the repository's top-level `sql/`, which the wheel ships as `vinops/sql/…`; a
    source checkout reaches it through the symlink `python/vinops/sql`)."""
    env = os.environ.get("VINOPS_SQL_DIR")
    if env:
        return Path(env)
    folder = importlib.resources.files("vinops") / "sql"
    if not isinstance(folder, Path):  # e.g. imported from a zip file: the SQL files need a real folder
        raise RuntimeError(f"vinops/sql is not a folder on disk ({folder!r}): set VINOPS_SQL_DIR")
    return folder


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$VINOPS_DATA_DIR`, else the user's data folder for vinops."""
    env = os.environ if env is None else env
    if env.get("VINOPS_DATA_DIR"):
        return Path(env["VINOPS_DATA_DIR"]).expanduser()
    import warnings

    import platformdirs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_data_dir("vinops", appauthor=False))


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name}={raw!r} must be between {lo} and {hi}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = field(default_factory=lambda: data_dir({}))
    raw_dir: Path | None = None
    raw_compression: str = "zstd"
    raw_retention_days: int = 30
    completion_grace: timedelta = timedelta(hours=2)
    completion_min_ratio: float = 0.8
    max_quarantine_share: float = 0.01

    def __post_init__(self) -> None:
        if self.raw_compression not in ("zstd", "none"):
            raise ValueError(f"raw compression must be 'zstd' or 'none', not {self.raw_compression!r}")
        if self.raw_retention_days < 0:
            raise ValueError("raw retention days must be >= 0 (0 keeps files forever)")
        if self.completion_grace < timedelta(0):
            raise ValueError("completion grace must not be negative")

    @property
    def raw_root(self) -> Path:
        return self.raw_dir if self.raw_dir is not None else self.data_dir / "raw"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from `env` (default `os.environ`); keyword arguments that are not None win."""
        env = os.environ if env is None else env
        retention = env.get("VINOPS_RAW_RETENTION_DAYS", "").strip()
        try:
            retention_days = int(retention) if retention else 30
        except ValueError:
            raise ValueError(f"VINOPS_RAW_RETENTION_DAYS={retention!r} is not a whole number of days") from None
        grace = env.get("VINOPS_COMPLETION_GRACE", "").strip()
        try:
            grace_td = parse_duration(grace) if grace else timedelta(hours=2)
        except ValueError as e:
            raise ValueError(f"VINOPS_COMPLETION_GRACE: {e}") from None
        raw_dir = env.get("VINOPS_RAW_DIR", "").strip()
        settings = cls(
            database_url=env.get("VINOPS_DATABASE_URL") or None,
            data_dir=data_dir(env),
            raw_dir=Path(raw_dir).expanduser() if raw_dir else None,
            raw_compression=(env.get("VINOPS_RAW_COMPRESSION") or "zstd").strip().lower(),
            raw_retention_days=retention_days,
            completion_grace=grace_td,
            completion_min_ratio=_float(env, "VINOPS_COMPLETION_MIN_RATIO", 0.8, 0.0, 1.0),
            max_quarantine_share=_float(env, "VINOPS_MAX_QUARANTINE_SHARE", 0.01, 0.0, 1.0),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings  # type: ignore[arg-type]
