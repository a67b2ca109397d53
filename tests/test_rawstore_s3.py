"""The raw store in an S3-compatible bucket (:class:`vinops.rawstore.S3RawStore`) against a real S3 API on
loopback: moto in server mode on 127.0.0.1, reached through prefect-aws ``S3Bucket`` / ``AwsCredentials``
objects built in the test (never saved as blocks: no Prefect server is involved, ``PREFECT_HOME`` is a
temporary folder). The common behaviour is proven by running the same test body against
:class:`LocalRawStore` and :class:`S3RawStore`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from vinops.logs import MaskSecrets, add_secret
from vinops.rawstore import LocalRawStore, RawStore, RawStoreError, RawStoreIOError, S3RawStore

# prefect_aws is imported by the fixture, once PREFECT_HOME points to a temporary folder (importing Prefect
# creates its home folder).

ACCESS_KEY = "AKIAVINOPSRAWTEST42"
SECRET_KEY = "vinops-raw-s3-secret-Zq9xT2w7"
WHEN = datetime(2026, 1, 28, 9, 15, 42, tzinfo=timezone.utc)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def isolated_env(prefect_home: Path) -> Iterator[Path]:
    """Prefect and boto3 see only temporary folders and loopback; the root logger is restored afterwards
    (importing Prefect configures logging)."""
    home = prefect_home
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    werkzeug = logging.getLogger("werkzeug")
    saved_werkzeug = werkzeug.level
    with pytest.MonkeyPatch.context() as mp:
        for name in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
            mp.delenv(name, raising=False)
        for name in list(os.environ):
            if name.startswith("AWS_"):
                mp.delenv(name)
        mp.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        import prefect_aws  # noqa: F401 - imported here, under the temporary PREFECT_HOME
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        # Nothing outside the session's temporary home; no server but, if the flow tests run first, theirs.
        assert Path(settings.home) == home
        assert settings.api.url is None or settings.api.url.startswith("http://127.0.0.1:")

        werkzeug.setLevel(logging.WARNING)  # moto's request log
        try:
            yield home
        finally:
            werkzeug.setLevel(saved_werkzeug)
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)


@pytest.fixture(scope="module")
def s3_endpoint(isolated_env: Path) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        assert host == "127.0.0.1"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def make_s3(s3_endpoint: str, tmp_path: Path) -> Callable[..., S3RawStore]:
    """A factory of S3 stores, each test in its own new bucket."""
    bucket = f"vinops-raw-{uuid.uuid4().hex[:12]}"
    created: list[str] = []

    def make(**kw: Any) -> S3RawStore:
        kw.setdefault("workdir", tmp_path / "s3-work")
        store = S3RawStore(
            bucket,
            endpoint_url=s3_endpoint,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            region="us-east-1",
            **kw,
        )
        if not created:
            store._client.create_bucket(Bucket=bucket)
            created.append(bucket)
        return store

    return make


@pytest.fixture(params=["local", "s3"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., RawStore]:
    if request.param == "local":
        return lambda **kw: LocalRawStore(tmp_path / "raw" / kw.pop("name", "main"), **kw)
    make_s3 = request.getfixturevalue("make_s3")
    return lambda **kw: make_s3(prefix="raw/" + kw.pop("name", "main"), **kw)


def _stored_at(store: RawStore, key: str) -> float:
    if isinstance(store, LocalRawStore):
        return store.path(key).stat().st_mtime
    assert isinstance(store, S3RawStore)
    head = store._client.head_object(Bucket=store.bucket_name, Key=store.object_key(key))
    return float(head["LastModified"].timestamp())


def test_both_stores_have_the_same_interface_and_keys(make_store: Callable[..., RawStore], tmp_path: Path) -> None:
    store = make_store(compression="zstd", retention_days=7)
    assert isinstance(store, RawStore)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(b"first file\n" * 1000)
    b.write_bytes(b"second file, same minute\n")

    key_a = store.put(a, WHEN, _sha(a))
    assert key_a == "copart/2026/01/28/0915.csv.zst" == LocalRawStore(tmp_path / "x").key_for(WHEN)
    assert store.key_for(WHEN, _sha(b)) == LocalRawStore(tmp_path / "x").key_for(WHEN, _sha(b))
    assert store.put(a, WHEN, _sha(a)) == key_a  # idempotent
    key_b = store.put(b, WHEN, _sha(b))
    assert key_b == f"copart/2026/01/28/0915-{_sha(b)[:12]}.csv.zst"
    assert store.put(b, WHEN, _sha(b)) == key_b  # idempotent on the -sha12 key too
    assert store.sha256(key_a) == _sha(a) and store.sha256(key_b) == _sha(b)
    with store.open(key_a) as f:
        assert f.read() == a.read_bytes()

    # prepare (the copy starts before the key is known) → place, or discard.
    c = tmp_path / "c.csv"
    c.write_bytes(b"third file, next window\n")
    prepared = store.prepare(c, _sha(c))
    assert prepared.exists()
    later = datetime(2026, 1, 28, 9, 30, tzinfo=timezone.utc)
    assert store.place(prepared, later, _sha(c)) == "copart/2026/01/28/0930.csv.zst"
    assert not prepared.exists()
    dropped = store.prepare(c, _sha(c))
    store.discard(dropped)
    assert not dropped.exists()
    # A source that does not read back to the SHA-256 it is announced with is refused before it is stored.
    with pytest.raises(RawStoreError, match="SHA-256"):
        store.prepare(c, "0" * 64)

    plain = make_store(name="plain", compression="none")
    assert plain.put(a, WHEN, _sha(a)) == "copart/2026/01/28/0915.csv"
    with plain.open("copart/2026/01/28/0915.csv") as f:
        assert f.read() == a.read_bytes()

    # Retention by the time each file was stored: c is stored over a second after a and b.
    assert store.prune() == []  # nothing is 7 days old
    cut = _stored_at(store, "copart/2026/01/28/0930.csv.zst")
    assert cut - max(_stored_at(store, key_a), _stored_at(store, key_b)) < 5
    time.sleep(1.1)
    d = tmp_path / "d.csv"
    d.write_bytes(b"fourth file\n")
    key_d = store.put(d, datetime(2026, 1, 28, 9, 45, tzinfo=timezone.utc), _sha(d))
    kept_from = _stored_at(store, key_d)
    assert kept_from > cut
    pruned = store.prune(now=kept_from + 7 * 86400 - 0.001)
    assert pruned == sorted([key_a, key_b, "copart/2026/01/28/0930.csv.zst"])
    assert store.sha256(key_d) == _sha(d)
    with pytest.raises(FileNotFoundError):
        store.open(key_a)
    assert make_store(retention_days=0).prune(now=time.time() + 365 * 86400) == []
    assert store.prune(now=time.time() + 8 * 86400) == [key_d]


def test_s3_object_layout_metadata_and_bytes(make_s3: Callable[..., S3RawStore], tmp_path: Path) -> None:
    store = make_s3()  # prefix "raw" by default: raw/copart/… as in a local data folder
    src = tmp_path / "salesdata.csv"
    src.write_bytes(b"Id,Yard number,VIN\n" + b"1,2,1HGCM82633A004352\n" * 5000)
    key = store.put(src, WHEN, _sha(src))
    assert key == LocalRawStore(tmp_path / "l").key_for(WHEN)
    assert store.object_key(key) == "raw/copart/2026/01/28/0915.csv.zst"
    assert store.uri(key) == f"s3://{store.bucket_name}/raw/copart/2026/01/28/0915.csv.zst"
    obj = store._client.get_object(Bucket=store.bucket_name, Key=store.object_key(key))
    body = obj["Body"].read()
    assert obj["Metadata"] == {"sha256": _sha(src)}
    assert obj["ContentType"] == "application/zstd"
    assert len(body) < src.stat().st_size
    assert pa.CompressedInputStream(pa.BufferReader(body), "zstd").read() == src.read_bytes()
    # Only that one object: no temporary names in the bucket, no local copies left behind.
    listed = store._client.list_objects_v2(Bucket=store.bucket_name)["Contents"]
    assert [o["Key"] for o in listed] == [store.object_key(key)]
    assert [p.name for p in store.workdir.iterdir()] == []
    assert store.key_of(src) is None


def test_s3_store_from_an_s3_bucket_with_a_folder(make_s3: Callable[..., S3RawStore], tmp_path: Path) -> None:
    from prefect_aws import S3Bucket

    base = make_s3()  # makes the bucket
    bucket = S3Bucket(bucket_name=base.bucket_name, credentials=base.bucket.credentials, bucket_folder="team/")
    store = S3RawStore(bucket, prefix="", compression="none", workdir=tmp_path / "w")
    src = tmp_path / "s.csv"
    src.write_bytes(b"a,b\n1,2\n")
    key = store.put(src, WHEN, _sha(src))
    assert key == "copart/2026/01/28/0915.csv"
    assert store.object_key(key) == "team/copart/2026/01/28/0915.csv"
    obj = store._client.get_object(Bucket=store.bucket_name, Key="team/copart/2026/01/28/0915.csv")
    assert obj["Body"].read() == src.read_bytes() and obj["ContentType"] == "text/csv"
    assert store.prune(now=time.time() + 31 * 86400) == [key]
    with pytest.raises(ValueError, match="credentials"):
        S3RawStore(bucket, endpoint_url="http://127.0.0.1:1")


def test_s3_objects_put_there_by_someone_else(make_s3: Callable[..., S3RawStore], tmp_path: Path) -> None:
    """An object without our metadata is hashed; one whose content disagrees with its metadata is refused."""
    store = make_s3(compression="none")
    src = tmp_path / "s.csv"
    src.write_bytes(b"same content\n")
    client, name = store._client, store.bucket_name
    client.put_object(Bucket=name, Key=store.object_key(store.key_for(WHEN)), Body=src.read_bytes())
    assert store.put(src, WHEN, _sha(src)) == store.key_for(WHEN)  # same bytes: reused
    other = tmp_path / "o.csv"
    other.write_bytes(b"other content\n")
    assert store.put(other, WHEN, _sha(other)) == store.key_for(WHEN, _sha(other))

    bad_key = store.key_for(datetime(2026, 1, 28, 10, 0, tzinfo=timezone.utc))
    client.put_object(Bucket=name, Key=store.object_key(bad_key), Body=b"tampered\n", Metadata={"sha256": _sha(src)})
    with pytest.raises(RawStoreError, match="recorded SHA-256"):
        store.sha256(bad_key)
    with pytest.raises(RawStoreError, match="recorded SHA-256"):
        store.open(bad_key)
    with pytest.raises(FileNotFoundError):
        store.sha256("copart/2026/01/01/0000.csv")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_s3_credentials_never_in_logs_or_errors(
    make_s3: Callable[..., S3RawStore], s3_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add_secret(ACCESS_KEY)
    add_secret(SECRET_KEY)
    # Two handlers on the root logger: the first writes what it receives, the second masks first (it
    # rewrites the record in place, which is why the unmasked text is taken before it).
    unmasked, masked = io.StringIO(), io.StringIO()
    raw_handler = logging.StreamHandler(unmasked)
    raw_handler.addFilter(lambda r: r.name != "vinops.test")  # the lines this test logs on purpose
    handler = logging.StreamHandler(masked)
    for h in (raw_handler, handler):
        h.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.addFilter(MaskSecrets())
    root = logging.getLogger()
    root.addHandler(raw_handler)
    root.addHandler(handler)
    errors: list[str] = []
    try:
        with caplog.at_level(logging.DEBUG):
            store = make_s3()
            src = tmp_path / "s.csv"
            src.write_bytes(b"a,b\n")
            key = store.put(src, WHEN, _sha(src))
            assert store.sha256(key) == _sha(src)
            store.prune(now=time.time() + 40 * 86400)
            # A bucket that does not exist: refused, not retryable.
            missing = S3RawStore(
                "vinops-no-such-bucket", endpoint_url=s3_endpoint, access_key_id=ACCESS_KEY,
                secret_access_key=SECRET_KEY, region="us-east-1", workdir=tmp_path / "w",
            )
            with pytest.raises(RawStoreIOError) as refused:
                missing.put(src, WHEN, _sha(src))
            assert refused.value.code == "NoSuchBucket" and refused.value.retryable is False
            assert isinstance(refused.value, OSError)
            errors.append(str(refused.value))
            # Nothing listening: an I/O error that a retry may cure.
            unreachable = S3RawStore(
                "vinops-raw", endpoint_url=f"http://127.0.0.1:{_free_port()}", access_key_id=ACCESS_KEY,
                secret_access_key=SECRET_KEY, region="us-east-1", workdir=tmp_path / "w",
                client_config={"retries": {"max_attempts": 1}, "connect_timeout": 2},
            )
            with pytest.raises(RawStoreIOError) as down:
                unreachable.sha256(key)
            assert down.value.retryable is True
            errors.append(str(down.value))
            log = logging.getLogger("vinops.test")
            log.debug("store %r, credentials %s %s", store, ACCESS_KEY, SECRET_KEY)
            try:
                raise RuntimeError(f"refused for {ACCESS_KEY}:{SECRET_KEY}")
            except RuntimeError:
                log.exception("an error")
    finally:
        root.removeHandler(handler)
        root.removeHandler(raw_handler)
    # The secret key is never logged by the store, boto3 or Prefect. The access key id is: botocore logs the
    # SigV4 Authorization header at DEBUG; the filter masks it, as anything else a caller logs.
    raw = unmasked.getvalue()
    assert SECRET_KEY not in raw
    assert ACCESS_KEY in raw
    assert any(r.name.startswith("botocore") for r in caplog.records)  # DEBUG really was captured
    text = masked.getvalue()
    assert "botocore" in text and "***" in text
    assert ACCESS_KEY not in text and SECRET_KEY not in text
    for e in [*errors, repr(store), repr(missing)]:
        assert ACCESS_KEY not in e and SECRET_KEY not in e
    assert "vinops-no-such-bucket" in errors[0]


def test_importing_the_raw_store_does_not_import_prefect() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys, vinops.rawstore; print(sorted(m for m in ('prefect', 'prefect_aws', "
         "'boto3', 'botocore') if m in sys.modules))"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert out.stdout.strip() == "[]"


def test_s3_large_file_goes_up_in_parts_and_is_confirmed(make_s3: Callable[..., S3RawStore], tmp_path: Path) -> None:
    """Above boto3's multipart threshold (8 MiB) the object appears only when the upload completes; its metadata
    and size are confirmed as for a single PUT."""
    store = make_s3(compression="none")
    src = tmp_path / "big.csv"
    src.write_bytes(os.urandom(9 << 20))
    key = store.put(src, WHEN, _sha(src))
    head = store._client.head_object(Bucket=store.bucket_name, Key=store.object_key(key))
    assert head["ContentLength"] == 9 << 20 and head["Metadata"] == {"sha256": _sha(src)}
    assert "-" in head["ETag"]  # a multipart upload's ETag
    assert store.sha256(key) == _sha(src)
