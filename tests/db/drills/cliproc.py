"""Inputs and processes of the drills: two successive window files made from ``vinops sample``, and the real
command line run as child processes whose log lines the drill watches (to kill or cut at a chosen stage)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from vinops.sample import write_sample

__all__ = ["Cli", "cli_env", "make_windows", "run_cli", "vinops_bin"]


def vinops_bin() -> str:
    """The ``vinops`` script of the interpreter running the tests (the venv's, or a wheel's)."""
    return str(Path(sys.executable).with_name("vinops"))


def cli_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a child ``vinops``: this one without any ``VINOPS_*`` setting, then a data folder,
    raw store and photo store under ``folder`` (raw files kept: retention 0), then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VINOPS_")}
    env.update(
        VINOPS_DATA_DIR=str(folder / "data"),
        VINOPS_RAW_DIR=str(folder / "raw"),
        VINOPS_PHOTO_DIR=str(folder / "photos"),
        VINOPS_RAW_RETENTION_DAYS="0",
    )
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([vinops_bin(), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


class Cli:
    """A ``vinops`` child process with ``-v``: its stderr lines are read as they come, so the drill can wait for
    a stage's log line, then kill the process (SIGKILL) or act on the database."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [vinops_bin(), "-v", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.killed = False

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 120) -> str | None:
        """The first log line matching ``pattern`` (searched), or None when the process ended without one."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for line in self.lines[seen:]:
                    if rx.search(line):
                        return line
                seen = len(self.lines)
                if not self.reader.is_alive() or time.monotonic() > deadline:
                    return None
                self.cond.wait(0.05)

    def last_stage(self) -> str | None:
        """The stage the window had entered when last heard of (``load N: <stage>`` lines), or ``parse`` when
        only the file's line was printed."""
        with self.cond:
            lines = list(self.lines)
        for line in reversed(lines):
            m = re.search(r"load (?:\d+|-): ([a-z ]+)$", line)
            if m:
                return m.group(1)
            if re.search(r"file .*bytes, sha256", line):
                return "parse"
        return None

    def kill(self) -> bool:
        """SIGKILL; True when the process was still running."""
        if self.proc.poll() is not None:
            return False
        self.proc.send_signal(signal.SIGKILL)
        self.killed = True
        return True

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        """Wait for the exit; (exit code, stdout, stderr). Stdout (one JSON object) is read after the exit: it
        fits the pipe; stderr is the reader thread's alone."""
        assert self.proc.stdout is not None
        self.proc.wait(timeout=timeout)
        out = self.proc.stdout.read()
        self.proc.stdout.close()
        self.reader.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        with self.cond:
            err = "\n".join(self.lines)
        return self.proc.returncode, out, err


# ---------------------------------------------------------------------------------------------------------
# two successive windows


def _header(line: bytes) -> list[str]:
    return line.decode("utf-8").lstrip("\ufeff").strip('"').split('","')


def make_windows(folder: Path, rows: int, seed: int) -> list[Path]:
    """Two window files: ``w1`` a sample of ``rows`` rows; ``w2`` the next window as the feed would publish it:
    1 % of the lots gone, 5 % changed (a new high bid and a Last Updated Time 15 minutes later), 1 % new lots
    (rows of another sample whose lot and VIN ``w1`` does not list); every other row byte-identical."""
    folder.mkdir(parents=True, exist_ok=True)
    w1, w2 = folder / "w1.csv", folder / "w2.csv"
    write_sample(w1, rows=rows, seed=seed)
    data = w1.read_bytes().split(b"\n")
    if data[-1] == b"":
        data.pop()
    head, lines = data[0], data[1:]
    header = _header(head)
    cols = len(header)
    hb, lu = header.index("High Bid =non-vix,Sealed=Vix"), header.index("Last Updated Time")
    lot_i, vin_i = header.index("Lot number"), header.index("VIN")
    rng = random.Random(seed)
    regular = [i for i, line in enumerate(lines) if line.count(b'","') == cols - 1]
    gone = set(rng.sample(regular, rows // 100))
    changed = set(rng.sample([i for i in regular if i not in gone], rows // 20))
    out = []
    for i, line in enumerate(lines):
        if i in gone:
            continue
        if i in changed:
            fields = line.split(b'","')
            fields[hb] = str(rng.randint(100, 40_000)).encode() + b".0"
            raw = fields[lu].decode().strip('"')
            stamp = datetime.fromisoformat(raw.replace("Z", "+00:00")) + timedelta(minutes=15)
            fields[lu] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + (b'"' if lu == cols - 1 else b"")
            line = b'","'.join(fields)
        out.append(line)

    def key(line: bytes, i: int) -> str:
        return line.split(b'","')[i].decode("utf-8", "replace").strip('"').strip().upper()

    lots = {key(lines[i], lot_i) for i in regular}
    vins = {key(lines[i], vin_i) for i in regular} - {""}
    extra_file = folder / "extra.csv"
    write_sample(extra_file, rows=rows // 10 + 100, seed=seed + 7919)
    added = 0
    for line in extra_file.read_bytes().split(b"\n")[1:]:
        if added == rows // 100:
            break
        if line.count(b'","') != cols - 1 or key(line, lot_i) in lots or key(line, vin_i) in vins:
            continue
        out.append(line)
        added += 1
    extra_file.unlink()
    w2.write_bytes(head + b"\n" + b"\n".join(out) + b"\n")
    return [w1, w2]
