"""Media files (voice, video, PDFs) encrypted at rest under the data directory.

Every file is ``FILE_MAGIC + key id + nonce + AES-256-GCM ciphertext``
(:meth:`storage.crypto.Keyring.encrypt_file_bytes`) with the file's path relative to its
store as associated data, so a file moved or swapped to another name does not decrypt.
The same :class:`MediaStore` holds the contract PDFs under ``<data>/contracts``
(:func:`contract_files_root`); ``keys rotate`` re-encrypts both stores.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

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


class MediaStore:
    """Stores bytes encrypted with AES-256-GCM; paths are relative to ``root``."""

    def __init__(self, root: Path, keyring: Keyring) -> None:
        self.root = root
        self.keyring = keyring

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
        path = self._path(rel)
        write_private(path, self.keyring.encrypt_file_bytes(data, aad=rel.encode()))
        return hashlib.sha256(data).hexdigest()

    def get(self, rel: str) -> bytes:
        path = self._path(rel)
        try:
            blob = path.read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"media {rel} not found") from exc
        return self.keyring.decrypt_file_bytes(blob, aad=rel.encode())

    def reencrypt(self, rel: str) -> bool:
        """Re-encrypt a file under the primary key; True if it changed."""
        path = self._path(rel)
        blob = path.read_bytes()
        plain = self.keyring.decrypt_file_bytes(blob, aad=rel.encode())
        kid = blob[len(FILE_MAGIC) : _KID_END].decode("ascii")
        if kid == self.keyring.primary:
            return False
        write_private(path, self.keyring.encrypt_file_bytes(plain, aad=rel.encode()))
        return True

    def delete(self, rel: str) -> None:
        self._path(rel).unlink(missing_ok=True)

    def exists(self, rel: str) -> bool:
        return self._path(rel).exists()

    def _path(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StorageError("media path escapes the media folder")
        return path
