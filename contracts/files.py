"""Contract PDFs on disk, encrypted at rest with the data keyring.

A contract's files live in ``<data>/contracts/<contract no>/``: ``contract.pdf.enc`` (the
unsigned text) and ``signed.pdf.enc`` (the sealed one). They are written and read through
a :class:`storage.media.MediaStore` rooted at that folder, so they use the same format,
keyring and rotation (``python main.py keys rotate``) as every other media file. The
database keeps each file's path and the SHA-256 of the *plaintext* PDF, which signature
validation and the tamper check need.

Files written before encryption at rest (``contract.pdf``, plaintext, starting with
``%PDF``) are still read; ``keys rotate`` encrypts them (:mod:`storage.rotate`). Nothing
here writes plaintext to disk: callers get bytes and keep them in memory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from core.errors import StorageError
from storage.crypto import FILE_MAGIC, Keyring
from storage.media import MediaStore, contract_files_root

ENC = ".enc"
UNSIGNED = "contract.pdf"
SIGNED = "signed.pdf"
PDF_MAGIC = b"%PDF"


class ContractFiles:
    """The encrypted contract folder: ``<root>/<contract no>/<name>.enc``."""

    def __init__(self, root: Path, keyring: Keyring) -> None:
        self.store = MediaStore(root, keyring)

    @classmethod
    def in_data_dir(cls, data_dir: Path, keyring: Keyring) -> ContractFiles:
        """The contract folder of a deployment (``<data_dir>/contracts``)."""
        return cls(contract_files_root(data_dir), keyring)

    @property
    def root(self) -> Path:
        return self.store.root

    def write(self, contract_no: str, name: str, pdf: bytes) -> str:
        """Encrypt ``pdf`` as ``<contract no>/<name>.enc``; returns the path to record."""
        rel = self._rel(contract_no, name + ENC)
        self.store.write(rel, pdf)
        return str(self.store.root / rel)

    def read(self, contract_no: str, recorded: str) -> bytes:
        """The plaintext PDF behind a recorded path (encrypted, or a plaintext legacy file).

        Raises:
            StorageError: the file is missing, or does not decrypt (changed, wrong key).
        """
        name = Path(recorded).name
        if name.endswith(ENC):
            return self._decrypt(self._rel(contract_no, name))
        legacy = self.store.root / self._rel(contract_no, name)
        try:
            data = legacy.read_bytes()
        except FileNotFoundError:
            # ``keys rotate`` encrypted it after the caller loaded the row.
            return self._decrypt(self._rel(contract_no, name + ENC))
        if data.startswith(FILE_MAGIC):
            return self._decrypt(self._rel(contract_no, name))
        return data

    def delete_contract(self, contract_no: str) -> int:
        """Delete the contract's folder (PDFs, stray page images); returns files removed."""
        folder = self.store.root / self._rel(contract_no, UNSIGNED)
        folder = folder.parent
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        return count

    def _decrypt(self, rel: str) -> bytes:
        return self.store.get(rel)

    @staticmethod
    def _rel(contract_no: str, name: str) -> str:
        if not contract_no or "/" in contract_no or contract_no in (".", ".."):
            raise StorageError("not a contract number")
        if "/" in name or name in (".", ".."):
            raise StorageError("not a contract file name")
        return f"{contract_no}/{name}"
