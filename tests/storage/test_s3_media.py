"""Media in an S3-compatible object store: moto's S3 server on 127.0.0.1, started here,
spoken to over HTTP by boto3 exactly as a real bucket would be."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import CryptoError, StorageError
from core.settings import Settings
from storage import rotate
from storage.crypto import FILE_MAGIC, Keyring
from storage.db import open_database
from storage.media import MediaNotFound, MediaStore
from storage.s3_media import S3Blobs, s3_blobs
from tests.conftest import make_settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server_module = pytest.importorskip("moto.server", reason="needs moto[server]")
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_settings(tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # boto3's own chain, as in production
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bucket = f"b-{tmp_path.name.lower().replace('_', '-')[:40]}"
    settings = make_settings(
        tmp_path,
        media={"backend": "s3", "s3_endpoint_url": s3_endpoint, "s3_bucket": bucket},
    )
    s3_blobs(settings).client.create_bucket(Bucket=bucket)
    return settings


def test_media_are_encrypted_in_the_bucket_and_read_back(s3_settings: Settings) -> None:
    blobs = s3_blobs(s3_settings)
    store = MediaStore(Path("unused"), Keyring.generate(), blobs)
    data = b"OggS voice of a candidate" * 10
    rel, digest = store.put(data, ".ogg")
    raw = blobs.client.get_object(Bucket=blobs.bucket, Key="media/" + rel)["Body"].read()
    assert raw.startswith(FILE_MAGIC) and data[:20] not in raw
    assert store.get(rel) == data and len(digest) == 64
    assert store.exists(rel)
    store.delete(rel)
    assert not store.exists(rel)
    with pytest.raises(MediaNotFound):
        store.get(rel)


def test_the_path_rules_hold_in_the_bucket(s3_settings: Settings) -> None:
    blobs = s3_blobs(s3_settings)
    store = MediaStore(Path("unused"), Keyring.generate(), blobs)
    rel, _ = store.put(b"secret answer")
    # Copied to another name, the object does not decrypt (the name is associated data).
    other = "ab/" + rel.split("/")[1]
    blobs.client.copy_object(
        Bucket=blobs.bucket,
        Key="media/" + other,
        CopySource={"Bucket": blobs.bucket, "Key": "media/" + rel},
    )
    with pytest.raises(CryptoError, match="failed authentication"):
        store.get(other)
    for bad in ("../x.enc", "a/../../x.enc", "/etc/passwd", "a//b.enc", "./a.enc", "a\\b"):
        with pytest.raises(StorageError, match="escapes"):
            store.get(bad)
        with pytest.raises(StorageError, match="escapes"):
            store.write(bad, b"x")


def test_reencrypt_under_a_new_key_in_the_bucket(s3_settings: Settings) -> None:
    old = Keyring.generate()
    blobs = s3_blobs(s3_settings)
    rel, _ = MediaStore(Path("unused"), old, blobs).put(b"answer")
    fresh = Keyring.generate()
    new = Keyring(keys=fresh.keys | old.keys, primary=fresh.primary, index_key=old.index_key)
    store = MediaStore(Path("unused"), new, blobs)
    assert store.reencrypt(rel) is True
    assert store.reencrypt(rel) is False
    assert store.get(rel) == b"answer"


def test_the_configured_database_keeps_media_in_the_bucket(s3_settings: Settings) -> None:
    db = open_database(s3_settings)
    try:
        assert isinstance(db.media.blobs, S3Blobs)
        rel, _ = db.media.put(b"voice")
        assert not (s3_settings.app.data_dir / "media" / rel).exists()
        assert db.media.get(rel) == b"voice"
    finally:
        db.engine.dispose()


def test_keys_rotate_reencrypts_the_media_in_the_bucket(
    tmp_path: Path, s3_endpoint: str, s3_settings: Settings
) -> None:
    """``keys rotate`` finds the media by listing the bucket, not the data folder: after
    it, every object is under the new key, the census agrees, and only the new key is
    needed to read them."""
    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    media: dict[str, object] = {
        "backend": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_bucket": s3_settings.media.s3_bucket,
    }
    first = make_settings(tmp_path, media=media, security={"data_key": k1})
    db = open_database(first)
    rels = [db.media.put(f"voice {n}".encode(), ".ogg")[0] for n in range(3)]
    old_kid = db.keyring.primary
    assert rotate.census(db)["files"] == {old_kid: 3}
    db.close()

    report = rotate.rotate(
        make_settings(tmp_path, media=media, security={"data_key": k2, "data_key_old": k1})
    )
    assert report.files == 3

    db = open_database(make_settings(tmp_path, media=media, security={"data_key": k2}))
    try:
        assert db.keyring.primary != old_kid
        assert rotate.census(db)["files"] == {db.keyring.primary: 3}
        assert [db.media.get(rel) for rel in rels] == [b"voice 0", b"voice 1", b"voice 2"]
        assert not list((tmp_path / "data" / "media").rglob("*.enc"))
    finally:
        db.close()
