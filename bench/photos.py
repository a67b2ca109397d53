"""Photos per second on loopback: ``vinops.images.fetch_photos`` against a local HTTP server playing the
lot-images API and the photo host, into a local photo store, on a dedicated embedded PostgreSQL.

    .venv/bin/python bench/photos.py [--lots 200] [--per-lot 5] [--concurrency 4]

Two runs on fresh tables: (1) the limiter out of the way (a token bucket of 10^9/s): what the client, the
store and the database manage; (2) the default limiter of the settings (10 requests/s, burst 50): what the
deployment's rate allows. Each lot's answer lists ``--per-lot`` sequences with ``_ful`` and ``_thb`` (and a
video entry the client must skip); every photo is distinct (no sharing), about 60 KB (``_ful``) and 5 KB
(``_thb``). Prints one line per run: lots, photos, requests, seconds, photos/s, requests/s, MB/s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

from _common import ensure_xdg, fresh_database, start_server


def _jpeg(width: int, height: int, size: int, tag: bytes) -> bytes:
    """A JPEG's headers (SOI, SOF0 with the size, a comment carrying ``tag``), padded to ``size`` bytes, EOI."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    comment = b"\xff\xfe" + struct.pack(">H", 2 + len(tag)) + tag
    pad = max(0, size - 2 - len(sof) - len(comment) - 2)
    return b"\xff\xd8" + sof + comment + b"\x00" * pad + b"\xff\xd9"


def serve(per_lot: int) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = self.path.split("?")[0].strip("/").split("/")
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if parts[:2] == ["v1", "lotImages"]:
                lot = parts[2]
                images = [
                    {"sequence": s, "link": [
                        {"url": f"{base}/p/{lot}_{s}_ful.jpg ", "isThumbNail": False, "isHdImage": False},
                        {"url": f"{base}/p/{lot}_{s}_thb.jpg ", "isThumbNail": True, "isHdImage": False},
                        {"url": f"{base}/p/{lot}_{s}_hrs.jpg ", "isThumbNail": False, "isHdImage": True},
                    ]}
                    for s in range(1, per_lot + 1)
                ] + [{"sequence": 90, "link": [{"url": f"{base}/p/{lot}_90_O.mp4 ", "isThumbNail": False,
                                                "isHdImage": False}]}]  # fmt: skip
                body = json.dumps({"imgCount": per_lot, "lotImages": images}).encode()
                ctype = "application/json"
            elif parts[0] == "p" and parts[1].endswith(".jpg"):
                name = parts[1]
                body = _jpeg(640, 480, 5_000 if "_thb" in name else 60_000, name.encode())
                ctype = "image/jpeg"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def run(url: str, base: str, lots: int, limiter: object, settings: object, concurrency: int, work: Path) -> dict:
    from vinops.images import LocalPhotoStore, fetch_photos, lots_needing_photos
    from vinops.sample import write_sample
    from vinops.window import WindowOptions, ingest_file

    sample = work / "s.csv"
    write_sample(sample, rows=lots, seed=3, defect_rate=0.0)
    ingest_file(sample, settings, WindowOptions(store_raw=False), database_url=url)  # type: ignore[arg-type]
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE lots SET image_url = %s || '/v1/lotImages/' || lot_number", (base,))
        conn.commit()
        refs = lots_needing_photos(conn, limit=lots)
        store = LocalPhotoStore(work / "photos")
        t0 = time.perf_counter()
        stats = fetch_photos(conn, refs, store, limiter=limiter, settings=settings, concurrency=concurrency)
        seconds = time.perf_counter() - t0
    d = stats.to_dict()
    return {"lots": len(refs), "photos": d["photos_stored"], "requests": d.get("requests"), "bytes": d["bytes"],
            "failures": len(d["failures"]), "seconds": round(seconds, 3)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lots", type=int, default=200)
    ap.add_argument("--per-lot", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    ensure_xdg()
    from vinops.config import Settings
    from vinops.images import TokenBucket

    base_dir = Path(tempfile.mkdtemp(prefix="vinops-photos-bench-"))
    server, pg_url = start_server(base_dir)
    http, base = serve(args.per_lot)
    try:
        for label, make_limiter in (
            ("limiter off (10^9/s)", lambda s: TokenBucket(rate=1e9, burst=10**6)),
            ("default limiter (10/s, burst 50)", lambda s: TokenBucket(rate=s.photos_rate, burst=s.photos_burst)),
        ):
            work = base_dir / label.split()[0]
            work.mkdir()
            settings = Settings(data_dir=work / "data", raw_dir=work / "raw")
            lots = args.lots if label.startswith("limiter off") else min(args.lots, 20)
            r = run(fresh_database(pg_url), base, lots, make_limiter(settings), settings, args.concurrency, work)
            s = r["seconds"] or 1e-9
            req = r["requests"] or 0
            print(
                f"{label:34} {r['lots']:>5} lots {r['photos']:>6} photos {req:>6} requests {r['seconds']:>8.2f} s "
                f"{r['photos'] / s:>8.1f} photos/s {req / s:>8.1f} requests/s {r['bytes'] / s / 1e6:>6.1f} MB/s"
                + (f"  ({r['failures']} failed lots)" if r["failures"] else "")
            )
    finally:
        http.shutdown()
        server.cleanup()
        shutil.rmtree(base_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
