"""The raw store: every loaded file kept losslessly, at ``copart/YYYY/MM/DD/HHmm.csv[.zst]`` under its root.

The time in the key is the window's instant (UTC). Files are written to a temporary name, checked (the
stored bytes decompress to exactly the SHA-256 of the source) and renamed into place, so a key never
names a partial file. A second, different file for the same minute gets ``HHmm-<sha12>``. ``prune`` deletes
files stored more than ``retention_days`` ago (0 keeps everything).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

__all__ = ["LocalRawStore", "RawStoreError"]

_CHUNK = 1 << 20
PREFIX = "copart"


class RawStoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalRawStore:
    """A raw store in a local folder."""

    root: Path
    compression: str = "zstd"
    retention_days: int = 30

    def __post_init__(self) -> None:
        if self.compression not in ("zstd", "none"):
            raise ValueError(f"compression must be 'zstd' or 'none', not {self.compression!r}")

    # -- keys

    @property
    def suffix(self) -> str:
        return ".csv.zst" if self.compression == "zstd" else ".csv"

    def key_for(self, window_at: datetime, sha256: str | None = None) -> str:
        w = window_at.astimezone(timezone.utc) if window_at.tzinfo else window_at
        stem = f"{w:%H%M}" + (f"-{sha256[:12]}" if sha256 else "")
        return f"{PREFIX}/{w:%Y/%m/%d}/{stem}{self.suffix}"

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
        incoming = self.root / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        tmp = incoming / f"{sha256[:16]}-{os.getpid()}-{time.monotonic_ns()}{self.suffix}"
        try:
            with source.open("rb") as src:
                if self.compression == "zstd":
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
            # Read it back: the stored bytes must decompress to the original exactly (this also catches a
            # source that changed while it was copied).
            if self._sha256_of(tmp) != sha256:
                raise RawStoreError(f"raw store: the copy of {source} does not read back to its SHA-256")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

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
        h = hashlib.sha256()
        reader: BinaryIO = (
            pa.CompressedInputStream(pa.OSFile(str(path), "rb"), "zstd")  # type: ignore[assignment]
            if path.name.endswith(".zst")
            else path.open("rb")
        )
        with reader:
            while chunk := reader.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest()

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
        """Temporary copies a crashed process left behind (older than a day) are deleted."""
        incoming = self.root / ".incoming"
        cutoff = (time.time() if now is None else now) - 86400
        for p in incoming.glob("*") if incoming.is_dir() else ():
            try:
                if p.stat().st_mtime < cutoff:
                    p.unlink()
            except FileNotFoundError:
                continue
