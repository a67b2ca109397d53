"""Settings of the database path, the feed and the raw store, read from the environment (every one has a default).

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
| `VINOPS_FEED_URL` | unset | the feed's address: the tokenized `…/salesdata.cgi?authKey=KEY`, or the file's address behind the member login (**secret**) |
| `VINOPS_FEED_LOGIN_URL` | unset | member login form (login mode; needs the username and password too) |
| `VINOPS_FEED_USERNAME` | unset | member login name |
| `VINOPS_FEED_PASSWORD` | unset | member password (**secret**) |
| `VINOPS_FEED_USER_AGENT` | `vinops.fetch.DEFAULT_USER_AGENT` | the fixed User-Agent of every feed request |
| `VINOPS_FEED_REFERER` | `vinops.fetch.DEFAULT_REFERER` | the fixed Referer (`none` sends none) |
| `VINOPS_RAW_STORE` | `local` | `local` (a folder: `VINOPS_RAW_DIR`) or `s3` (a bucket: `VINOPS_S3_*`) |
| `VINOPS_S3_BUCKET` | unset (required for `s3`) | bucket name |
| `VINOPS_S3_ENDPOINT_URL` | unset: AWS | endpoint of Cloudflare R2, MinIO, … |
| `VINOPS_S3_REGION` | unset | region (`auto` for R2) |
| `VINOPS_S3_ACCESS_KEY_ID` | unset: boto3's own lookup | access key id (give both keys or neither) |
| `VINOPS_S3_SECRET_ACCESS_KEY` | unset | secret access key (**secret**) |
| `VINOPS_S3_PREFIX` | `raw` | objects are `<prefix>/copart/YYYY/MM/DD/HHmm.csv[.zst]` |
| `VINOPS_PHOTO_STORE` | `local` | lot photos: `local` (a folder: `VINOPS_PHOTO_DIR`) or `s3` (`VINOPS_PHOTO_BUCKET` with the `VINOPS_S3_*` endpoint, region and keys) |
| `VINOPS_PHOTO_DIR` | `$VINOPS_DATA_DIR/photos` | local photo store root: files at `photos/ab/cd/<sha256>.jpg` (`vinops.images.photo_key`) |
| `VINOPS_PHOTO_BUCKET` | `VINOPS_S3_BUCKET` | bucket of the photos (store `s3`) |
| `VINOPS_PHOTO_PREFIX` | empty | objects are `<prefix>/photos/ab/cd/<sha256>.jpg` |
| `VINOPS_PHOTOS_HD` | `false` | also keep the HD variant (`_hrs`, about 270 KB) of every photo |
| `VINOPS_PHOTOS_RATE` | `10` | requests per second to the lot-images API and the photo host (`vinops images`; flows use Prefect's global limit) |
| `VINOPS_PHOTOS_BURST` | `50` | burst of that token bucket |
| `VINOPS_PHOTOS_RETRY_AFTER` | `24h` | a lot checked as "no photos" or failed is asked again only after this long |
| `VINOPS_LOG_FORMAT` | `text` | log lines on stderr: `text` (human-readable) or `json` (one object a line; `vinops.logs.JsonFormatter`) |

Secrets (**secret** above, and the database URL's password) never appear in `repr(Settings)`. Flows take them
from Prefect Secret blocks first (:func:`vinops.secrets.settings_for_flow`); `from_env` reads the environment only.

Durations are written `90m`, `2h`, `1h30m`, `45s`, `1d` (a bare number means hours).
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path

__all__ = ["Settings", "data_dir", "log_format", "parse_duration", "sql_dir"]

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


def log_format(env: Mapping[str, str]) -> str:
    """`$VINOPS_LOG_FORMAT` of ``env``: `text` (the default) or `json` (ValueError otherwise)."""
    value = (env.get("VINOPS_LOG_FORMAT") or "text").strip().lower() or "text"
    if value not in ("text", "json"):
        raise ValueError(f"VINOPS_LOG_FORMAT={value!r} must be 'text' or 'json'")
    return value


def _default_user_agent() -> str:
    from vinops.fetch import DEFAULT_USER_AGENT

    return DEFAULT_USER_AGENT


def _default_referer() -> str | None:
    from vinops.fetch import DEFAULT_REFERER

    return DEFAULT_REFERER


def _text(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, stripped; None when unset or blank."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    return raw.strip()


#: Fields whose values are secrets: shown as ``***`` by ``repr`` (the database URL is shown masked).
_SECRET_FIELDS = frozenset({"feed_url", "feed_password", "s3_secret_access_key"})


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


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (true/false, 1/0, yes/no, on/off)")


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
    #: The feed (vinops.fetch): the tokenized address, or the file's address behind the member login.
    feed_url: str | None = field(default=None, repr=False)
    feed_login_url: str | None = None
    feed_username: str | None = None
    feed_password: str | None = field(default=None, repr=False)
    feed_user_agent: str = field(default_factory=_default_user_agent)
    feed_referer: str | None = field(default_factory=_default_referer)
    #: The raw store: "local" (``raw_root``) or "s3" (the ``s3_*`` fields).
    raw_store: str = "local"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = field(default=None, repr=False)
    s3_prefix: str = "raw"
    #: Lot photos (vinops.images): the store ("local": ``photo_root``; "s3": ``photo_bucket`` or ``s3_bucket``
    #: with the ``s3_*`` endpoint, region and keys), HD variants, the local rate limit, the retry interval.
    photo_store: str = "local"
    photo_dir: Path | None = None
    photo_bucket: str | None = None
    photo_prefix: str = ""
    photos_hd: bool = False
    photos_rate: float = 10.0
    photos_burst: int = 50
    photos_retry_after: timedelta = timedelta(hours=24)
    #: Log lines on stderr: "text" or "json" (vinops.logs.stderr_handler).
    log_format: str = "text"

    def __post_init__(self) -> None:
        if self.raw_compression not in ("zstd", "none"):
            raise ValueError(f"raw compression must be 'zstd' or 'none', not {self.raw_compression!r}")
        if self.raw_retention_days < 0:
            raise ValueError("raw retention days must be >= 0 (0 keeps files forever)")
        if self.completion_grace < timedelta(0):
            raise ValueError("completion grace must not be negative")
        for name, env_name in (("feed_url", "VINOPS_FEED_URL"), ("feed_login_url", "VINOPS_FEED_LOGIN_URL"),
                               ("s3_endpoint_url", "VINOPS_S3_ENDPOINT_URL")):  # fmt: skip
            value = getattr(self, name)
            if value is not None and not re.match(r"(?i)^https?://[^/\s]+", value):
                shown = "the value given" if name == "feed_url" else repr(value)
                raise ValueError(f"{env_name} must be an http:// or https:// address, not {shown}")
        login = {"VINOPS_FEED_LOGIN_URL": self.feed_login_url, "VINOPS_FEED_USERNAME": self.feed_username,
                 "VINOPS_FEED_PASSWORD": self.feed_password}  # fmt: skip
        given = [k for k, v in login.items() if v]
        if given and len(given) != len(login):
            missing = ", ".join(k for k, v in login.items() if not v)
            raise ValueError(f"the member login needs {missing} too (given: {', '.join(given)})")
        if self.feed_login_url and not self.feed_url:
            raise ValueError("the member login needs the file's address too: set VINOPS_FEED_URL")
        if not self.feed_user_agent or not self.feed_user_agent.strip():
            raise ValueError("VINOPS_FEED_USER_AGENT must not be empty")
        if self.raw_store not in ("local", "s3"):
            raise ValueError(f"VINOPS_RAW_STORE must be 'local' or 's3', not {self.raw_store!r}")
        if self.raw_store == "s3" and not self.s3_bucket:
            raise ValueError("VINOPS_RAW_STORE=s3 needs VINOPS_S3_BUCKET")
        if self.photo_store not in ("local", "s3"):
            raise ValueError(f"VINOPS_PHOTO_STORE must be 'local' or 's3', not {self.photo_store!r}")
        if self.photo_store == "s3" and not (self.photo_bucket or self.s3_bucket):
            raise ValueError("VINOPS_PHOTO_STORE=s3 needs VINOPS_PHOTO_BUCKET (or VINOPS_S3_BUCKET)")
        if not self.photos_rate > 0:
            raise ValueError(f"VINOPS_PHOTOS_RATE must be > 0, not {self.photos_rate!r}")
        if self.photos_burst < 1:
            raise ValueError(f"VINOPS_PHOTOS_BURST must be >= 1, not {self.photos_burst!r}")
        if self.photos_retry_after < timedelta(0):
            raise ValueError("VINOPS_PHOTOS_RETRY_AFTER must not be negative")
        if self.log_format not in ("text", "json"):
            raise ValueError(f"VINOPS_LOG_FORMAT must be 'text' or 'json', not {self.log_format!r}")
        if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
            raise ValueError(
                "give both VINOPS_S3_ACCESS_KEY_ID and VINOPS_S3_SECRET_ACCESS_KEY, or neither (boto3's own lookup)"
            )

    def __repr__(self) -> str:
        from vinops.logs import MASK, mask

        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value is not None:
                shown = repr(MASK)
            elif f.name == "database_url" and value is not None:
                shown = repr(mask(value))
            else:
                shown = repr(value)
            parts.append(f"{f.name}={shown}")
        return f"Settings({', '.join(parts)})"

    @property
    def has_feed(self) -> bool:
        """Whether a feed is configured (a tokenized address, or a member login with the file's address)."""
        return bool(self.feed_url)

    @property
    def raw_root(self) -> Path:
        return self.raw_dir if self.raw_dir is not None else self.data_dir / "raw"

    @property
    def photo_root(self) -> Path:
        return self.photo_dir if self.photo_dir is not None else self.data_dir / "photos"

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
        retry = env.get("VINOPS_PHOTOS_RETRY_AFTER", "").strip()
        try:
            retry_td = parse_duration(retry) if retry else timedelta(hours=24)
        except ValueError as e:
            raise ValueError(f"VINOPS_PHOTOS_RETRY_AFTER: {e}") from None
        burst = env.get("VINOPS_PHOTOS_BURST", "").strip()
        try:
            photos_burst = int(burst) if burst else 50
        except ValueError:
            raise ValueError(f"VINOPS_PHOTOS_BURST={burst!r} is not a whole number") from None
        photo_dir = env.get("VINOPS_PHOTO_DIR", "").strip()
        referer = _text(env, "VINOPS_FEED_REFERER")
        if referer is None:
            referer = _default_referer()
        elif referer.lower() == "none":
            referer = None
        from vinops.logs import add_secret

        for name in ("VINOPS_FEED_URL", "VINOPS_FEED_PASSWORD", "VINOPS_S3_SECRET_ACCESS_KEY"):
            add_secret(env.get(name))
        settings = cls(
            database_url=env.get("VINOPS_DATABASE_URL") or None,
            data_dir=data_dir(env),
            raw_dir=Path(raw_dir).expanduser() if raw_dir else None,
            raw_compression=(env.get("VINOPS_RAW_COMPRESSION") or "zstd").strip().lower(),
            raw_retention_days=retention_days,
            completion_grace=grace_td,
            completion_min_ratio=_float(env, "VINOPS_COMPLETION_MIN_RATIO", 0.8, 0.0, 1.0),
            max_quarantine_share=_float(env, "VINOPS_MAX_QUARANTINE_SHARE", 0.01, 0.0, 1.0),
            feed_url=_text(env, "VINOPS_FEED_URL"),
            feed_login_url=_text(env, "VINOPS_FEED_LOGIN_URL"),
            feed_username=_text(env, "VINOPS_FEED_USERNAME"),
            feed_password=env.get("VINOPS_FEED_PASSWORD") or None,  # a password keeps its spaces
            feed_user_agent=_text(env, "VINOPS_FEED_USER_AGENT") or _default_user_agent(),
            feed_referer=referer,
            raw_store=(_text(env, "VINOPS_RAW_STORE") or "local").lower(),
            s3_bucket=_text(env, "VINOPS_S3_BUCKET"),
            s3_endpoint_url=_text(env, "VINOPS_S3_ENDPOINT_URL"),
            s3_region=_text(env, "VINOPS_S3_REGION"),
            s3_access_key_id=_text(env, "VINOPS_S3_ACCESS_KEY_ID"),
            s3_secret_access_key=_text(env, "VINOPS_S3_SECRET_ACCESS_KEY"),
            s3_prefix=(env.get("VINOPS_S3_PREFIX") or "raw").strip(),
            photo_store=(_text(env, "VINOPS_PHOTO_STORE") or "local").lower(),
            photo_dir=Path(photo_dir).expanduser() if photo_dir else None,
            photo_bucket=_text(env, "VINOPS_PHOTO_BUCKET"),
            photo_prefix=(env.get("VINOPS_PHOTO_PREFIX") or "").strip(),
            photos_hd=_bool(env, "VINOPS_PHOTOS_HD", False),
            photos_rate=_float(env, "VINOPS_PHOTOS_RATE", 10.0, 1e-6, 1e6),
            photos_burst=photos_burst,
            photos_retry_after=retry_td,
            log_format=log_format(env),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings  # type: ignore[arg-type]
