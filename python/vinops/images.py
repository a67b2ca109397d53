"""Lot photos: the lot-images API → a content-addressed photo store → ``images`` rows.

The key scheme (the ONE scheme, used by the writer here and by every reader, the site included)::

    photo_key(sha256, ext) == f"photos/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"
    e.g. photos/3f/a9/3fa9…c2.jpg    (sha256: 64 lower-case hex digits of the photo's bytes; ext: jpg, png, webp)

The key names the bytes, not the lot: a photo shared by two lots is stored once, a photo already under its key
is never uploaded again, and a key never changes meaning. ``images.storage_key`` holds exactly this key. Where
it lives: a :class:`LocalPhotoStore` keeps it at ``<root>/<key>`` (``VINOPS_PHOTO_DIR``, default
``$VINOPS_DATA_DIR/photos``); an :class:`S3PhotoStore` at the object ``<bucket_folder>/<prefix>/<key>`` of its
bucket (``VINOPS_PHOTO_PREFIX``, default empty), with ``Content-Type`` ``image/jpeg`` and a year's immutable
``Cache-Control``. :meth:`PhotoStore.url_or_path` turns a key into the path or address to read.

Fetching (:func:`fetch_photos`): for each lot, its ``Image URL`` (the lot-images JSON endpoint; redirects are
followed) answers ``{"imgCount": N, "lotImages": [{"sequence": 1, "link": [{"url": "… ", "isThumbNail": …,
"isHdImage": …}]}]}``. URLs are trimmed; per sequence ``_ful`` and ``_thb`` are kept (``_hrs`` too with
``photos_hd``; a sequence offered only in HD, ``_hrs`` or else ``_vhrs``, keeps that as its ``hrs`` so no
sequence is lost); sound and video (sequences ≥ 90, ``.mp4``) are skipped. Every request first takes a token
from the limiter (:class:`TokenBucket` locally, Prefect's global ``rate_limit`` in the flows); 429 (with its
``Retry-After``), 5xx and network errors are retried with backoff a few times, then the lot is recorded as
failed. A 404 or an empty list is "no photos". Every lot asked ends with one ``photo_checks`` row (``photos``,
``none``, ``failed`` + reason); :func:`lots_needing_photos` asks a ``none``/``failed`` lot again only after
``retry_after``. A (lot, seq, variant) already in ``images`` is not downloaded again.

Importing this module does not import Prefect: :class:`S3PhotoStore` imports ``prefect_aws`` when it is built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from vinops.fetch import DEFAULT_USER_AGENT, FetchError, parse_retry_after, retry_delay
from vinops.logs import mask

if TYPE_CHECKING:
    import psycopg
    from prefect_aws import S3Bucket

    from vinops.config import Settings

__all__ = [
    "LocalPhotoStore",
    "LotPhotoRef",
    "PhotoStats",
    "PhotoStore",
    "S3PhotoStore",
    "TokenBucket",
    "content_type_for",
    "fetch_photos",
    "jpeg_size",
    "lots_needing_photos",
    "photo_key",
    "photo_store_from",
    "select_photos",
]

log = logging.getLogger(__name__)

KEY_PREFIX = "photos"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^[a-z0-9]{1,5}$")
_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
#: Sequences from this number up are sound or video.
MEDIA_SEQUENCE = 90
_SUFFIX = re.compile(r"_(thb|ful|hrs|vhrs)\.(jpe?g|png|webp)$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------------------
# keys and stores


def photo_key(sha256: str, ext: str) -> str:
    """The storage key of a photo: ``photos/<sha[:2]>/<sha[2:4]>/<sha>.<ext>`` (``ext`` lower-case without
    its dot; ``jpeg`` is written ``jpg``). The same function for writer and reader."""
    sha = sha256.strip().lower()
    if not _SHA.match(sha):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    e = ext.strip().lower().lstrip(".")
    if e == "jpeg":
        e = "jpg"
    if not _EXT.match(e):
        raise ValueError(f"not a file extension: {ext!r}")
    return f"{KEY_PREFIX}/{sha[:2]}/{sha[2:4]}/{sha}.{e}"


def content_type_for(key_or_ext: str) -> str:
    """``image/jpeg`` for ``….jpg`` (and the other image types), else ``application/octet-stream``."""
    ext = key_or_ext.rsplit(".", 1)[-1].lower()
    return _CONTENT_TYPES.get("jpg" if ext == "jpeg" else ext, "application/octet-stream")


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a photo key: {key!r}")
    return key


@runtime_checkable
class PhotoStore(Protocol):
    """Where photos live, by key (:func:`photo_key`)."""

    def exists(self, key: str) -> bool: ...

    def put(self, data: bytes | Path, key: str, content_type: str) -> None: ...

    def url_or_path(self, key: str) -> str | Path: ...


class LocalPhotoStore:
    """Photos in a folder: the key is the path under ``root``. A photo is written to a temporary file in its
    folder and renamed, so a key never names a partial file."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalPhotoStore({str(self.root)!r})"

    def url_or_path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def exists(self, key: str) -> bool:
        return self.url_or_path(key).is_file()

    def put(self, data: bytes | Path, key: str, content_type: str = "image/jpeg") -> None:
        target = self.url_or_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        body = Path(data).read_bytes() if isinstance(data, (str, Path)) else bytes(data)
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class S3PhotoStore:
    """Photos in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO) through prefect-aws: the object of key
    ``k`` is ``<bucket_folder>/<prefix>/k``. Built from plain arguments (``S3PhotoStore("vinops-photos",
    endpoint_url="https://<account>.r2.cloudflarestorage.com", region="auto", access_key_id=…,
    secret_access_key=…)``) or from a ``prefect_aws.S3Bucket`` block. ``public_base_url``: the address the
    bucket is served at (a CDN, R2's public bucket URL); :meth:`url_or_path` then returns
    ``<public_base_url>/<object>``, else ``s3://bucket/<object>``. Objects carry ``Content-Type``, the SHA-256
    in their metadata and ``Cache-Control: public, max-age=31536000, immutable`` (a key never changes)."""

    def __init__(
        self,
        bucket: str | S3Bucket,
        *,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        prefix: str = "",
        public_base_url: str | None = None,
        client_config: dict[str, Any] | None = None,
    ) -> None:
        from vinops.rawstore import s3_bucket

        self.bucket: S3Bucket = s3_bucket(
            bucket, endpoint_url=endpoint_url, access_key_id=access_key_id, secret_access_key=secret_access_key,
            region=region, client_config=client_config, owner="S3PhotoStore",
        )  # fmt: skip
        self.prefix = prefix.strip("/")
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._client_cache: Any = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3PhotoStore(bucket={self.bucket_name!r}, prefix={self.prefix!r})"

    @property
    def bucket_name(self) -> str:
        return str(self.bucket.bucket_name)

    def object_key(self, key: str) -> str:
        parts = [self.bucket.bucket_folder or "", self.prefix, _check_key(key)]
        return "/".join(p.strip("/") for p in parts if p and p.strip("/"))

    def url_or_path(self, key: str) -> str:
        if self.public_base_url:
            return f"{self.public_base_url}/{self.object_key(key)}"
        return f"s3://{self.bucket_name}/{self.object_key(key)}"

    @property
    def _client(self) -> Any:
        with self._client_lock:  # boto3 clients are thread-safe; creating one is not
            if self._client_cache is None:
                self._client_cache = self.bucket.credentials.get_s3_client()
            return self._client_cache

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket_name, Key=self.object_key(key))
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code"))
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("404", "NoSuchKey", "NotFound") or status == 404:
                return False
            raise OSError(mask(f"photo store: HEAD {self.url_or_path(key)} failed: {e}")) from None
        return True

    def put(self, data: bytes | Path, key: str, content_type: str = "image/jpeg") -> None:
        body = Path(data).read_bytes() if isinstance(data, (str, Path)) else bytes(data)
        try:
            self._client.put_object(
                Bucket=self.bucket_name,
                Key=self.object_key(key),
                Body=body,
                ContentType=content_type,
                CacheControl="public, max-age=31536000, immutable",
                Metadata={"sha256": hashlib.sha256(body).hexdigest()},
            )
        except Exception as e:  # noqa: BLE001 - botocore's errors, masked
            raise OSError(mask(f"photo store: PUT {self.url_or_path(key)} failed: {type(e).__name__}: {e}")) from None


def photo_store_from(settings: Settings) -> PhotoStore:
    """The photo store the settings name: a :class:`LocalPhotoStore` at ``settings.photo_root``, or an
    :class:`S3PhotoStore` in ``photo_bucket`` (else ``s3_bucket``) with the ``s3_*`` endpoint, region and keys
    and ``photo_prefix``."""
    if settings.photo_store == "s3":
        bucket = settings.photo_bucket or settings.s3_bucket
        if not bucket:
            raise ValueError("photo store 's3' needs a bucket (VINOPS_PHOTO_BUCKET or VINOPS_S3_BUCKET)")
        return S3PhotoStore(
            bucket,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            region=settings.s3_region,
            prefix=settings.photo_prefix,
        )
    if settings.photo_store != "local":
        raise ValueError(f"unknown photo store {settings.photo_store!r} (choose 'local' or 's3')")
    return LocalPhotoStore(settings.photo_root)


# ---------------------------------------------------------------------------------------------------------
# the local rate limit


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up (it starts full). :meth:`acquire` takes ``n``
    tokens, sleeping until they are there; thread-safe and first come, first served (a caller reserves its
    tokens, the balance may go negative, and it sleeps off its own debt). ``clock``/``sleep`` are injectable."""

    def __init__(
        self,
        rate: float = 10.0,
        burst: int = 50,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, not {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, not {burst!r}")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, burst={self.burst})"

    def acquire(self, n: int = 1) -> float:
        """Take ``n`` tokens; returns the seconds waited."""
        if n < 1:
            return 0.0
        if n > self.burst:
            raise ValueError(f"cannot take {n} tokens at once from a bucket of {self.burst}")
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


# ---------------------------------------------------------------------------------------------------------
# JPEG size


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF marker (baseline, progressive, lossless), or None when the bytes are
    not a JPEG or no frame header comes before the scan. Reads only the headers."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return (width, height) if width > 0 and height > 0 else None
        i += 2 + length
    return None


# ---------------------------------------------------------------------------------------------------------
# which lots, which photos


@dataclass(frozen=True)
class LotPhotoRef:
    lot_number: int
    image_url: str
    auction_at: datetime | None = None


_NEEDING = """
SELECT l.lot_number, btrim(l.image_url) AS image_url, l.auction_at
FROM lots l
LEFT JOIN photo_checks c ON c.lot_number = l.lot_number
WHERE l.status = 'ACTIVE'
  AND l.image_url IS NOT NULL AND btrim(l.image_url) <> ''
  AND (c.lot_number IS NULL OR c.checked_at <= %(now)s - %(retry)s)
  AND (c.outcome = 'failed' OR NOT EXISTS (SELECT 1 FROM images i WHERE i.lot_number = l.lot_number))
ORDER BY (%(load_id)s::bigint IS NOT NULL AND l.load_id = %(load_id)s
          AND l.first_seen_at >= (SELECT f.window_at FROM raw.csv_files f WHERE f.load_id = %(load_id)s)) DESC,
         (%(load_id)s::bigint IS NOT NULL AND l.load_id = %(load_id)s) DESC,
         l.auction_at DESC NULLS LAST, l.lot_number DESC
LIMIT %(limit)s
"""


def lots_needing_photos(
    conn: psycopg.Connection,
    *,
    load_id: int | None = None,
    limit: int = 500,
    retry_after: timedelta = timedelta(hours=24),
    now: datetime | None = None,
) -> list[LotPhotoRef]:
    """ACTIVE lots with an ``Image URL`` and no stored photo (or whose newest check failed), at most ``limit``:
    the lots new in window ``load_id`` first (first listed by that window), then the other lots that window
    changed, then the newest auction first. A lot checked (``none`` or ``failed``) less than ``retry_after``
    before ``now`` (default the database's ``now()``) is left out."""
    if limit <= 0:
        return []
    params = {"load_id": load_id, "limit": limit, "retry": retry_after}
    if now is None:
        sql = _NEEDING.replace("%(now)s", "now()")
    else:
        sql, params["now"] = _NEEDING, now
    rows = conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
    return [LotPhotoRef(int(r[0]), str(r[1]), r[2]) for r in rows]


@dataclass(frozen=True)
class PhotoLink:
    seq: int
    variant: str  # ful | thb | hrs
    url: str
    ext: str


def _variant_of(link: dict[str, Any], url: str) -> str | None:
    m = _SUFFIX.search(url.split("?", 1)[0])
    if m:
        return m.group(1).lower()
    if url.lower().split("?", 1)[0].endswith((".mp4", ".mov", ".webm", ".mp3", ".m4a", ".wav")):
        return None
    if link.get("isThumbNail"):
        return "thb"
    if link.get("isHdImage"):
        return "hrs"
    return "ful"


def select_photos(answer: Any, *, hd: bool = False) -> list[PhotoLink]:
    """The photos to keep from one lot-images answer: per sequence (below 90) its ``_ful`` and ``_thb`` (and
    ``_hrs`` with ``hd``); a sequence offered only in HD keeps its ``_hrs`` (else ``_vhrs``) as ``hrs``. URLs
    trimmed; videos and sound left out. Raises ValueError on an answer of the wrong shape."""
    if not isinstance(answer, dict):
        raise ValueError("the lot-images answer is not a JSON object")
    images = answer.get("lotImages") or []
    if not isinstance(images, list):
        raise ValueError("lotImages is not a list")
    by_seq: dict[int, dict[str, str]] = {}
    for item in images:
        if not isinstance(item, dict):
            continue
        try:
            seq = int(item.get("sequence"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if seq < 0 or seq >= MEDIA_SEQUENCE:
            continue
        for link in item.get("link") or []:
            if not isinstance(link, dict) or not isinstance(link.get("url"), str):
                continue
            url = link["url"].strip()
            if not url:
                continue
            variant = _variant_of(link, url)
            if variant is not None:
                by_seq.setdefault(seq, {}).setdefault(variant, url)
    out: list[PhotoLink] = []
    for seq in sorted(by_seq):
        found = by_seq[seq]
        kept: dict[str, str] = {v: found[v] for v in ("ful", "thb") if v in found}
        hd_url = found.get("hrs") or found.get("vhrs")
        if hd_url and (hd or not kept):
            kept["hrs"] = hd_url
        for variant, url in kept.items():
            ext = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
            out.append(PhotoLink(seq, variant, url, "jpg" if ext in ("jpg", "jpeg") or not _EXT.match(ext) else ext))
    return out


# ---------------------------------------------------------------------------------------------------------
# fetching


@dataclass
class PhotoStats:
    lots_done: int = 0
    lots_without_photos: int = 0
    photos_stored: int = 0
    photos_reused: int = 0
    bytes: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    photos_skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["failures"] = [{"lot_number": lot, "reason": reason} for lot, reason in self.failures]
        d["lots_failed"] = len(self.failures)
        d["seconds"] = round(self.seconds, 3)
        return d


class _NotFound(Exception):
    pass


@dataclass
class _LotResult:
    lot: int
    outcome: str  # photos | none | failed
    reason: str | None = None
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    stored: int = 0
    reused: int = 0
    bytes: int = 0
    requests: int = 0
    skipped: int = 0


class _Fetcher:
    def __init__(
        self,
        store: PhotoStore,
        limiter: Any,
        client: httpx.Client,
        *,
        hd: bool,
        attempts: int,
        backoff: float,
        max_delay: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.client = client
        self.hd = hd
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_delay = max_delay
        self.sleep = sleep
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._placed: set[str] = set()

    def _get(self, url: str, result: _LotResult) -> httpx.Response:
        """GET ``url`` (a token first, every attempt); 404 → _NotFound; 429/5xx/network errors retried."""
        error: FetchError | None = None
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self.sleep(retry_delay(attempt - 1, error, base=self.backoff, max_delay=self.max_delay))
            self.limiter.acquire()
            result.requests += 1
            try:
                response = self.client.get(url)
            except httpx.HTTPError as e:
                error = FetchError(f"GET {url}: {type(e).__name__}: {e}", retryable=True)
                continue
            status = response.status_code
            if status == 200:
                return response
            if status in (404, 410):
                raise _NotFound(f"HTTP {status}")
            if status == 429 or status >= 500:
                error = FetchError(
                    f"HTTP {status} from {url}",
                    retryable=True,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    status=status,
                )
                continue
            raise FetchError(f"HTTP {status} from {url}", retryable=False, status=status)
        assert error is not None
        raise FetchError(f"{error} (after {self.attempts} attempts)", retryable=True, status=error.status)

    def _place(self, key: str, body: bytes, content_type: str) -> bool:
        """Store ``body`` under ``key`` unless it is there; True when it was uploaded."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._placed or self.store.exists(key):
                self._placed.add(key)
                return False
            self.store.put(body, key, content_type)
            self._placed.add(key)
            return True

    def lot(self, ref: LotPhotoRef, have: set[tuple[int, str]]) -> _LotResult:
        result = _LotResult(ref.lot_number, "photos")
        try:
            response = self._get(ref.image_url.strip(), result)
            try:
                links = select_photos(response.json(), hd=self.hd)
            except ValueError as e:
                raise FetchError(f"the lot-images answer is unreadable: {e}", retryable=False) from None
        except _NotFound as e:
            result.outcome, result.reason = "none", f"lot-images {e}"
            return result
        except FetchError as e:
            result.outcome, result.reason = "failed", f"lot-images: {e}"
            return result
        if not links:
            result.outcome, result.reason = "none", "empty list"
            return result
        problems: list[str] = []
        for link in links:
            if (link.seq, link.variant) in have:
                result.skipped += 1
                continue
            try:
                body = self._get(link.url, result).content
            except _NotFound as e:
                problems.append(f"seq {link.seq} {link.variant}: {e}")
                continue
            except FetchError as e:
                problems.append(f"seq {link.seq} {link.variant}: {e}")
                continue
            if not body or (link.ext == "jpg" and body[:2] != b"\xff\xd8"):
                problems.append(f"seq {link.seq} {link.variant}: not a JPEG ({len(body)} bytes)")
                continue
            sha = hashlib.sha256(body).hexdigest()
            key = photo_key(sha, link.ext)
            try:
                uploaded = self._place(key, body, content_type_for(link.ext))
            except OSError as e:
                problems.append(f"seq {link.seq} {link.variant}: {e}")
                continue
            if uploaded:
                result.stored += 1
                result.bytes += len(body)
            else:
                result.reused += 1
            size = jpeg_size(body) if link.ext == "jpg" else None
            result.rows.append((ref.lot_number, link.seq, link.variant, key, sha, len(body),
                                size[0] if size else None, size[1] if size else None, link.url))  # fmt: skip
        if problems:
            result.outcome = "failed"
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            result.reason = mask("; ".join(problems[:3]) + more)
        return result


_UPSERT_IMAGE = """
INSERT INTO images (lot_number, seq, variant, storage_key, content_sha256, bytes, width, height, source_url, fetched_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (lot_number, seq, variant) DO UPDATE SET
    storage_key = EXCLUDED.storage_key, content_sha256 = EXCLUDED.content_sha256, bytes = EXCLUDED.bytes,
    width = EXCLUDED.width, height = EXCLUDED.height, source_url = EXCLUDED.source_url, fetched_at = EXCLUDED.fetched_at
WHERE images.content_sha256 IS DISTINCT FROM EXCLUDED.content_sha256
"""

_UPSERT_CHECK = """
INSERT INTO photo_checks (lot_number, checked_at, outcome, reason, photos)
VALUES (%(lot)s, now(), %(outcome)s, %(reason)s, (SELECT count(*) FROM images WHERE lot_number = %(lot)s))
ON CONFLICT (lot_number) DO UPDATE SET
    checked_at = EXCLUDED.checked_at, outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, photos = EXCLUDED.photos
"""


def _stored_variants(conn: psycopg.Connection, lots: Iterable[int]) -> dict[int, set[tuple[int, str]]]:
    have: dict[int, set[tuple[int, str]]] = {}
    rows = conn.execute(
        "SELECT lot_number, seq, variant FROM images WHERE lot_number = ANY(%s)", (list(lots),)
    ).fetchall()
    for lot, seq, variant in rows:
        have.setdefault(int(lot), set()).add((int(seq), str(variant)))
    return have


def _record(conn: psycopg.Connection, result: _LotResult) -> None:
    with conn.transaction():
        if result.rows:
            with conn.cursor() as cur:
                cur.executemany(_UPSERT_IMAGE, result.rows)
        conn.execute(_UPSERT_CHECK, {"lot": result.lot, "outcome": result.outcome, "reason": result.reason})
    if not conn.autocommit:
        conn.commit()


def fetch_photos(
    conn: psycopg.Connection,
    lots: list[LotPhotoRef],
    store: PhotoStore,
    *,
    limiter: Any,
    settings: Settings,
    transport: httpx.BaseTransport | None = None,
    concurrency: int = 4,
    progress: Callable[[PhotoStats], None] | None = None,
    attempts: int = 4,
    backoff: float = 1.0,
    max_delay: float = 60.0,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PhotoStats:
    """Fetch and store the photos of ``lots``; return what happened.

    ``concurrency`` lots are fetched at once (threads); every request first calls ``limiter.acquire()``.
    A lot's rows (``images``, upserted) and its ``photo_checks`` row are written in one transaction when the lot
    is done, by the calling thread only; when ``conn`` is not in autocommit mode each lot is committed at once
    (and the caller's open transaction is committed before the first request).
    (lot, seq, variant) rows already in ``images`` are not downloaded again. ``progress(stats)`` is called after
    each lot. Retries: ``attempts`` per request, waits from :func:`vinops.fetch.retry_delay` (``backoff`` 1 s,
    2 s, 4 s …, at least ``Retry-After``, at most ``max_delay``) through ``sleep``."""
    started = time.monotonic()
    stats = PhotoStats()
    if not lots:
        return stats
    have = _stored_variants(conn, (r.lot_number for r in lots))
    if not conn.autocommit:
        conn.commit()
    headers = {"User-Agent": getattr(settings, "feed_user_agent", None) or DEFAULT_USER_AGENT,
               "Accept": "application/json, image/*;q=0.9, */*;q=0.1"}  # fmt: skip
    workers = max(1, min(concurrency, len(lots)))
    limits = httpx.Limits(max_connections=workers * 2, max_keepalive_connections=workers * 2)
    with httpx.Client(headers=headers, timeout=timeout, follow_redirects=True, transport=transport,
                      limits=limits) as client:  # fmt: skip
        fetcher = _Fetcher(store, limiter, client, hd=bool(getattr(settings, "photos_hd", False)),
                           attempts=attempts, backoff=backoff, max_delay=max_delay, sleep=sleep)  # fmt: skip

        def one(ref: LotPhotoRef) -> _LotResult:
            try:
                return fetcher.lot(ref, have.get(ref.lot_number, set()))
            except Exception as e:  # noqa: BLE001 - one lot's bug or store failure never stops the others
                log.warning("photos of lot %s failed: %s", ref.lot_number, mask(str(e)))
                return _LotResult(ref.lot_number, "failed", mask(f"{type(e).__name__}: {e}"))

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vinops-photos") as pool:
            futures = [pool.submit(one, ref) for ref in lots]
            for future in as_completed(futures):
                result = future.result()
                _record(conn, result)
                stats.lots_done += 1
                stats.requests += result.requests
                stats.photos_stored += result.stored
                stats.photos_reused += result.reused
                stats.photos_skipped += result.skipped
                stats.bytes += result.bytes
                if result.outcome == "none":
                    stats.lots_without_photos += 1
                elif result.outcome == "failed":
                    stats.failures.append((result.lot, result.reason or "failed"))
                stats.seconds = time.monotonic() - started
                if progress is not None:
                    progress(stats)
    stats.seconds = time.monotonic() - started
    log.info(
        "photos: %d lots (%d without photos, %d failed), %d stored, %d reused, %d bytes in %.1f s",
        stats.lots_done, stats.lots_without_photos, len(stats.failures), stats.photos_stored,
        stats.photos_reused, stats.bytes, stats.seconds,
    )  # fmt: skip
    return stats

