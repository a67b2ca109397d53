"""Lot photos (:mod:`vinops.images`) against real parts on loopback: an HTTP server plays the lot-images API and
the photo host from the real answers in ``tests/data/copart/image-api-urls-150.csv`` (URLs rewritten to the
server, trailing spaces kept), serving small JPEGs made here (SOI, JFIF, a comment, a SOF0 frame header, EOI);
a real PostgreSQL; the local photo store and moto's S3 server on 127.0.0.1 reached through prefect-aws.

The server's lots: two with ``_thb/_ful/_hrs`` per sequence (one answers 429 + Retry-After once, one photo
answers 503 once), four offered in HD only (one with a video at sequence 90, two sharing a photo's bytes
under different URLs, one reached through a redirect), an empty list, a 404 and one whose API always
answers 503.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import struct
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from vinops.config import Settings
from vinops.images import (
    LocalPhotoStore,
    LotPhotoRef,
    PhotoStore,
    S3PhotoStore,
    TokenBucket,
    content_type_for,
    fetch_photos,
    jpeg_size,
    lots_needing_photos,
    photo_key,
    photo_store_from,
    select_photos,
)

pytestmark = pytest.mark.db

FULL_A = 4683630538525  # thb/ful/hrs × 13 sequences; its seq 2 _ful answers 503 once
FULL_B = 49921795111  # thb/ful/hrs × 12 sequences; its API answers 429 (Retry-After: 2) once
HD_C = 97247597252885  # _hrs only (and one _vhrs)
HD_VIDEO = 99999945  # _hrs only, a video at sequence 90
SHARED_1 = 99999955  # its seq 1 has the same bytes as SHARED_2's seq 1; reached through a redirect
SHARED_2 = 99999965
EMPTY = 99999915  # an empty list
GONE = 99999855  # 404
BROKEN = 99999995  # the API always answers 503
ALL_LOTS = [FULL_A, FULL_B, HD_C, HD_VIDEO, SHARED_1, SHARED_2, EMPTY, GONE, BROKEN]

ACCESS_KEY = "AKIAVINOPSPHOTOTEST7"
SECRET_KEY = "vinops-photo-s3-secret-Kp4wR8"


def make_jpeg(width: int, height: int, payload: bytes) -> bytes:
    """A small JPEG as a camera writes its headers: SOI, APP0 JFIF, a comment (``payload``), SOF0, EOI."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    com = payload[:60000]
    sof0 = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return (
        b"\xff\xd8"
        + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0
        + b"\xff\xfe" + struct.pack(">H", len(com) + 2) + com
        + b"\xff\xc0" + struct.pack(">H", len(sof0) + 2) + sof0
        + b"\xff\xd9"
    )  # fmt: skip


SIZES = {"thb": (101, 76), "ful": (640, 480), "hrs": (1280, 960), "vhrs": (2048, 1536)}


def _variant(path: str) -> str:
    return path.rsplit("_", 1)[-1].split(".", 1)[0]


@pytest.fixture(scope="module")
def real_answers(copart_data: Path) -> dict[int, list[dict[str, Any]]]:
    """The real links, grouped as the API answers: lot → [{sequence, link: [{url, isThumbNail, isHdImage}]}]."""
    by_lot: dict[int, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    with open(copart_data / "image-api-urls-150.csv", newline="") as f:
        for row in csv.DictReader(f):
            by_lot[int(row["lot_number"])][int(row["sequence"])].append(
                {"url": row["url"], "isThumbNail": row["is_thumb_nail"] == "1", "isHdImage": row["is_hd_image"] == "1"}
            )
    return {lot: [{"sequence": s, "link": links} for s, links in sorted(seqs.items())] for lot, seqs in by_lot.items()}


class PhotoAPI:
    """The lot-images API (``/v1/lotImages/<lot>``, ``/redirect/…`` → 301 there) and the photo host (``/cs/…``)."""

    def __init__(self, answers: dict[int, list[dict[str, Any]]]) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.answers = answers
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.failed_once: set[str] = set()
        # the real URLs rewritten to this server (the trailing spaces kept), and the bytes of each photo
        self.photos: dict[str, bytes] = {}
        self.rewritten: dict[int, list[dict[str, Any]]] = {}
        shared_path: str | None = None
        for lot, items in answers.items():
            out = []
            for item in items:
                links = []
                for link in item["link"]:
                    raw = link["url"]
                    path = "/cs" + urlsplit(raw.strip()).path
                    links.append({**link, "url": self.base + path + raw[len(raw.rstrip()):]})
                    if not path.endswith(".mp4"):
                        w, h = SIZES[_variant(path)]
                        self.photos[path] = make_jpeg(w, h, path.encode() * 3)
                        if lot == SHARED_1 and item["sequence"] == 1:
                            shared_path = path
                out.append({"sequence": item["sequence"], "link": links})
            self.rewritten[lot] = out
        assert shared_path is not None
        for link in self.rewritten[SHARED_2][0]["link"]:  # SHARED_2's seq 1: other URL, same bytes
            self.photos[urlsplit(link["url"].strip()).path] = self.photos[shared_path]
        self.a_seq2_ful = next(
            urlsplit(link["url"].strip()).path
            for item in self.rewritten[FULL_A] if item["sequence"] == 2
            for link in item["link"] if "_ful" in link["url"]
        )  # fmt: skip
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def image_url(self, lot: int) -> str:
        head = "/redirect" if lot == SHARED_1 else ""
        return f"{self.base}{head}/v1/lotImages/{lot}?country=us&brand=cprt&yardNumber=33 "

    def photo_requests(self) -> int:
        with self.lock:
            return sum(n for p, n in self.requests.items() if p.startswith("/cs/"))

    def _once(self, what: str) -> bool:
        with self.lock:
            if what in self.failed_once:
                return False
            self.failed_once.add(what)
            return True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", ctype: str = "text/plain", **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                path = parts.path
                with api.lock:
                    api.requests[path] += 1
                if path.startswith("/redirect/"):
                    return self._send(301, Location=api.base + path[len("/redirect"):] + "?" + parts.query)
                if path.startswith("/v1/lotImages/"):
                    lot = int(path.rsplit("/", 1)[-1])
                    if lot == GONE:
                        return self._send(404, b'{"error":"not found"}', "application/json")
                    if lot == BROKEN:
                        return self._send(503, b"busy")
                    if lot == FULL_B and api._once("429"):
                        return self._send(429, b"slow down", Retry_After="2")
                    images = [] if lot == EMPTY else api.rewritten[lot]
                    body = json.dumps({"imgCount": len(images), "lotImages": images}).encode()
                    return self._send(200, body, "application/json")
                if path.startswith("/cs/"):
                    if path.endswith(".mp4"):
                        return self._send(200, b"\x00\x00\x00\x18ftypmp42", "video/mp4")
                    if path == api.a_seq2_ful and api._once("503"):
                        return self._send(503, b"try again")
                    data = api.photos.get(path)
                    if data is None:
                        return self._send(404)
                    return self._send(200, data, "image/jpeg")
                return self._send(404)

        return Handler


@pytest.fixture
def api(real_answers: dict[int, list[dict[str, Any]]]) -> Iterator[PhotoAPI]:
    server = PhotoAPI(real_answers)
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def _seed(conn: psycopg.Connection, api: PhotoAPI, lots: list[int] = ALL_LOTS) -> None:
    """Two windows; every lot ACTIVE with its Image URL; HD_VIDEO and HD_C are new in the second window,
    auctions one day apart in list order (FULL_A's the latest)."""
    ids = []
    for i, at in enumerate((NOW - timedelta(hours=2), NOW - timedelta(hours=1))):
        ids.append(conn.execute(
            "INSERT INTO raw.csv_files (sha256, bytes, window_at, window_at_source) VALUES (%s, 1, %s, 'given') RETURNING load_id",
            (f"{i:064x}", at),
        ).fetchone()[0])  # type: ignore[index]  # fmt: skip
    for n, lot in enumerate(lots):
        new = lot in (HD_VIDEO, HD_C)
        auction = NOW + timedelta(days=30 - n)
        conn.execute(
            """INSERT INTO lots (lot_number, row_hash, source_window_at, first_seen_at, load_id, auction_at,
                                 sale_date, image_url)
               VALUES (%s, 0, %s, %s, %s, %s, %s, %s)""",
            (lot, NOW, NOW - timedelta(hours=1 if new else 2), ids[1] if new else ids[0], auction, auction.date(),
             api.image_url(lot)),
        )  # fmt: skip
    conn.commit()


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", raw_dir=tmp_path / "raw", **kw)


class CountingStore:
    """A photo store that counts its uploads (and delegates everything)."""

    def __init__(self, inner: PhotoStore) -> None:
        self.inner = inner
        self.puts: list[str] = []
        self.lock = threading.Lock()

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def put(self, data: Any, key: str, content_type: str) -> None:
        with self.lock:
            self.puts.append(key)
        self.inner.put(data, key, content_type)

    def url_or_path(self, key: str) -> Any:
        return self.inner.url_or_path(key)


# ---------------------------------------------------------------------------------------------------------
# pure parts


def test_photo_key_is_content_addressed() -> None:
    sha = hashlib.sha256(b"photo").hexdigest()
    assert photo_key(sha, "jpg") == f"photos/{sha[:2]}/{sha[2:4]}/{sha}.jpg"
    assert photo_key(sha.upper(), ".JPEG") == photo_key(sha, "jpg")
    for bad in ("abc", "g" * 64, sha + "0"):
        with pytest.raises(ValueError):
            photo_key(bad, "jpg")
    with pytest.raises(ValueError):
        photo_key(sha, "../x")
    assert content_type_for(photo_key(sha, "jpg")) == "image/jpeg"
    assert content_type_for("x.png") == "image/png"


def test_jpeg_size_reads_the_frame_header() -> None:
    assert jpeg_size(make_jpeg(640, 480, b"x" * 100)) == (640, 480)
    assert jpeg_size(make_jpeg(1, 65535, b"")) == (1, 65535)
    assert jpeg_size(b"\xff\xd8\xff\xd9") is None
    assert jpeg_size(b"<html>") is None
    assert jpeg_size(make_jpeg(640, 480, b"")[:20]) is None  # cut before the frame header


def test_select_photos_keeps_ful_and_thb_trims_and_skips_video(real_answers: dict[int, list[dict[str, Any]]]) -> None:
    a = select_photos({"lotImages": real_answers[FULL_A]})
    assert len(a) == 26 and {p.variant for p in a} == {"ful", "thb"}
    assert all(p.url == p.url.strip() and p.url.endswith(f"_{p.variant}.jpg") and p.ext == "jpg" for p in a)
    assert len(select_photos({"lotImages": real_answers[FULL_A]}, hd=True)) == 39
    video = select_photos({"lotImages": real_answers[HD_VIDEO]})
    assert [p.seq for p in video] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14]  # no 90
    assert {p.variant for p in video} == {"hrs"}  # offered in HD only: kept as hrs
    assert video[-1].url.endswith("_vhrs.jpg")
    assert select_photos({"imgCount": 0, "lotImages": []}) == []
    with pytest.raises(ValueError):
        select_photos(["not", "an", "object"])


def test_token_bucket_by_an_injected_clock() -> None:
    t = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        t[0] += s

    bucket = TokenBucket(10.0, 50, clock=lambda: t[0], sleep=sleep)
    for _ in range(50):
        bucket.acquire()
    assert waits == [] and t[0] == 0.0  # the burst
    for _ in range(300):
        bucket.acquire()
    assert t[0] == pytest.approx(30.0)  # then exactly 10 a second
    assert all(w == pytest.approx(0.1) for w in waits)
    t[0] += 2.0  # two idle seconds save 20 tokens
    waits.clear()
    for _ in range(20):
        bucket.acquire()
    assert waits == []
    bucket.acquire(5)
    assert waits == [pytest.approx(0.5)]
    t[0] += 1000.0  # never more than the burst saved up
    waits.clear()
    for _ in range(51):
        bucket.acquire()
    assert waits == [pytest.approx(0.1)]
    with pytest.raises(ValueError):
        bucket.acquire(51)
    with pytest.raises(ValueError):
        TokenBucket(0, 1)


def test_token_bucket_counts_every_call_from_threads() -> None:
    t = [0.0]
    lock = threading.Lock()

    def sleep(s: float) -> None:
        with lock:
            t[0] = max(t[0], s)  # threads sleep at once: the clock ends at the longest debt

    bucket = TokenBucket(100.0, 10, clock=lambda: 0.0, sleep=sleep)
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(25)]) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert t[0] == pytest.approx((100 - 10) / 100.0)  # 100 tokens taken, 90 of them owed at 100/s


# ---------------------------------------------------------------------------------------------------------
# the whole path, local store


def test_fetch_into_a_local_store_and_rerun(conn: psycopg.Connection, api: PhotoAPI, tmp_path: Path) -> None:
    _seed(conn, api)
    settings = _settings(tmp_path)
    store = CountingStore(photo_store_from(settings))
    assert isinstance(store.inner, LocalPhotoStore) and store.inner.root == tmp_path / "data" / "photos"
    lots = lots_needing_photos(conn, retry_after=settings.photos_retry_after)
    assert sorted(r.lot_number for r in lots) == sorted(ALL_LOTS)
    assert all(r.image_url == r.image_url.strip() for r in lots)
    delays: list[float] = []
    progress: list[int] = []
    stats = fetch_photos(conn, lots, store, limiter=TokenBucket(1000.0, 1000), settings=settings,
                         sleep=delays.append, attempts=3, backoff=0.01,
                         progress=lambda s: progress.append(s.lots_done))  # fmt: skip
    # 26 + 24 + 13 + 12 + 12 + 12 photos; the shared one stored once
    assert stats.lots_done == len(ALL_LOTS) and progress == list(range(1, len(ALL_LOTS) + 1))
    assert stats.photos_stored + stats.photos_reused == 99
    assert stats.photos_reused == 1 and stats.photos_stored == 98 == len(store.puts) == len(set(store.puts))
    assert stats.lots_without_photos == 2
    assert [lot for lot, _ in stats.failures] == [BROKEN] and "503" in stats.failures[0][1]
    assert max(delays) == 2.0  # Retry-After of the 429
    assert api.requests["/v1/lotImages/" + str(BROKEN)] == 3  # three attempts, then failed
    assert api.requests[api.a_seq2_ful] == 2  # 503, then the photo
    assert not any(p.endswith(".mp4") for p in api.requests)  # the video is never asked for
    assert not any("_hrs" in p for p in api.requests if any(s in p for s in _paths_of(api, FULL_A, FULL_B)))
    assert api.requests["/redirect/v1/lotImages/" + str(SHARED_1)] == 1

    rows = conn.execute(
        "SELECT lot_number, seq, variant, storage_key, content_sha256, bytes, width, height, source_url FROM images"
    ).fetchall()
    assert len(rows) == 99
    for lot, seq, variant, key, sha, size, width, height, url in rows:
        data = store.inner.url_or_path(key).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha and len(data) == size and key == photo_key(sha, "jpg")
        assert url == url.strip() and url.startswith(api.base + "/cs/")
        assert (width, height) == SIZES[_variant(url)]  # vhrs kept as hrs: its own size
        assert variant == _variant(url).replace("vhrs", "hrs")
    per_lot = Counter(r[0] for r in rows)
    assert per_lot == {FULL_A: 26, FULL_B: 24, HD_C: 13, HD_VIDEO: 12, SHARED_1: 12, SHARED_2: 12}
    shared = conn.execute(
        "SELECT count(DISTINCT lot_number), count(DISTINCT storage_key) FROM images WHERE (lot_number, seq) IN ((%s, 1), (%s, 1))",
        (SHARED_1, SHARED_2),
    ).fetchone()  # fmt: skip
    assert shared == (2, 1)
    distinct = conn.execute("SELECT count(*), sum(bytes) FROM (SELECT DISTINCT storage_key, bytes FROM images) d").fetchone()
    assert distinct == (98, stats.bytes)
    files = [p for p in (tmp_path / "data" / "photos").rglob("*") if p.is_file()]
    assert len(files) == 98 and not any(p.name.startswith(".incoming") for p in files)

    checks = dict(conn.execute("SELECT lot_number, outcome FROM photo_checks").fetchall())
    assert checks == {FULL_A: "photos", FULL_B: "photos", HD_C: "photos", HD_VIDEO: "photos", SHARED_1: "photos",
                      SHARED_2: "photos", EMPTY: "none", GONE: "none", BROKEN: "failed"}  # fmt: skip
    assert conn.execute("SELECT photos FROM photo_checks WHERE lot_number = %s", (FULL_A,)).fetchone() == (26,)
    coverage = conn.execute("SELECT active_lots, with_photos, without_photos_none, without_photos_failed, never_checked, share FROM photo_coverage").fetchone()
    assert coverage is not None and coverage[:5] == (9, 6, 2, 1, 0) and float(coverage[5]) == pytest.approx(6 / 9, abs=1e-4)
    failures = conn.execute("SELECT lot_number, reason FROM photo_failures").fetchall()
    assert len(failures) == 1 and failures[0][0] == BROKEN and "503" in failures[0][1]

    # a rerun of the same lots: the API is asked, no photo is
    before = api.photo_requests()
    again = fetch_photos(conn, lots, store, limiter=TokenBucket(1000.0, 1000), settings=settings,
                         sleep=delays.append, attempts=2, backoff=0.01)  # fmt: skip
    assert api.photo_requests() == before
    assert again.photos_stored == again.photos_reused == 0 and again.photos_skipped == 99
    assert len(store.puts) == 98
    assert conn.execute("SELECT count(*) FROM images").fetchone() == (99,)

    # "none" and "failed" are honoured until retry_after passes; lots with photos are never asked again
    assert lots_needing_photos(conn, retry_after=timedelta(hours=24)) == []
    db_now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    assert lots_needing_photos(conn, retry_after=timedelta(hours=24), now=db_now + timedelta(hours=23)) == []
    later = lots_needing_photos(conn, retry_after=timedelta(hours=24), now=db_now + timedelta(hours=25))
    assert sorted(r.lot_number for r in later) == sorted([EMPTY, GONE, BROKEN])
    conn.execute("UPDATE photo_checks SET checked_at = checked_at - interval '2 hours' WHERE lot_number = %s", (GONE,))
    conn.commit()
    assert [r.lot_number for r in lots_needing_photos(conn, retry_after=timedelta(hours=1))] == [GONE]


def _paths_of(api: PhotoAPI, *lots: int) -> set[str]:
    return {urlsplit(link["url"].strip()).path for lot in lots for item in api.rewritten[lot] for link in item["link"]}


def test_hd_setting_keeps_hrs_too(conn: psycopg.Connection, api: PhotoAPI, tmp_path: Path) -> None:
    _seed(conn, api, [FULL_A])
    settings = _settings(tmp_path, photos_hd=True)
    stats = fetch_photos(conn, lots_needing_photos(conn), LocalPhotoStore(tmp_path / "p"),
                         limiter=TokenBucket(1000.0, 1000), settings=settings, sleep=lambda s: None)  # fmt: skip
    assert stats.photos_stored == 39 and not stats.failures
    variants = Counter(v for (v,) in conn.execute("SELECT variant FROM images").fetchall())
    assert variants == {"ful": 13, "thb": 13, "hrs": 13}


def test_order_new_lots_of_the_window_first_then_newest_auction(conn: psycopg.Connection, api: PhotoAPI) -> None:
    _seed(conn, api)
    newest_load = conn.execute("SELECT max(load_id) FROM raw.csv_files").fetchone()[0]  # type: ignore[index]
    by_auction = [r.lot_number for r in lots_needing_photos(conn)]
    assert by_auction == ALL_LOTS  # seeded with auctions one day apart, newest first
    first = [r.lot_number for r in lots_needing_photos(conn, load_id=newest_load, limit=4)]
    assert first == [HD_C, HD_VIDEO, FULL_A, FULL_B]
    conn.execute("UPDATE lots SET status = 'PENDING_RESULT', status_reason = 'vanished_after_auction', status_changed_at = now() WHERE lot_number = %s", (FULL_A,))
    conn.execute("UPDATE lots SET image_url = '  ' WHERE lot_number = %s", (FULL_B,))
    assert FULL_A not in [r.lot_number for r in lots_needing_photos(conn)]  # not ACTIVE
    assert FULL_B not in [r.lot_number for r in lots_needing_photos(conn)]  # no Image URL
    assert lots_needing_photos(conn, limit=0) == []


# ---------------------------------------------------------------------------------------------------------
# S3 (moto's server on loopback, through prefect-aws)


@pytest.fixture(scope="module")
def s3_endpoint(prefect_home: Path) -> Iterator[str]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    with pytest.MonkeyPatch.context() as mp:
        for name in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
            mp.delenv(name, raising=False)
        for name in list(os.environ):
            if name.startswith("AWS_"):
                mp.delenv(name)
        mp.setenv("AWS_CONFIG_FILE", str(prefect_home / "no-aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(prefect_home / "no-aws-credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        import prefect_aws  # noqa: F401 - imported here, under the session's temporary PREFECT_HOME
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)


def test_fetch_into_s3(conn: psycopg.Connection, api: PhotoAPI, tmp_path: Path, s3_endpoint: str) -> None:
    _seed(conn, api, [FULL_A, SHARED_1, SHARED_2, EMPTY])
    settings = _settings(tmp_path, photo_store="s3", photo_bucket="vinops-photos", photo_prefix="site/",
                         s3_endpoint_url=s3_endpoint, s3_region="us-east-1", s3_access_key_id=ACCESS_KEY,
                         s3_secret_access_key=SECRET_KEY)  # fmt: skip
    s3 = photo_store_from(settings)
    assert isinstance(s3, S3PhotoStore)
    client = s3._client
    client.create_bucket(Bucket="vinops-photos")
    store = CountingStore(s3)
    lots = lots_needing_photos(conn)
    stats = fetch_photos(conn, lots, store, limiter=TokenBucket(1000.0, 1000), settings=settings,
                         sleep=lambda s: None, concurrency=3)  # fmt: skip
    assert not stats.failures and stats.photos_stored == 26 + 12 + 11 and stats.photos_reused == 1
    objects = client.list_objects_v2(Bucket="vinops-photos")["Contents"]
    keys = {o["Key"] for o in objects}
    stored = {k for (k,) in conn.execute("SELECT DISTINCT storage_key FROM images").fetchall()}
    assert keys == {f"site/{k}" for k in stored} and len(keys) == 49
    for key in list(stored)[:10]:
        head = client.head_object(Bucket="vinops-photos", Key=f"site/{key}")
        assert head["ContentType"] == "image/jpeg"
        assert head["Metadata"]["sha256"] == key.rsplit("/", 1)[-1].split(".")[0]
        assert s3.exists(key) and s3.url_or_path(key) == f"s3://vinops-photos/site/{key}"
        body = client.get_object(Bucket="vinops-photos", Key=f"site/{key}")["Body"].read()
        assert photo_key(hashlib.sha256(body).hexdigest(), "jpg") == key
    assert not s3.exists(photo_key("0" * 64, "jpg"))

    # rerun: no photo request, no upload; a new row for a photo already in the bucket is not uploaded again
    before, puts = api.photo_requests(), len(store.puts)
    fetch_photos(conn, lots, store, limiter=TokenBucket(1000.0, 1000), settings=settings, sleep=lambda s: None)
    assert api.photo_requests() == before and len(store.puts) == puts
    conn.execute("DELETE FROM images WHERE lot_number = %s", (FULL_A,))
    conn.commit()
    redo = fetch_photos(conn, [LotPhotoRef(FULL_A, api.image_url(FULL_A))], store,
                        limiter=TokenBucket(1000.0, 1000), settings=settings, sleep=lambda s: None)  # fmt: skip
    assert redo.photos_stored == 0 and redo.photos_reused == 26 and len(store.puts) == puts


# ---------------------------------------------------------------------------------------------------------
# the command


def test_cli_images(db_url: str, api: PhotoAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from vinops.cli import main

    with psycopg.connect(db_url) as c:
        _seed(c, api, [FULL_A, GONE])
    for name in list(os.environ):
        if name.startswith("VINOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VINOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VINOPS_PHOTO_DIR", str(tmp_path / "photos"))
    monkeypatch.setenv("VINOPS_PHOTOS_RATE", "500")
    monkeypatch.setenv("VINOPS_PHOTOS_BURST", "100")
    assert main(["images", "--lots", "5", "--json", "--database-url", db_url]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lots_done"] == 2 and out["photos_stored"] == 26 and out["lots_without_photos"] == 1
    assert out["failures"] == [] and out["bytes"] > 0
    assert len([p for p in (tmp_path / "photos" / "photos").rglob("*.jpg")]) == 26
    assert main(["images", "--database-url", db_url]) == 0
    assert "0 done" in capsys.readouterr().out
