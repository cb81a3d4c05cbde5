"""Media files (voice, video, PDFs) encrypted at rest under the data directory."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from core.errors import StorageError
from storage.crypto import Keyring


class MediaStore:
    """Stores bytes encrypted with AES-256-GCM; paths are relative to ``root``."""

    def __init__(self, root: Path, keyring: Keyring) -> None:
        self.root = root
        self.keyring = keyring

    def put(self, data: bytes, suffix: str = ".bin") -> tuple[str, str]:
        """Encrypt and store ``data``.

        Returns:
            (relative path, sha256 of the plaintext)
        """
        digest = hashlib.sha256(data).hexdigest()
        name = f"{uuid.uuid4().hex}{suffix}.enc"
        rel = f"{name[:2]}/{name}"
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as handle:
            handle.write(self.keyring.encrypt_file_bytes(data, aad=rel.encode()))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        return rel, digest

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
        kid = blob[6:14].decode("ascii")
        if kid == self.keyring.primary:
            return False
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.keyring.encrypt_file_bytes(plain, aad=rel.encode()))
        os.replace(tmp, path)
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
