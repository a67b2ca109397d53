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
        h = hashlib.sha256()
        with self.open(key) as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest()

    # -- writing

    def put(self, source: Path, window_at: datetime, sha256: str) -> str:
        """Store ``source`` (whose SHA-256 is ``sha256``) for the window at ``window_at``; return its key.

        Idempotent: a file already stored under the key with the same content is reused."""
        inside = self.key_of(source)
        if inside is not None:
            return inside
        for key in (self.key_for(window_at), self.key_for(window_at, sha256)):
            dest = self.path(key)
            if not dest.exists():
                self._write(source, dest, sha256)
                return key
            if self.sha256(key) == sha256:
                return key
        raise RawStoreError(f"raw store: {self.key_for(window_at, sha256)} exists with other content")

    def _write(self, source: Path, dest: Path, sha256: str) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        h = hashlib.sha256()
        try:
            with source.open("rb") as src:
                if self.compression == "zstd":
                    with pa.CompressedOutputStream(str(tmp), "zstd") as out:
                        while chunk := src.read(_CHUNK):
                            h.update(chunk)
                            out.write(chunk)
                else:
                    with tmp.open("wb") as out_file:
                        while chunk := src.read(_CHUNK):
                            h.update(chunk)
                            out_file.write(chunk)
            if h.hexdigest() != sha256:
                raise RawStoreError(f"{source} changed while it was being stored (SHA-256 differs)")
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            # Read it back: the stored bytes must decompress to the original exactly.
            check = hashlib.sha256()
            reader: BinaryIO = (
                pa.CompressedInputStream(pa.OSFile(str(tmp), "rb"), "zstd")  # type: ignore[assignment]
                if self.compression == "zstd"
                else tmp.open("rb")
            )
            with reader:
                while chunk := reader.read(_CHUNK):
                    check.update(chunk)
            if check.hexdigest() != sha256:
                raise RawStoreError(f"raw store: {dest.name} does not read back identically")
            os.replace(tmp, dest)
            dir_fd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            if tmp.exists():
                tmp.unlink()

    # -- retention

    def prune(self, now: float | None = None) -> list[str]:
        """Delete files stored more than ``retention_days`` ago; return their keys (none if retention is 0)."""
        if self.retention_days <= 0:
            return []
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
