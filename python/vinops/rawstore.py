"""The raw store: every loaded file kept losslessly, at ``copart/YYYY/MM/DD/HHmm.csv[.zst]``.

One interface (:class:`RawStore`), two implementations with the same keys:

* :class:`LocalRawStore`: a folder; the key is the path under its root.
* :class:`S3RawStore`: an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO) written through prefect-aws
  ``S3Bucket``; the key is the object's name under an optional prefix (``raw/`` by default, so the bucket
  holds ``raw/copart/…`` as a local data folder does).

The time in the key is the window's instant (UTC). A file is first written to a local temporary copy
(compressed as configured) and read back: it must decompress to exactly the SHA-256 of the source. Only then
is it moved (renamed, or uploaded in one PUT) to its key, so a key never names a partial file. A second,
different file for the same minute gets ``HHmm-<sha12>``; a file with the same content already stored is
reused. ``prune`` deletes files stored more than ``retention_days`` ago (0 keeps everything).

Importing this module does not import Prefect: :class:`S3RawStore` imports ``prefect_aws`` when it is built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

import pyarrow as pa

if TYPE_CHECKING:  # prefect-aws is imported lazily (it pulls in Prefect, which takes seconds)
    from prefect_aws import S3Bucket

    from vinops.config import Settings

__all__ = ["LocalRawStore", "RawStore", "RawStoreError", "RawStoreIOError", "S3RawStore", "raw_store_from", "s3_bucket"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
PREFIX = "copart"


class RawStoreError(RuntimeError):
    pass


class RawStoreIOError(RawStoreError, OSError):
    """The remote store failed a request (unreachable, refused, throttled, an error status). An ``OSError`` like
    a local disk's failure, so a caller that tolerates I/O errors (retention after a committed window) tolerates
    it too; ``retryable`` says whether the same request may succeed later (network errors, 5xx, throttling).
    Its text never holds a credential."""

    def __init__(self, message: str, *, retryable: bool = False, code: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@runtime_checkable
class RawStore(Protocol):
    """What the window and the flows use of a raw store; :class:`LocalRawStore` and :class:`S3RawStore` have
    it, with the same keys for the same window and file."""

    @property
    def compression(self) -> str: ...  # "zstd" | "none"

    @property
    def retention_days(self) -> int: ...  # 0 keeps everything

    @property
    def suffix(self) -> str: ...  # ".csv.zst" | ".csv"

    def key_for(self, window_at: datetime, sha256: str | None = None) -> str:
        """``copart/YYYY/MM/DD/HHmm<suffix>`` (``HHmm-<sha12>`` with ``sha256``) for the window's instant."""
        ...

    def key_of(self, path: Path) -> str | None:
        """The key of a local ``path`` that already lies in the store, else None."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The original (decompressed) bytes of a stored file."""
        ...

    def sha256(self, key: str) -> str:
        """The SHA-256 of the original bytes of a stored file."""
        ...

    def put(self, source: Path, window_at: datetime, sha256: str) -> str:
        """Store ``source`` for the window at ``window_at``; return its key (idempotent)."""
        ...

    def prepare(self, source: Path, sha256: str) -> Path:
        """A checked local temporary copy of ``source`` (compressed as configured), for :meth:`place`."""
        ...

    def place(self, prepared: Path, window_at: datetime, sha256: str) -> str:
        """Put a copy made by :meth:`prepare` at its key; return the key. The copy is consumed."""
        ...

    def discard(self, prepared: Path) -> None:
        """Delete a copy made by :meth:`prepare` that will not be placed."""
        ...

    def prune(self, now: float | None = None) -> list[str]:
        """Delete files stored more than ``retention_days`` before ``now`` (epoch seconds); return their keys."""
        ...


def _check_compression(compression: str) -> None:
    if compression not in ("zstd", "none"):
        raise ValueError(f"compression must be 'zstd' or 'none', not {compression!r}")


def _suffix(compression: str) -> str:
    return ".csv.zst" if compression == "zstd" else ".csv"


def _key_for(window_at: datetime, sha256: str | None, suffix: str) -> str:
    w = window_at.astimezone(timezone.utc) if window_at.tzinfo else window_at
    stem = f"{w:%H%M}" + (f"-{sha256[:12]}" if sha256 else "")
    return f"{PREFIX}/{w:%Y/%m/%d}/{stem}{suffix}"


def _write_copy(source: Path, tmp: Path, compression: str) -> None:
    """Copy ``source`` to ``tmp`` (zstd-compressed or as is), flushed to disk."""
    with source.open("rb") as src:
        if compression == "zstd":
            with pa.CompressedOutputStream(str(tmp), "zstd") as out:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
        else:
            with tmp.open("wb") as out_file:
                while chunk := src.read(_CHUNK):
                    out_file.write(chunk)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hash_stream(reader: BinaryIO) -> str:
    h = hashlib.sha256()
    with reader:
        while chunk := reader.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sha256_of_file(path: Path) -> str:
    """The SHA-256 of the original bytes of a stored copy (decompressed if its name ends in ``.zst``)."""
    reader: BinaryIO = (
        pa.CompressedInputStream(pa.OSFile(str(path), "rb"), "zstd")  # type: ignore[assignment]
        if path.name.endswith(".zst")
        else path.open("rb")
    )
    return _hash_stream(reader)


def _prepare_copy(incoming: Path, source: Path, sha256: str, compression: str) -> Path:
    """A temporary copy of ``source`` in ``incoming``, read back: it must decompress to exactly ``sha256``
    (this also catches a source that changed while it was copied)."""
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / f"{sha256[:16]}-{os.getpid()}-{time.monotonic_ns()}{_suffix(compression)}"
    try:
        _write_copy(source, tmp, compression)
        if _sha256_of_file(tmp) != sha256:
            raise RawStoreError(f"raw store: the copy of {source} does not read back to its SHA-256")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _sweep(incoming: Path, now: float | None = None) -> None:
    """Temporary copies a crashed process left behind (older than a day) are deleted."""
    cutoff = (time.time() if now is None else now) - 86400
    for p in incoming.glob("*") if incoming.is_dir() else ():
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink()
        except FileNotFoundError:
            continue


@dataclass(frozen=True)
class LocalRawStore:
    """A raw store in a local folder."""

    root: Path
    compression: str = "zstd"
    retention_days: int = 30

    def __post_init__(self) -> None:
        _check_compression(self.compression)

    # -- keys

    @property
    def suffix(self) -> str:
        return _suffix(self.compression)

    def key_for(self, window_at: datetime, sha256: str | None = None) -> str:
        return _key_for(window_at, sha256, self.suffix)

    def path(self, key: str) -> Path:
        return self.root / key

    def key_of(self, path: Path) -> str | None:
        """The key of ``path`` if it already lies in this store (e.g. placed there by the fetch step)."""
        try:
            rel = Path(path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        return rel.as_posix()

    # -- reading

    def open(self, key: str) -> BinaryIO:
        """The original bytes of a stored file (decompressed)."""
        path = self.path(key)
        if path.name.endswith(".zst"):
            return pa.CompressedInputStream(pa.OSFile(str(path), "rb"), "zstd")  # type: ignore[return-value]
        return path.open("rb")

    def sha256(self, key: str) -> str:
        return self._sha256_of(self.path(key))

    # -- writing

    def put(self, source: Path, window_at: datetime, sha256: str) -> str:
        """Store ``source`` (whose SHA-256 is ``sha256``) for the window at ``window_at``; return its key.

        Idempotent: a file already stored under the key with the same content is reused."""
        inside = self.key_of(source)
        if inside is not None:
            return inside
        return self.place(self.prepare(source, sha256), window_at, sha256)

    def prepare(self, source: Path, sha256: str) -> Path:
        """Write ``source`` to a temporary file in the store (compressed as configured), flushed to disk and
        read back: it must decompress to exactly ``sha256``. The key depends on the window's instant, which
        the data decides; so a window starts this before it knows the key, then calls :meth:`place`."""
        return _prepare_copy(self.root / ".incoming", source, sha256, self.compression)

    def place(self, prepared: Path, window_at: datetime, sha256: str) -> str:
        """Move a file made by :meth:`prepare` to its key (``HHmm``, or ``HHmm-<sha12>`` when another file
        holds that minute); a file with the same content already stored is reused. Returns the key."""
        try:
            for key in (self.key_for(window_at), self.key_for(window_at, sha256)):
                dest = self.path(key)
                if dest.exists():
                    if self.sha256(key) == sha256:
                        return key
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(prepared, dest)
                dir_fd = os.open(dest.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
                return key
            raise RawStoreError(f"raw store: {self.key_for(window_at, sha256)} exists with other content")
        finally:
            prepared.unlink(missing_ok=True)

    def discard(self, prepared: Path) -> None:
        prepared.unlink(missing_ok=True)

    def _sha256_of(self, path: Path) -> str:
        return _sha256_of_file(path)

    # -- retention

    def prune(self, now: float | None = None) -> list[str]:
        """Delete files stored more than ``retention_days`` ago; return their keys (none if retention is 0)."""
        if self.retention_days <= 0:
            return []
        self._sweep_incoming(now)
        base = self.root / PREFIX
        if not base.is_dir():
            return []
        cutoff = (time.time() if now is None else now) - self.retention_days * 86400
        deleted: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base, topdown=False):
            for name in filenames:
                if name.startswith("."):
                    continue
                p = Path(dirpath) / name
                try:
                    if p.stat().st_mtime < cutoff:
                        p.unlink()
                        deleted.append(p.relative_to(self.root).as_posix())
                except FileNotFoundError:
                    continue
            if Path(dirpath) != base and not os.listdir(dirpath):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        return sorted(deleted)

    def _sweep_incoming(self, now: float | None = None) -> None:
        _sweep(self.root / ".incoming", now)


# -- S3-compatible bucket

_RETRYABLE_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "TooManyRequests",
        "TooManyRequestsException",
        "429",
        "500",
        "502",
        "503",
        "504",
    }
)
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _content_type(key: str) -> str:
    return "application/zstd" if key.endswith(".zst") else "text/csv"


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class S3RawStore:
    """A raw store in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), written through prefect-aws.

    Keys are those of :class:`LocalRawStore` (``copart/YYYY/MM/DD/HHmm.csv[.zst]``); the object of key ``k``
    is ``<bucket_folder>/<prefix>/k`` in the bucket (empty parts left out). Build it from plain arguments::

        S3RawStore("vinops-raw", endpoint_url="https://<account>.r2.cloudflarestorage.com", region="auto",
                   access_key_id=..., secret_access_key=...)

    or from an existing ``prefect_aws.S3Bucket`` (a loaded block: ``S3RawStore(S3Bucket.load("raw"))``). Without
    keys, boto3 finds credentials as usual (environment, profile, instance role).

    Writing: :meth:`prepare` compresses to a local temporary file (``workdir``, default the system's temporary
    folder) and reads it back against the SHA-256; :meth:`place` uploads it in one request per object (a PUT,
    or a multipart upload that becomes visible only when completed: S3 never shows a partial object) with the
    SHA-256 in the object's metadata (``x-amz-meta-sha256``), then checks the stored object's size and
    metadata before returning the key. An object already under the key with the same SHA-256 is reused.

    The access key and secret are registered with :func:`vinops.logs.add_secret` (masked wherever they would be
    logged), never appear in :func:`repr`, and errors are :class:`RawStoreIOError` with masked texts.
    """

    def __init__(
        self,
        bucket: str | S3Bucket,
        *,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        prefix: str = "raw",
        compression: str = "zstd",
        retention_days: int = 30,
        workdir: Path | None = None,
        client_config: dict[str, Any] | None = None,
    ) -> None:
        _check_compression(compression)
        self.bucket: S3Bucket = s3_bucket(
            bucket, endpoint_url=endpoint_url, access_key_id=access_key_id, secret_access_key=secret_access_key,
            region=region, client_config=client_config, owner="S3RawStore",
        )  # fmt: skip
        self._secrets = self._register_secrets()
        self.prefix = prefix.strip("/")
        self.compression = compression
        self.retention_days = retention_days
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.gettempdir()) / "vinops-raw-incoming"
        self._client_cache: Any = None

    def _register_secrets(self) -> tuple[str, ...]:
        from vinops.logs import add_secret

        found: list[str] = []
        credentials = getattr(self.bucket, "credentials", None)
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "minio_root_user",
                     "minio_root_password"):
            value = getattr(credentials, name, None)
            if value is not None and hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            if isinstance(value, str) and value:
                add_secret(value)
                found.append(value)
        return tuple(found)

    def __repr__(self) -> str:
        params = getattr(getattr(self.bucket, "credentials", None), "aws_client_parameters", None)
        endpoint = getattr(params, "endpoint_url", None)
        return (
            f"S3RawStore(bucket={self.bucket_name!r}, prefix={self.prefix!r}, endpoint_url={endpoint!r}, "
            f"compression={self.compression!r}, retention_days={self.retention_days!r})"
        )

    # -- keys

    @property
    def bucket_name(self) -> str:
        return str(self.bucket.bucket_name)

    @property
    def suffix(self) -> str:
        return _suffix(self.compression)

    def key_for(self, window_at: datetime, sha256: str | None = None) -> str:
        return _key_for(window_at, sha256, self.suffix)

    def key_of(self, path: Path) -> str | None:
        """Always None: a local file is never inside a bucket."""
        return None

    def object_key(self, key: str) -> str:
        """The object's name in the bucket: ``<bucket_folder>/<prefix>/<key>``."""
        return _join(self.bucket.bucket_folder or "", self.prefix, key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket_name}/{self.object_key(key)}"

    def _folder_path(self, key: str) -> str:
        # S3Bucket's own methods put its bucket_folder in front of the path they are given.
        return _join(self.prefix, key)

    # -- requests

    @property
    def _client(self) -> Any:
        if self._client_cache is None:
            self._client_cache = self.bucket.credentials.get_s3_client()
        return self._client_cache

    def _error(self, action: str, key: str, e: BaseException) -> RawStoreIOError:
        """``e`` (botocore, boto3, s3transfer) as a :class:`RawStoreIOError` whose text holds no credential."""
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

        from vinops.logs import mask

        code: str | None = None
        status = 0
        retryable = False
        cause: BaseException | None = e
        seen: list[BaseException] = []
        while cause is not None and all(cause is not s for s in seen):
            seen.append(cause)
            if isinstance(cause, ClientError):
                err = cause.response.get("Error", {})
                code = str(err.get("Code") or "") or None
                status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                retryable = status >= 500 or status == 429 or code in _RETRYABLE_CODES
                break
            if isinstance(cause, (ConnectionError, HTTPClientError, TimeoutError, OSError)):
                retryable = True
                break
            if isinstance(cause, BotoCoreError):
                break
            cause = cause.__cause__ or cause.__context__
        detail = " ".join(str(e).split()) or type(e).__name__
        message = mask(f"raw store: {action} {self.uri(key)} failed: {type(e).__name__}: {detail}", self._secrets)
        return RawStoreIOError(message, retryable=retryable, code=code)

    def _is_missing(self, e: BaseException) -> bool:
        from botocore.exceptions import ClientError

        return isinstance(e, ClientError) and (
            str(e.response.get("Error", {}).get("Code")) in _MISSING_CODES
            or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
        )

    def _head(self, key: str) -> dict[str, Any] | None:
        """The object's HEAD (size, metadata, LastModified), or None if there is no object at ``key``."""
        try:
            return dict(self._client.head_object(Bucket=self.bucket_name, Key=self.object_key(key)))
        except Exception as e:  # noqa: BLE001 - botocore's errors are translated
            if self._is_missing(e):
                return None
            raise self._error("HEAD", key, e) from None

    def _download(self, key: str) -> Path:
        """The stored object in a local temporary file (the caller deletes it)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The name ends like the key: _sha256_of_file decompresses by the suffix.
        suffix = _suffix("zstd" if key.endswith(".zst") else "none")
        wanted = self.workdir / f".download-{os.getpid()}-{time.monotonic_ns()}{suffix}"
        try:
            self.bucket.download_object_to_path(self._folder_path(key), wanted, _sync=True)
        except BaseException as e:
            wanted.unlink(missing_ok=True)
            if isinstance(e, Exception):
                if self._is_missing(e):
                    raise FileNotFoundError(2, f"raw store: no object {self.uri(key)}") from None
                raise self._error("GET", key, e) from None
            raise
        return wanted

    def _check(self, key: str, path: Path, head: dict[str, Any] | None) -> str:
        """The SHA-256 of a downloaded copy, checked against the SHA-256 recorded in the object's metadata."""
        actual = _sha256_of_file(path)
        recorded = ((head or {}).get("Metadata") or {}).get("sha256")
        if recorded and recorded != actual:
            raise RawStoreError(f"raw store: {self.uri(key)} does not read back to its recorded SHA-256")
        return actual

    # -- reading

    def open(self, key: str) -> BinaryIO:
        """The original bytes of a stored object (downloaded to a temporary file, decompressed, and checked
        against the SHA-256 recorded when it was stored)."""
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(2, f"raw store: no object {self.uri(key)}")
        path = self._download(key)
        try:
            self._check(key, path, head)
            reader: BinaryIO = (
                pa.CompressedInputStream(pa.OSFile(str(path), "rb"), "zstd")  # type: ignore[assignment]
                if key.endswith(".zst")
                else path.open("rb")
            )
        finally:
            path.unlink(missing_ok=True)  # the open reader keeps the data until it is closed
        return reader

    def sha256(self, key: str) -> str:
        """The SHA-256 of the original bytes of a stored object (downloaded and hashed, and checked against
        the SHA-256 recorded in its metadata)."""
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(2, f"raw store: no object {self.uri(key)}")
        path = self._download(key)
        try:
            return self._check(key, path, head)
        finally:
            path.unlink(missing_ok=True)

    def _stored_sha256(self, key: str, head: dict[str, Any]) -> str:
        recorded = (head.get("Metadata") or {}).get("sha256")
        if isinstance(recorded, str) and len(recorded) == 64:
            return recorded
        return self.sha256(key)  # an object someone else put there: hash its content

    # -- writing

    def put(self, source: Path, window_at: datetime, sha256: str) -> str:
        """Store ``source`` (whose SHA-256 is ``sha256``) for the window at ``window_at``; return its key.

        Idempotent: an object already stored under the key with the same content is reused."""
        return self.place(self.prepare(source, sha256), window_at, sha256)

    def prepare(self, source: Path, sha256: str) -> Path:
        """A local temporary copy of ``source`` (compressed as configured), flushed and read back: it must
        decompress to exactly ``sha256``. Nothing is sent yet; :meth:`place` uploads it."""
        return _prepare_copy(self.workdir, source, sha256, self.compression)

    def place(self, prepared: Path, window_at: datetime, sha256: str) -> str:
        """Upload a copy made by :meth:`prepare` to its key (``HHmm``, or ``HHmm-<sha12>`` when another file
        holds that minute) and confirm the stored object (size and recorded SHA-256); an object with the same
        content already stored is reused. Returns the key. The local copy is deleted in any case."""
        try:
            size = prepared.stat().st_size
            for key in (self.key_for(window_at), self.key_for(window_at, sha256)):
                head = self._head(key)
                if head is not None:
                    if self._stored_sha256(key, head) == sha256:
                        return key
                    continue
                self._upload(prepared, key, sha256)
                self._confirm(key, sha256, size)
                return key
            raise RawStoreError(f"raw store: {self.uri(self.key_for(window_at, sha256))} exists with other content")
        finally:
            prepared.unlink(missing_ok=True)

    def _upload(self, prepared: Path, key: str, sha256: str) -> None:
        log.debug("raw store: uploading %s (%d bytes) to %s", prepared.name, prepared.stat().st_size, self.uri(key))
        extra = {"Metadata": {"sha256": sha256}, "ContentType": _content_type(key)}
        try:
            self.bucket.upload_from_path(prepared, self._folder_path(key), ExtraArgs=extra, _sync=True)
        except Exception as e:  # noqa: BLE001 - botocore's errors are translated
            raise self._error("PUT", key, e) from None

    def _confirm(self, key: str, sha256: str, size: int) -> None:
        head = self._head(key)
        if head is None:
            raise RawStoreIOError(f"raw store: {self.uri(key)} is missing right after its upload", retryable=True)
        recorded = (head.get("Metadata") or {}).get("sha256")
        if head.get("ContentLength") != size or recorded != sha256:
            raise RawStoreError(
                f"raw store: {self.uri(key)} holds {head.get('ContentLength')} bytes of SHA-256 {recorded} after "
                f"its upload, not {size} bytes of {sha256} (another writer?)"
            )

    def discard(self, prepared: Path) -> None:
        prepared.unlink(missing_ok=True)

    # -- retention

    def prune(self, now: float | None = None) -> list[str]:
        """Delete objects stored (``LastModified``) more than ``retention_days`` before ``now`` (epoch seconds,
        default the current time); return their keys (none if retention is 0). Also deletes local temporary
        copies and unfinished multipart uploads older than a day. If a deletion fails after others succeeded,
        it stops there (a warning) and returns the keys deleted so far; the next prune deletes the rest."""
        if self.retention_days <= 0:
            return []
        now = time.time() if now is None else now
        _sweep(self.workdir, now)
        cutoff = now - self.retention_days * 86400
        base = self._folder_path(PREFIX) + "/"
        strip = len(self.object_key(""))  # the bucket folder and prefix in front of every key
        try:
            objects = self.bucket.list_objects(base, _sync=True)
        except Exception as e:  # noqa: BLE001
            raise self._error("LIST", PREFIX + "/", e) from None
        deleted: list[str] = []
        for obj in objects:
            modified = obj.get("LastModified")
            if modified is None or modified.timestamp() >= cutoff:
                continue
            name = str(obj["Key"])
            key = name[strip:].lstrip("/") if strip else name
            try:
                self._client.delete_object(Bucket=self.bucket_name, Key=name)
            except Exception as e:  # noqa: BLE001
                error = self._error("DELETE", key, e)
                if not deleted:
                    raise error from None
                # Report what is gone (the caller records it); the rest is retried by the next prune.
                log.warning("%s; %d older objects were deleted before it", error, len(deleted))
                break
            log.debug("raw store: deleted %s (stored %s)", self.uri(key), modified.isoformat())
            deleted.append(key)
        self._abort_stale_uploads(now)
        return sorted(deleted)

    def _abort_stale_uploads(self, now: float) -> None:
        """Parts of multipart uploads a crashed process left behind (older than a day) are deleted."""
        try:
            listing = self._client.list_multipart_uploads(
                Bucket=self.bucket_name, Prefix=self.object_key(PREFIX) + "/"
            )
            for upload in listing.get("Uploads", []):
                if upload["Initiated"].timestamp() < now - 86400:
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket_name, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
        except Exception:  # noqa: BLE001 - best effort (not every S3-compatible store lists uploads)
            log.debug("raw store: could not list or abort stale multipart uploads", exc_info=False)


def raw_store_from(settings: Settings) -> RawStore:
    """The raw store the settings name: a :class:`LocalRawStore` at ``settings.raw_root`` (``raw_store="local"``)
    or an :class:`S3RawStore` from the ``s3_*`` fields (``raw_store="s3"``), with the settings' compression
    and retention."""
    if settings.raw_store == "s3":
        if not settings.s3_bucket:
            raise ValueError("raw store 's3' needs a bucket (VINOPS_S3_BUCKET)")
        return S3RawStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            region=settings.s3_region,
            prefix=settings.s3_prefix,
            compression=settings.raw_compression,
            retention_days=settings.raw_retention_days,
        )
    if settings.raw_store != "local":
        raise ValueError(f"unknown raw store {settings.raw_store!r} (choose 'local' or 's3')")
    return LocalRawStore(settings.raw_root, settings.raw_compression, settings.raw_retention_days)


def s3_bucket(
    bucket: str | S3Bucket,
    *,
    endpoint_url: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    region: str | None,
    client_config: dict[str, Any] | None,
    owner: str,
) -> S3Bucket:
    """The prefect-aws ``S3Bucket`` of a store: built from a bucket name and plain arguments (the keys
    registered for masking), or an existing ``S3Bucket`` passed through (then the plain arguments must be
    unset: they live in its credentials). ``owner`` names the store in the error."""
    from vinops.logs import add_secret

    if not isinstance(bucket, str):
        if any(v is not None for v in (endpoint_url, access_key_id, secret_access_key, region, client_config)):
            raise ValueError(f"{owner}: pass the endpoint, keys and region in the S3Bucket's credentials")
        return bucket
    for secret in (access_key_id, secret_access_key):
        add_secret(secret)
    from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

    credentials = AwsCredentials(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint_url, config=client_config),
    )
    return S3Bucket(bucket_name=bucket, credentials=credentials)
