"""Successive feed files with realistic churn, for the out-of-order and simulated-day drills.

:class:`Day` starts from a generated sample (``vinops.sample.write_sample``, no defect rows: every line splits
into the header's fields) and makes the file of each next window, 15 minutes apart: a share of the listed lots
change (a new high bid and a Last Updated Time equal to the window's instant), some lots whose sale day has
passed leave the file, new lots arrive (rows of a second sample with lot numbers and VINs the first does not
carry), and a share of the new lots are relists (they carry the VIN of a lot that left). Every other line
stays byte-identical, as in the real feed. Each file's lot numbers, and each lot's line, are kept so that a
drill can compute what the database must hold."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vinops.sample import write_sample

STEP = timedelta(minutes=15)


def _fields(line: bytes) -> list[bytes]:
    return line[1:-1].split(b'","')


def _line(fields: list[bytes]) -> bytes:
    return b'"' + b'","'.join(fields) + b'"'


def _stamp(at: datetime) -> bytes:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ").encode()


@dataclass
class Window:
    index: int
    at: datetime
    path: Path
    lots: set[int]
    changed: set[int] = field(default_factory=set)
    gone: set[int] = field(default_factory=set)
    new: set[int] = field(default_factory=set)
    relists: dict[int, bytes] = field(default_factory=dict)  # new lot → the VIN it relists


class Day:
    """``rows`` lots to start with; per window ``change``, ``vanish`` and ``arrive`` are shares of ``rows``;
    ``relist`` is the share of arriving lots that relist a lot that left."""

    def __init__(self, work: Path, rows: int, seed: int, *, change: float = 0.02, vanish: float = 0.005,
                 arrive: float = 0.005, relist: float = 0.2, windows: int = 96) -> None:  # fmt: skip
        self.work = work
        self.rng = random.Random(seed)
        self.rows = rows
        self.change, self.vanish, self.arrive, self.relist = change, vanish, arrive, relist
        base = work / "day-base.csv"
        write_sample(base, rows=rows, seed=seed, defect_rate=0.0)
        head, *lines = base.read_bytes().rstrip(b"\n").split(b"\n")
        base.unlink()
        self.header = head
        names = [n.decode() for n in _fields(head)]
        self.width = len(names)
        self.i_lot, self.i_vin = names.index("Lot number"), names.index("VIN")
        self.i_bid, self.i_lu = names.index("High Bid =non-vix,Sealed=Vix"), names.index("Last Updated Time")
        self.i_sale = names.index("Sale Date M/D/CY")
        self.current: dict[int, bytes] = {}
        for line in lines:
            f = _fields(line)
            assert len(f) == self.width, "a sample line that does not split into the header's fields"
            self.current[int(f[self.i_lot])] = line
        self.at = max(
            datetime.fromisoformat(_fields(x)[self.i_lu].decode().replace("Z", "+00:00")) for x in lines
        ).replace(second=0)
        self.pool = self._pool(seed, int(rows * arrive * windows) + 50)
        self.gone_vins: list[bytes] = []
        self.index = 0

    def _pool(self, seed: int, count: int) -> list[list[bytes]]:
        """Rows for arriving lots: lot numbers and VINs the first sample does not carry."""
        path = self.work / "day-pool.csv"
        write_sample(path, rows=2 * count + 100, seed=seed + 7919, defect_rate=0.0)
        _, *lines = path.read_bytes().rstrip(b"\n").split(b"\n")
        path.unlink()
        vins = {_fields(x)[self.i_vin] for x in self.current.values()}
        out, seen = [], set(self.current)
        for line in lines:
            f = _fields(line)
            lot = int(f[self.i_lot])
            if lot in seen or f[self.i_vin] in vins:
                continue
            seen.add(lot)
            out.append(f)
        self.rng.shuffle(out)
        return out

    def first(self) -> Window:
        """The starting file, at the newest Last Updated Time of the sample."""
        return self._write(Window(0, self.at, self.work / "window-00.csv", set(self.current)))

    def next(self) -> Window:
        """The file of the next window, 15 minutes later."""
        self.index += 1
        self.at += STEP
        w = Window(self.index, self.at, self.work / f"window-{self.index:02d}.csv", set())
        stamp = _stamp(self.at)
        # lots whose sale day is over leave (after their auction)
        day = int(self.at.strftime("%Y%m%d"))
        past = [lot for lot, line in self.current.items() if int(_fields(line)[self.i_sale] or b"0") < day]
        for lot in self.rng.sample(past, min(len(past), round(self.vanish * self.rows))):
            self.gone_vins.append(_fields(self.current.pop(lot))[self.i_vin])
            w.gone.add(lot)
        # listed lots change: a new high bid, a newer Last Updated Time
        for lot in self.rng.sample(sorted(self.current), min(len(self.current), round(self.change * self.rows))):
            f = _fields(self.current[lot])
            f[self.i_bid] = f"{self.rng.randint(1, 400) * 25}.0".encode()
            f[self.i_lu] = stamp
            self.current[lot] = _line(f)
            w.changed.add(lot)
        # new lots arrive, some of them relisting a lot that left
        for _ in range(round(self.arrive * self.rows)):
            if not self.pool:
                break
            f = self.pool.pop()
            f[self.i_lu] = stamp
            lot = int(f[self.i_lot])
            if self.gone_vins and self.rng.random() < self.relist:
                f[self.i_vin] = self.gone_vins.pop(self.rng.randrange(len(self.gone_vins)))
                w.relists[lot] = f[self.i_vin]
            self.current[lot] = _line(f)
            w.new.add(lot)
        w.lots = set(self.current)
        return self._write(w)

    def _write(self, w: Window) -> Window:
        w.path.write_bytes(self.header + b"\n" + b"\n".join(self.current.values()) + b"\n")
        return w

    def expected(self) -> dict[int, tuple[datetime, int | None]]:
        """Per lot listed now: its Last Updated Time and high bid in cents (None for an empty bid)."""
        out = {}
        for lot, line in self.current.items():
            f = _fields(line)
            lu = datetime.fromisoformat(f[self.i_lu].decode().replace("Z", "+00:00"))
            bid = round(float(f[self.i_bid]) * 100) if f[self.i_bid] else None
            out[lot] = (lu, bid or None)
        return out
