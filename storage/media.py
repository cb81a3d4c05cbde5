"""Media files (voice, video, PDFs) encrypted at rest under the data directory.

Every file is ``FILE_MAGIC + key id + nonce + AES-256-GCM ciphertext``
(:meth:`storage.crypto.Keyring.encrypt_file_bytes`) with the file's path relative to its
store as associated data, so a file moved or swapped to another name does not decrypt.
The same :class:`MediaStore` holds the contract PDFs under ``<data>/contracts``
(:func:`contract_files_root`); ``keys rotate`` re-encrypts both stores.

Where the encrypted bytes live is a :class:`Blobs` backend: files under the data
directory (:class:`FileBlobs`, the default) or an S3-compatible object store shared by
every machine (:class:`storage.s3_media.S3Blobs`, ``[media] backend = "s3"``). The
encryption, the associated data and the path rules are the store's, the same for both.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from core.errors import StorageError
from storage.crypto import FILE_MAGIC, Keyring
from storage.private import private_dir

CONTRACTS_FOLDER = "contracts"
_KID_END = len(FILE_MAGIC) + 8


def contract_files_root(data_dir: Path) -> Path:
    """Where contract PDFs live: ``<data_dir>/contracts/<contract no>/<name>.enc``."""
    return data_dir / CONTRACTS_FOLDER


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, owner-only (0600) in an owner-only folder."""
    private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class MediaNotFound(StorageError, FileNotFoundError):
    """No stored file by that name (also a ``FileNotFoundError``, for the key rotation
    that skips files deleted meanwhile)."""


def check_rel(rel: str) -> str:
    """A stored name is a relative POSIX path inside the store, in its one spelling."""
    if (
        not rel
        or rel.startswith("/")
        or "\\" in rel
        or "\x00" in rel
        or posixpath.normpath(rel) != rel
        or rel.split("/", 1)[0] == ".."
    ):
        raise StorageError("media path escapes the media folder")
    return rel


class Blobs(Protocol):
    """Where a store keeps its (already encrypted) bytes, by relative name."""

    def read(self, rel: str) -> bytes:
        """The bytes; raises :class:`~core.errors.StorageError` when there are none."""
        ...

    def write(self, rel: str, blob: bytes) -> None: ...

    def delete(self, rel: str) -> None: ...

    def exists(self, rel: str) -> bool: ...

    def head(self, rel: str, size: int) -> bytes:
        """The first ``size`` bytes (a file's header: which key encrypts it)."""
        ...

    def names(self, suffix: str) -> Iterator[str]:
        """Every stored name ending in ``suffix``, sorted (``keys rotate``, the census)."""
        ...


class FileBlobs:
    """Files under ``root``, owner-only, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, rel: str) -> bytes:
        try:
            return self._path(rel).read_bytes()
        except FileNotFoundError as exc:
            raise MediaNotFound(f"media {rel} not found") from exc

    def write(self, rel: str, blob: bytes) -> None:
        write_private(self._path(rel), blob)

    def delete(self, rel: str) -> None:
        self._path(rel).unlink(missing_ok=True)

    def exists(self, rel: str) -> bool:
        return self._path(rel).exists()

    def head(self, rel: str, size: int) -> bytes:
        try:
            with open(self._path(rel), "rb") as handle:
                return handle.read(size)
        except FileNotFoundError as exc:
            raise MediaNotFound(f"media {rel} not found") from exc

    def names(self, suffix: str) -> Iterator[str]:
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob(f"*{suffix}")):
            if path.is_file():
                yield path.relative_to(self.root).as_posix()

    def _path(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StorageError("media path escapes the media folder")
        return path


class MediaStore:
    """Stores bytes encrypted with AES-256-GCM; paths are relative to ``root`` (files)
    or to the bucket prefix (``blobs``)."""

    def __init__(self, root: Path, keyring: Keyring, blobs: Blobs | None = None) -> None:
        self.root = root
        self.keyring = keyring
        self.blobs: Blobs = blobs if blobs is not None else FileBlobs(root)

    def put(self, data: bytes, suffix: str = ".bin") -> tuple[str, str]:
        """Encrypt and store ``data`` under a new random name.

        Returns:
            (relative path, sha256 of the plaintext)
        """
        name = f"{uuid.uuid4().hex}{suffix}.enc"
        rel = f"{name[:2]}/{name}"
        return rel, self.write(rel, data)

    def write(self, rel: str, data: bytes) -> str:
        """Encrypt ``data`` into the file ``rel`` (replacing it); returns its sha256."""
        check_rel(rel)
        self.blobs.write(rel, self.keyring.encrypt_file_bytes(data, aad=rel.encode()))
        return hashlib.sha256(data).hexdigest()

    def get(self, rel: str) -> bytes:
        blob = self.blobs.read(check_rel(rel))
        return self.keyring.decrypt_file_bytes(blob, aad=rel.encode())

    def reencrypt(self, rel: str) -> bool:
        """Re-encrypt a file under the primary key; True if it changed."""
        blob = self.blobs.read(check_rel(rel))
        plain = self.keyring.decrypt_file_bytes(blob, aad=rel.encode())
        kid = blob[len(FILE_MAGIC) : _KID_END].decode("ascii")
        if kid == self.keyring.primary:
            return False
        self.blobs.write(rel, self.keyring.encrypt_file_bytes(plain, aad=rel.encode()))
        return True

    def delete(self, rel: str) -> None:
        self.blobs.delete(check_rel(rel))

    def exists(self, rel: str) -> bool:
        return self.blobs.exists(check_rel(rel))
