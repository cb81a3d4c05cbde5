"""Field and file encryption at rest (AES-256-GCM) and keyed hashes for lookups.

Ciphertexts name the key that made them, so a keyring can hold an old and a new key
while ``keys rotate`` re-encrypts: readers never stop.

Text fields come in two versions:

* ``e2:<key id>:<base64>`` is bound to where it is stored: the associated data of the
  AES-GCM tag is :func:`field_binding` (table, column, row key), so a ciphertext copied
  into another row or column fails authentication. :mod:`storage.types` supplies the
  binding on every write and read (see there for how the row key is found).
* ``e1:<key id>:<base64>`` has no associated data: what the code wrote before binding.
  It stays readable so that a database can be migrated online (migration ``0002``, and
  ``keys rotate``, rewrap every ``e1`` field as ``e2``); nothing writes it any more.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import ConfigError, CryptoError

log = logging.getLogger(__name__)

PREFIX = "e1"  # unbound (legacy) text fields; the key id follows at the same offset
BOUND_PREFIX = "e2"  # text fields bound to their table, column and row
FILE_MAGIC = b"CIENC1"


def _kid(key: bytes) -> str:
    return hashlib.sha256(b"kid" + key).hexdigest()[:8]


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass
class Keyring:
    """Encryption keys by id; ``primary`` encrypts, any key decrypts."""

    keys: dict[str, bytes]
    primary: str
    index_key: bytes
    _aead: dict[str, AESGCM] = field(default_factory=dict, repr=False)
    # The key file this ring follows (``keys rotate`` changes it while the bot runs).
    source: Path | None = field(default=None, repr=False, compare=False)
    _seen: tuple[float, int] = field(default=(0.0, 0), repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # How often (seconds) encryption checks the followed key file for a new primary key.
    RELOAD_SECONDS: ClassVar[float] = 2.0

    def __post_init__(self) -> None:
        if self.primary not in self.keys:
            raise ConfigError("security: primary key id not in keyring")
        for kid, key in self.keys.items():
            if len(key) != 32:
                raise ConfigError(f"security: key {kid} must be 32 bytes (AES-256)")
            self._aead[kid] = AESGCM(key)

    @classmethod
    def from_key(cls, key: bytes, index_key: bytes | None = None) -> Keyring:
        kid = _kid(key)
        return cls(keys={kid: key}, primary=kid, index_key=index_key or _derive(key, b"index"))

    @classmethod
    def generate(cls) -> Keyring:
        return cls.from_key(AESGCM.generate_key(bit_length=256))

    # -- following a key file (rotation without downtime) ------------------
    def follow(self, path: Path) -> Keyring:
        """Adopt new keys and a new primary when ``path`` changes (see ``storage/rotate.py``)."""
        self.source = path
        try:
            self._seen = (time.monotonic(), path.stat().st_mtime_ns)
        except OSError:
            self._seen = (time.monotonic(), 0)
        return self

    def refresh(self, *, now: bool = False) -> bool:
        """Re-read the followed key file if it changed; True if the ring changed.

        Keys are only ever added in memory: a key dropped from the file stays usable
        here, which is harmless once nothing is encrypted under it any more.
        """
        if self.source is None:
            return False
        checked, mtime = self._seen
        if not now and time.monotonic() - checked < self.RELOAD_SECONDS:
            return False
        with self._lock:
            try:
                current = self.source.stat().st_mtime_ns
                if current == mtime:
                    self._seen = (time.monotonic(), mtime)
                    return False
                other = Keyring.from_json(self.source.read_text())
            except (OSError, ValueError, KeyError, ConfigError):
                log.warning("could not re-read the key file; keeping the keys in memory")
                self._seen = (time.monotonic(), mtime)
                return False
            for kid, key in other.keys.items():
                if kid not in self.keys:
                    self.keys[kid] = key
                    self._aead[kid] = AESGCM(key)
            self.index_key = other.index_key
            self.primary = other.primary
            self._seen = (time.monotonic(), current)
            return True

    # -- bytes -------------------------------------------------------------
    def encrypt_bytes(self, plaintext: bytes, aad: bytes = b"") -> tuple[str, bytes]:
        self.refresh()
        nonce = os.urandom(12)
        primary = self.primary
        return primary, nonce + self._aead[primary].encrypt(nonce, plaintext, aad)

    def decrypt_bytes(self, kid: str, blob: bytes, aad: bytes = b"") -> bytes:
        aead = self._aead.get(kid)
        if aead is None and self.refresh(now=True):
            aead = self._aead.get(kid)
        if aead is None:
            raise CryptoError(f"no key with id {kid} in the keyring")
        try:
            return aead.decrypt(blob[:12], blob[12:], aad)
        except InvalidTag as exc:
            raise CryptoError("ciphertext failed authentication") from exc

    # -- text fields -------------------------------------------------------
    def encrypt_text(self, plaintext: str, binding: bytes | None = None) -> str:
        """Encrypt a text field; with ``binding`` (see :func:`field_binding`) an ``e2``
        token that only decrypts with the same binding, without it a legacy ``e1`` one."""
        if binding is None:
            kid, blob = self.encrypt_bytes(plaintext.encode("utf-8"))
            return f"{PREFIX}:{kid}:{base64.b64encode(blob).decode('ascii')}"
        kid, blob = self.encrypt_bytes(plaintext.encode("utf-8"), binding)
        return f"{BOUND_PREFIX}:{kid}:{base64.b64encode(blob).decode('ascii')}"

    def decrypt_text(self, token: str, binding: bytes | None = None) -> str:
        """Decrypt an ``e1`` token, or an ``e2`` token made with the same ``binding``.

        Raises:
            CryptoError: not a token, unknown key, tampered, or (``e2``) made for another
                table, column or row.
        """
        try:
            prefix, kid, b64 = token.split(":", 2)
        except ValueError as exc:
            raise CryptoError("not an encrypted field") from exc
        if prefix == PREFIX:
            return self.decrypt_bytes(kid, base64.b64decode(b64)).decode("utf-8")
        if prefix != BOUND_PREFIX:
            raise CryptoError("not an encrypted field")
        if binding is None:
            raise CryptoError("a bound field read without its table, column and row")
        return self.decrypt_bytes(kid, base64.b64decode(b64), binding).decode("utf-8")

    def key_id_of(self, token: str) -> str:
        return token.split(":", 2)[1]

    # -- files -------------------------------------------------------------
    def encrypt_file_bytes(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        kid, blob = self.encrypt_bytes(plaintext, aad)
        return FILE_MAGIC + kid.encode("ascii") + blob

    def decrypt_file_bytes(self, data: bytes, aad: bytes = b"") -> bytes:
        if not data.startswith(FILE_MAGIC):
            raise CryptoError("not an encrypted file")
        kid = data[len(FILE_MAGIC) : len(FILE_MAGIC) + 8].decode("ascii")
        return self.decrypt_bytes(kid, data[len(FILE_MAGIC) + 8 :], aad)

    # -- lookups -----------------------------------------------------------
    def blind_index(self, value: str) -> str:
        """Keyed hash for equality lookups (e.g. phone) without storing the value."""
        normal = "".join(value.split()).lower()
        return hmac.new(self.index_key, normal.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- persistence -------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "primary": self.primary,
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
                "index": base64.b64encode(self.index_key).decode(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        data = json.loads(text)
        return cls(
            keys={k: base64.b64decode(v) for k, v in data["keys"].items()},
            primary=data["primary"],
            index_key=base64.b64decode(data["index"]),
        )


def field_binding(table: str, column: str, row_key: object) -> bytes:
    """The associated data of an ``e2`` field: ``<table>|<column>|<row key>``.

    Table and column names never contain ``|``, so the three parts are unambiguous.
    The row key is rendered as the database renders ``CAST(key AS TEXT)``.
    """
    return f"{table}|{column}|{row_key}".encode()


def is_bound(token: str) -> bool:
    """True for an ``e2`` (bound) token."""
    return token.startswith(BOUND_PREFIX + ":")


def write_keyring(path: Path, keyring: Keyring) -> None:
    """Write the key file with owner-only permissions (atomic replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, stat.S_IRWXU)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(keyring.to_json())
    os.replace(tmp, path)


def _env_key(value: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ConfigError(f"{name}: must be base64 of 32 random bytes") from exc
    if len(raw) != 32:
        raise ConfigError(f"{name}: must be base64 of 32 random bytes")
    return raw


def load_keyring(key_file: Path, data_key: str | None, data_key_old: str | None = None) -> Keyring:
    """Keyring from ``DATA_KEY`` (base64 of 32 bytes) or the key file, made on first run.

    ``DATA_KEY_OLD`` (only with ``DATA_KEY``) keeps the previous key readable while
    ``keys rotate`` re-encrypts everything under ``DATA_KEY``. A key file ring follows
    its file, so a running process picks up a rotation without a restart.
    """
    if data_key:
        ring = Keyring.from_key(_env_key(data_key, "DATA_KEY"))
        if data_key_old:
            old = _env_key(data_key_old, "DATA_KEY_OLD")
            ring = Keyring(
                keys={_kid(old): old, **ring.keys}, primary=ring.primary, index_key=ring.index_key
            )
        return ring
    if data_key_old:
        raise ConfigError("DATA_KEY_OLD: only meaningful together with DATA_KEY")
    if key_file.exists():
        mode = key_file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"security.key_file: {key_file} is readable by others; chmod 600 it")
        try:
            return Keyring.from_json(key_file.read_text()).follow(key_file)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"security.key_file: {key_file} is not a valid key file") from exc
    keyring = Keyring.generate()
    write_keyring(key_file, keyring)
    keyring.follow(key_file)
    log.warning(
        "generated a new data encryption key in %s (owner-only); back it up, "
        "or set DATA_KEY in production",
        key_file,
    )
    return keyring


def new_token(nbytes: int = 18) -> str:
    """An unguessable URL-safe token."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
