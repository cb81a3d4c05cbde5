"""``python main.py keys rotate``: re-encrypt everything under a new data key, online.

Key file mode (the embedded default):

1. A new key is added to the key file as the primary; the old key stays in the ring.
   Running processes follow the key file (:meth:`storage.crypto.Keyring.refresh`):
   they read the new key the first time they meet a ciphertext made with it and start
   encrypting with it within ``Keyring.RELOAD_SECONDS``. The rotation waits a grace
   period for that before it starts.
2. Every :class:`~storage.types.EncryptedText` column of every table (found through
   ``storage.tables.metadata``) is re-encrypted in small batches, one short transaction
   each; a row changed by someone else in between is left for the next pass (the update
   is conditional on the old ciphertext). A field is rewrapped with its binding to
   table, column and row (``e2``, see :mod:`storage.types`): fields still ``e1`` (written
   before binding, by any key) count as ``unbound`` in the census and are rewrapped too,
   even under the new key. Then every file of the media store and every
   contract PDF (``<data>/contracts``). Contract PDFs written before encryption at rest
   (plaintext) are encrypted in the same passes and their rows pointed at the new file;
   page images the old signing page cached as plaintext PNGs are deleted.
3. A census checks that nothing is left under an old key (re-running the passes if a
   straggler appeared); only then is the old key dropped from the key file.

Readers never fail: until the last step both keys are in every ring. If the command is
interrupted it can simply be run again: a key file with more than one key means "a
rotation is under way", so the same new key is kept and only what is still under an
old key is re-encrypted (every pass skips what is already under the primary key).

``DATA_KEY`` mode: keys from the environment cannot be changed by this command. The
procedure is :data:`ENV_PROCEDURE`: set ``DATA_KEY`` to a new key and ``DATA_KEY_OLD`` to
the previous one, restart, run ``keys rotate``, then remove ``DATA_KEY_OLD`` and restart.
Blind indexes (``*_hash`` columns) derive from ``DATA_KEY``, so this mode recomputes them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Column, Table, Text, case, func, inspect, select, type_coerce, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from core.errors import ConfigError, CryptoError
from core.settings import Settings
from storage.contract_models import Contract
from storage.crypto import (
    BOUND_PREFIX,
    FILE_MAGIC,
    PREFIX,
    Keyring,
    field_binding,
    is_bound,
    load_keyring,
    write_keyring,
)
from storage.db import Database, open_database
from storage.media import MediaStore, contract_files_root
from storage.tables import metadata
from storage.types import EncryptedText, row_key_column

log = logging.getLogger(__name__)

ENV_PROCEDURE = """DATA_KEY is set, so the key lives in your environment and this command cannot
change it. To rotate without downtime:
  1. python main.py keys generate            -> a new key (base64)
  2. set DATA_KEY=<the new key> and DATA_KEY_OLD=<the current key> for every process
     of the deployment, and restart them one by one (both keys are readable)
  3. python main.py keys rotate              -> re-encrypts every field and file under
     DATA_KEY and recomputes the lookup hashes; it says when nothing is left
  4. remove DATA_KEY_OLD and restart the processes again
Keep the old key in your secret store until step 4 is done."""

Progress = Callable[[str, int], None]
_HEADER = len(FILE_MAGIC) + 8
UNBOUND = "unbound"  # census key for fields not yet bound to their row (``e1`` tokens)
ENC = ".enc"
PLAINTEXT = "plaintext"  # census key for contract files not yet encrypted


@dataclass
class RotationReport:
    mode: str  # key_file | env
    primary: str
    old_keys: list[str]
    resumed: bool = False
    fields: int = 0
    files: int = 0  # media and contract files re-encrypted, plaintext contract PDFs encrypted
    hashes: int = 0
    dropped: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- discovery
def encrypted_tables(db: Database) -> list[tuple[Table, list[Column[str]]]]:
    """Tables present in the database with their ``EncryptedText`` columns."""
    present = set(inspect(db.engine).get_table_names())
    found: list[tuple[Table, list[Column[str]]]] = []
    for table in metadata.sorted_tables:
        if table.name not in present:
            continue
        cols = [c for c in table.columns if isinstance(c.type, EncryptedText)]
        if not cols:
            continue
        if len(table.primary_key.columns) != 1:
            raise CryptoError(f"{table.name}: re-encryption needs a single-column primary key")
        found.append((table, cols))
    return found


def _raw(column: Column[str]) -> ColumnElement[str]:
    """The stored ciphertext, without the column type decrypting it."""
    return type_coerce(column, Text)


def _kid(token: str) -> str:
    prefix, kid, _rest = token.split(":", 2)
    if prefix not in (PREFIX, BOUND_PREFIX):
        raise ValueError("not an encrypted field")
    return kid


@dataclass
class _Row:
    pk: object
    key: object  # the row key the fields are bound to (storage/types.py)
    values: dict[str, str | None]

    def binding(self, table: Table, column: Column[str]) -> bytes:
        return field_binding(table.name, column.name, self.key)


def _batches(
    db: Database, table: Table, cols: list[Column[str]], size: int
) -> Iterator[list[_Row]]:
    pk = next(iter(table.primary_key.columns))
    key = row_key_column(table)
    last: object = None
    while True:
        query = (
            select(pk, key.label("row_key_"), *(_raw(c).label(c.name) for c in cols))
            .order_by(pk)
            .limit(size)
        )
        if last is not None:
            query = query.where(pk > last)
        with db.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        last = rows[-1][0]
        yield [
            _Row(row[0], row[1], {c.name: row[i + 2] for i, c in enumerate(cols)}) for row in rows
        ]


# ---------------------------------------------------------------- passes
def reencrypt_fields(
    db: Database, ring: Keyring, *, batch_size: int = 500, progress: Progress | None = None
) -> int:
    """Re-encrypt every encrypted field not under ``ring.primary`` or not bound to its
    row (an ``e1`` token, see :mod:`storage.crypto`); returns how many."""
    changed = 0
    for table, cols in encrypted_tables(db):
        pk = next(iter(table.primary_key.columns))
        for batch in _batches(db, table, cols, batch_size):
            done = 0
            with db.transaction() as session:
                for row in batch:
                    new: dict[str, object] = {}
                    same: list[ColumnElement[bool]] = []
                    for col in cols:
                        token = row.values[col.name]
                        if token is None:
                            continue
                        binding = row.binding(table, col)
                        try:
                            if _kid(token) == ring.primary and is_bound(token):
                                continue
                            plain = ring.decrypt_text(token, binding)
                        except (ValueError, CryptoError) as exc:
                            raise CryptoError(
                                f"{table.name}.{col.name} row {row.pk}: cannot decrypt ({exc}); "
                                "nothing was dropped"
                            ) from exc
                        new[col.name] = type_coerce(ring.encrypt_text(plain, binding), Text)
                        same.append(_raw(col) == token)
                    if new:
                        # Conditional on the old ciphertext: a concurrent writer wins and
                        # its value is picked up by the next pass if it needs it.
                        result = session.execute(
                            update(table).where(pk == row.pk, *same).values(new)
                        )
                        done += len(new) if result.rowcount == 1 else 0  # type: ignore[attr-defined]
            changed += done
            if progress is not None:
                progress(table.name, done)
    return changed


def _encrypted_files(root: Path) -> Iterator[str]:
    if not root.exists():
        return
    for path in sorted(root.rglob(f"*{ENC}")):
        if path.is_file():
            yield path.relative_to(root).as_posix()


def media_files(db: Database) -> Iterator[str]:
    """Relative paths of every encrypted file in the media store (a folder or a bucket)."""
    return db.media.blobs.names(ENC)


def contracts_root(db: Database) -> Path:
    """The contract folder beside the media store (``<data>/contracts``)."""
    return contract_files_root(db.media.root.parent)


def contract_store(db: Database, ring: Keyring) -> MediaStore:
    """The encrypted contract PDFs as a store (paths ``<contract no>/<name>.enc``)."""
    return MediaStore(contracts_root(db), ring)


def contract_files(db: Database) -> Iterator[str]:
    """Relative paths of every encrypted contract file."""
    return _encrypted_files(contracts_root(db))


def _file_kid(store: MediaStore, rel: str) -> str | None:
    """The id of the key that encrypts ``rel`` (None: not an encrypted file)."""
    head = store.blobs.head(rel, _HEADER)
    if not head.startswith(FILE_MAGIC) or len(head) < _HEADER:
        return None
    return head[len(FILE_MAGIC) :].decode("ascii", errors="replace")


def _reencrypt_store(
    store: MediaStore, rels: Iterator[str], ring: Keyring, label: str,
    batch_size: int, progress: Progress | None,
) -> int:  # fmt: skip
    changed = 0
    pending = 0
    for rel in rels:
        try:
            kid = _file_kid(store, rel)
            if kid is None or kid == ring.primary:
                continue
            if store.reencrypt(rel):
                changed += 1
                pending += 1
        except FileNotFoundError:
            continue  # deleted meanwhile (retention, /deleteme)
        if progress is not None and pending >= batch_size:
            progress(label, pending)
            pending = 0
    if progress is not None and pending:
        progress(label, pending)
    return changed


def reencrypt_media(
    db: Database, ring: Keyring, *, batch_size: int = 100, progress: Progress | None = None
) -> int:
    """Re-encrypt every media file not under ``ring.primary``; returns how many."""
    if db.media.keyring is not ring:
        raise CryptoError("the media store must use the rotation's keyring")
    return _reencrypt_store(db.media, media_files(db), ring, "media", batch_size, progress)


def reencrypt_contract_files(
    db: Database, ring: Keyring, *, batch_size: int = 100, progress: Progress | None = None
) -> int:
    """Re-encrypt every contract PDF not under ``ring.primary``; returns how many."""
    store = contract_store(db, ring)
    return _reencrypt_store(store, contract_files(db), ring, "contracts", batch_size, progress)


# ------------------------------------------------------- plaintext contract files
_LEGACY_PDFS = ("contract.pdf", "signed.pdf")  # what the old code wrote in a contract's folder
_CA_FOLDER = "ca"  # the embedded signing CA (contracts.signing.ca_folder): never touched


def _plaintext_contract_files(root: Path) -> Iterator[Path]:
    """Contract files from before encryption at rest: ``<no>/contract.pdf`` and
    ``<no>/signed.pdf``, their temporary files (``*.pdf.tmp``) and the page images the
    signing page cached (``<no>/pages/page-N.png``), all plaintext. Nothing else in the
    folder is matched: not the signing CA in ``ca/``, not a file being written now
    (``*.enc.tmp``)."""
    if not root.exists():
        return
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name == _CA_FOLDER:
            continue
        for name in _LEGACY_PDFS:
            for path in (folder / name, folder / f"{name}.tmp"):
                if path.is_file():
                    yield path
        pages = folder / "pages"
        if pages.is_dir():
            yield from (p for p in sorted(pages.glob("page-*.png")) if p.is_file())


def encrypt_plaintext_contract_files(
    db: Database, ring: Keyring, *, progress: Progress | None = None
) -> int:
    """Encrypt contract PDFs written before encryption at rest; returns how many.

    A PDF a contract row points at is encrypted to ``<name>.enc`` and the row updated,
    in one transaction that holds the contract row; the plaintext is deleted after the
    commit. Readers that loaded the old path still find the file (see
    :meth:`contracts.files.ContractFiles.read`). Plaintext that no row points at (a
    stale copy, a crashed write's temporary file, a cached page image) is deleted.
    """
    root = contracts_root(db)
    store = MediaStore(root, ring)
    done = removed = 0
    for path in list(_plaintext_contract_files(root)):
        parts = path.relative_to(root).parts
        if len(parts) != 2 or path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
            removed += 1
            continue
        number, name = parts
        with db.transaction() as session:
            query = select(Contract).where(col(Contract.contract_no) == number).with_for_update()
            contract = session.execute(query).scalars().first()
            columns = [
                column
                for column in ("unsigned_pdf_path", "signed_pdf_path")
                if contract is not None
                and (recorded := getattr(contract, column))
                and Path(recorded).name == name
            ]
            if columns:
                try:
                    plain = path.read_bytes()
                except FileNotFoundError:
                    continue  # deleted meanwhile (retention, /deleteme)
                rel = f"{number}/{name}{ENC}"
                store.write(rel, plain)
                for column in columns:
                    setattr(contract, column, str(root / rel))
                session.add(contract)
        path.unlink(missing_ok=True)
        if columns:
            done += 1
        else:
            removed += 1
    for folder in sorted(root.glob("*/pages")) if root.exists() else []:
        with contextlib.suppress(OSError):
            folder.rmdir()  # the old page-image cache, now empty
    if removed:
        log.info("keys rotate: deleted %d stale plaintext contract file(s)", removed)
    if progress is not None and done:
        progress("contracts (plaintext)", done)
    return done


def recompute_blind_indexes(db: Database, ring: Keyring, *, batch_size: int = 500) -> int:
    """Make every ``X_hash`` column match ``ring.blind_index(X)`` (after an index key change)."""
    changed = 0
    for table, cols in encrypted_tables(db):
        pairs = [(c, table.c[f"{c.name}_hash"]) for c in cols if f"{c.name}_hash" in table.c]
        if not pairs:
            continue
        pk = next(iter(table.primary_key.columns))
        for batch in _batches(db, table, [c for c, _h in pairs], batch_size):
            keys = [row.pk for row in batch]
            with db.engine.connect() as conn:
                hashes = {
                    row[0]: row[1:]
                    for row in conn.execute(
                        select(pk, *(h for _c, h in pairs)).where(pk.in_(keys))
                    ).all()
                }
            with db.transaction() as session:
                for row in batch:
                    new: dict[str, str] = {}
                    for i, (col, hcol) in enumerate(pairs):
                        token = row.values[col.name]
                        if token is None:
                            continue
                        plain = ring.decrypt_text(token, row.binding(table, col))
                        wanted = ring.blind_index(plain)
                        if hashes[row.pk][i] != wanted:
                            new[hcol.name] = wanted
                    if new:
                        session.execute(update(table).where(pk == row.pk).values(new))
                        changed += len(new)
    return changed


def census(db: Database) -> dict[str, dict[str, int]]:
    """How many fields and files each key id encrypts.

    ``{"fields": {kid: n}, "files": {kid: n}, "contract_files": {kid: n}}``; contract
    files still in plaintext count under ``"plaintext"``, fields not yet bound to their
    row (``e1``, whatever their key) under ``"unbound"``.
    """
    fields: dict[str, int] = {}
    with db.engine.connect() as conn:
        for _table, cols in encrypted_tables(db):
            for col in cols:
                key_of = case(
                    (func.substr(_raw(col), 1, len(PREFIX) + 1) == f"{PREFIX}:", UNBOUND),
                    else_=func.substr(_raw(col), len(BOUND_PREFIX) + 2, 8),
                )
                for key_id, count in conn.execute(
                    select(key_of, func.count()).where(col.is_not(None)).group_by(key_of)
                ).all():
                    fields[str(key_id)] = fields.get(str(key_id), 0) + int(count)
    files: dict[str, int] = {}
    for rel in media_files(db):
        try:
            file_kid = _file_kid(db.media, rel) or "?"
        except FileNotFoundError:
            continue
        files[file_kid] = files.get(file_kid, 0) + 1
    contracts: dict[str, int] = {}
    root = contracts_root(db)
    contract_files_store = contract_store(db, db.keyring)
    for rel in contract_files(db):
        try:
            file_kid = _file_kid(contract_files_store, rel) or "?"
        except FileNotFoundError:
            continue
        contracts[file_kid] = contracts.get(file_kid, 0) + 1
    plain = sum(1 for _path in _plaintext_contract_files(root))
    if plain:
        contracts[PLAINTEXT] = plain
    return {"fields": fields, "files": files, "contract_files": contracts}


def _leftovers(db: Database, primary: str) -> int:
    counts = census(db)
    return sum(n for part in counts.values() for kid, n in part.items() if kid != primary)


def _passes(
    db: Database, ring: Keyring, report: RotationReport, batch_size: int, progress: Progress | None
) -> None:
    for _attempt in range(3):
        report.fields += reencrypt_fields(db, ring, batch_size=batch_size, progress=progress)
        report.files += reencrypt_media(db, ring, progress=progress)
        report.files += encrypt_plaintext_contract_files(db, ring, progress=progress)
        report.files += reencrypt_contract_files(db, ring, progress=progress)
        left = _leftovers(db, ring.primary)
        if left == 0:
            return
        log.warning("%d fields or files still under an old key; another pass", left)
    raise CryptoError(
        "some data is still encrypted under an old key after three passes (is another "
        "process writing with a stale key?); both keys were kept, run the command again"
    )


# ---------------------------------------------------------------- the command
def rotate(
    settings: Settings,
    *,
    batch_size: int = 500,
    grace_seconds: float | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RotationReport:
    """Rotate the data key (see the module docstring).

    Raises:
        ConfigError: ``DATA_KEY`` is set without ``DATA_KEY_OLD`` (the message is the
            procedure to follow).
        CryptoError: something could not be decrypted or stayed under an old key; the
            old key is kept, the command can be run again.
    """
    sec = settings.security
    if sec.data_key is not None:
        if sec.data_key_old is None:
            raise ConfigError(ENV_PROCEDURE)
        ring = load_keyring(
            sec.key_file, sec.data_key.get_secret_value(), sec.data_key_old.get_secret_value()
        )
        report = RotationReport(
            "env", ring.primary, [k for k in ring.keys if k != ring.primary], resumed=True
        )
        db = open_database(settings, keyring=ring)
        try:
            _passes(db, ring, report, batch_size, progress)
            report.hashes = recompute_blind_indexes(db, ring, batch_size=batch_size)
        finally:
            db.engine.dispose()
        return report

    ring = load_keyring(sec.key_file, None)
    resumed = len(ring.keys) > 1
    if not resumed:
        fresh = Keyring.generate()
        ring = Keyring(
            keys={**ring.keys, fresh.primary: fresh.keys[fresh.primary]},
            primary=fresh.primary,
            index_key=ring.index_key,
        )
        write_keyring(sec.key_file, ring)
        ring.follow(sec.key_file)
        log.info("keys rotate: new primary key %s added to the key file", ring.primary)
    else:
        log.info("keys rotate: resuming the rotation to key %s", ring.primary)
    report = RotationReport(
        "key_file", ring.primary, [k for k in ring.keys if k != ring.primary], resumed=resumed
    )
    db = open_database(settings, keyring=ring)
    try:
        if not resumed:
            # Let running processes notice the new primary before the passes start.
            sleep(3 * Keyring.RELOAD_SECONDS if grace_seconds is None else grace_seconds)
        _passes(db, ring, report, batch_size, progress)
    finally:
        db.engine.dispose()
    final = Keyring(
        keys={ring.primary: ring.keys[ring.primary]},
        primary=ring.primary,
        index_key=ring.index_key,
    )
    write_keyring(sec.key_file, final)
    report.dropped = report.old_keys
    log.info("keys rotate: done; dropped %d old key(s)", len(report.dropped))
    return report


def status(settings: Settings) -> tuple[Keyring, dict[str, dict[str, int]]]:
    """The keyring in use and the census of what each key encrypts."""
    db = open_database(settings)
    try:
        return db.keyring, census(db)
    finally:
        db.engine.dispose()
