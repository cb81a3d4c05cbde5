"""Column types: UTC datetimes on every database, encrypted text bound to its row.

Binding encrypted fields to where they are stored
-------------------------------------------------
An :class:`EncryptedText` value is encrypted with AES-256-GCM whose associated data is
``<table>|<column>|<row key>`` (:func:`storage.crypto.field_binding`). A ciphertext
copied from one candidate's ID number into another's name, or into another row's
name, fails authentication on read with a :class:`~core.errors.CryptoError` that names
the table, column and row; it never decrypts to someone else's data.

The row key of a table is its primary key, or the unique column its ``info`` names
(``__table_args__ = {"info": {"row_key": "event_id"}}``): a natural key known before
the insert, for tables written on the per-event hot path (``inboxevent.event_id``).
A type decorator sees neither its column nor its row, so the binding travels with
the SQL, for ORM and Core statements alike:

* **Reads**: :meth:`EncryptedText.column_expression` selects
  ``<column> || '|<table>|<column>|' || CAST(<row key> AS TEXT)`` wherever the column
  is in the columns clause (SELECT and RETURNING; ORM loads, joins through aliases,
  Core selects). The database itself attaches the key of the row being read, so a
  moved ciphertext is checked against the row it now sits in. A column read from a
  subquery that does not carry its row key is refused when the statement compiles.
* **Writes**: :func:`bind_rows` is a ``before_execute`` hook on every engine
  (:func:`storage.db.make_engine`). For an INSERT or UPDATE of a table with encrypted
  columns it wraps each plaintext parameter in :class:`Bound` with its binding: the
  row key comes from the parameters (INSERT, the ORM's UPDATE by primary key) or from
  the ``WHERE <row key> = …`` criterion (Core UPDATE). An INSERT without its
  autoincrement primary key gets its ids allocated first, one statement for the whole
  (executemany) INSERT, never an UPDATE afterwards: ``max(id)`` under SQLite's write
  lock (every transaction starts ``BEGIN IMMEDIATE``, so it is the id SQLite would have
  chosen), ``nextval`` of the column's sequence on PostgreSQL. A plaintext that reaches
  :meth:`EncryptedText.process_bind_param` without a binding (a multi-row UPDATE, a
  comparison) is refused: write such values row by row.

Fields written before binding (``e1`` tokens) stay readable; migration ``0002`` and
``keys rotate`` rewrap them (:mod:`storage.rotate`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Column, DateTime, Insert, Table, Text, Update, cast, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ColumnElement,
    Label,
    literal_column,
)
from sqlalchemy.types import TypeDecorator

from core.errors import CryptoError
from storage.crypto import Keyring, field_binding

_keyring: Keyring | None = None

ROW_KEY = "row_key"  # Table.info entry naming a unique column to bind fields to
SEPARATOR = "|"


def install_keyring(keyring: Keyring | None) -> None:
    """Set the keyring used by :class:`EncryptedText` columns (done once at start)."""
    global _keyring
    _keyring = keyring


def current_keyring() -> Keyring:
    if _keyring is None:
        raise CryptoError("no keyring installed: call storage.db.open_database() first")
    return _keyring


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC, always returns timezone-aware datetimes (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Bound:
    """A plaintext on its way into an encrypted column, with the column's binding."""

    __slots__ = ("binding", "value")

    def __init__(self, value: str, binding: bytes) -> None:
        self.value = value
        self.binding = binding

    def __repr__(self) -> str:  # never the plaintext (logs, tracebacks)
        return f"Bound({self.binding.decode(errors='replace')!r})"


def row_key_column(table: Table) -> Column[Any]:
    """The column encrypted fields of ``table`` are bound to (see the module docstring)."""
    named = table.info.get(ROW_KEY)
    if named is not None:
        return table.c[named]
    keys = list(table.primary_key.columns)
    if len(keys) != 1:
        raise CryptoError(f"{table.name}: encrypted fields need a single-column row key")
    return keys[0]


def where_of(token_and_binding: str) -> tuple[str, str]:
    """Split a value read through :meth:`EncryptedText.column_expression`."""
    token, _sep, binding = token_and_binding.partition(SEPARATOR)
    return token, binding


class EncryptedText(TypeDecorator[str]):
    """Text encrypted with AES-256-GCM under the installed keyring, bound to its row."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, Bound):
            return current_keyring().encrypt_text(value.value, value.binding)
        raise CryptoError(
            "an encrypted column was written without its row binding (a multi-row UPDATE "
            "or a comparison?): write encrypted values row by row, see storage/types.py"
        )

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        inner: Any = colexpr
        while isinstance(inner, Label):
            inner = inner.element
        base = next(
            (
                c
                for c in getattr(inner, "base_columns", ())
                if isinstance(getattr(c, "table", None), Table)
            ),
            None,
        )
        selectable = getattr(inner, "table", None)
        if base is None or selectable is None:
            raise CryptoError(f"{colexpr}: an encrypted value can only be read as a column")
        table: Table = base.table
        key = row_key_column(table)
        here = selectable.corresponding_column(key)
        if here is None:
            raise CryptoError(
                f"{table.name}.{base.name} read without its row key {key.name}: "
                "read the column through its table, or a subquery that has the key"
            )
        where: ColumnElement[str] = literal_column(
            f"'{SEPARATOR}{table.name}{SEPARATOR}{base.name}{SEPARATOR}'"
        )
        return colexpr.op("||", return_type=self)(where).op("||", return_type=self)(
            cast(here, Text)
        )

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        token, binding = where_of(str(value))
        if not binding:
            raise CryptoError("an encrypted value was read without its row binding")
        try:
            return current_keyring().decrypt_text(token, binding.encode())
        except CryptoError as exc:
            table, column, row = binding.split(SEPARATOR, 2)
            raise CryptoError(
                f"{table}.{column} of row {row}: cannot decrypt ({exc}); the value was "
                "tampered with, or copied from another row or column"
            ) from exc


# ------------------------------------------------------------------ writes
_Params = dict[str, Any]


def _encrypted(table: Table) -> tuple[frozenset[str], Column[Any]] | None:
    cached = table.info.get("_encrypted", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    names = frozenset(c.key for c in table.columns if isinstance(c.type, EncryptedText))
    found = (names, row_key_column(table)) if names else None
    table.info["_encrypted"] = found
    return found


def _conjuncts(criteria: Sequence[ColumnElement[Any]]) -> Iterator[ColumnElement[Any]]:
    for crit in criteria:
        if isinstance(crit, BooleanClauseList) and crit.operator is operators.and_:
            yield from _conjuncts(list(crit.clauses))
        else:
            yield crit


def _key_criterion(stmt: Update, key: Column[Any]) -> BindParameter[Any] | None:
    for crit in _conjuncts(stmt._where_criteria):
        if not isinstance(crit, BinaryExpression) or crit.operator is not operators.eq:
            continue
        for side, other in ((crit.left, crit.right), (crit.right, crit.left)):
            table = getattr(side, "table", None)
            if (
                getattr(side, "key", None) == key.key
                and table is not None
                and getattr(table, "name", None) == key.table.name
                and isinstance(other, BindParameter)
            ):
                return other
    return None


def _allocate_ids(conn: Connection, table: Table, pk: Column[Any], n: int) -> list[int]:
    """``n`` new primary keys for ``table``, in order (see the module docstring)."""
    # Plain SQL on the driver: this runs before each such INSERT (the outbox's, per
    # event), and a Core statement costs ~0.1 ms more. Names come from our metadata.
    quote = conn.dialect.identifier_preparer.quote
    if conn.dialect.name == "sqlite":
        top = conn.exec_driver_sql(f"SELECT max({quote(pk.name)}) FROM {quote(table.name)}")  # noqa: S608
        start = int(top.scalar() or 0) + 1
        return list(range(start, start + n))
    if conn.dialect.name == "postgresql":
        seq = f"pg_get_serial_sequence('{table.name}', '{pk.name}')"
        ids = conn.exec_driver_sql(
            f"SELECT nextval({seq}) FROM generate_series(1, {int(n)})"  # noqa: S608
        ).scalars()
        return sorted(int(i) for i in ids)
    raise CryptoError(f"{conn.dialect.name}: cannot allocate ids for bound encrypted fields")


def _set_keys(elem: Update) -> set[str]:
    """The columns an UPDATE sets in the statement itself (``.values(...)``)."""
    return {k if isinstance(k, str) else str(getattr(k, "key", k)) for k in elem._values or ()}


def _update_keys(
    conn: Connection, elem: Update, table: Table, key: Column[Any], rows: list[_Params]
) -> list[Any]:
    """The row key of each parameter set of an UPDATE (from its WHERE criterion)."""
    crit = _key_criterion(elem, key)
    if crit is not None:
        return [row.get(crit.key, crit.effective_value) for row in rows]
    pks = list(table.primary_key.columns)
    by_pk = _key_criterion(elem, pks[0]) if len(pks) == 1 else None
    if by_pk is None:
        raise CryptoError(
            f"{table.name}: an UPDATE of encrypted fields must select one row by "
            f"{key.name} (write them row by row)"
        )
    # By primary key while the fields are bound to a natural key (the ORM updates by
    # primary key): look the keys up, one SELECT for the statement (never a hot path).
    wanted = [row.get(by_pk.key, by_pk.effective_value) for row in rows]
    found = {pk: k for pk, k in conn.execute(select(pks[0], key).where(pks[0].in_(wanted)))}
    return [found.get(pk) for pk in wanted]


def bind_rows(
    conn: Connection,
    elem: Any,
    multiparams: list[_Params],
    params: _Params,
    _options: Any,
) -> tuple[Any, list[_Params], _Params]:
    """``before_execute`` hook: give encrypted plaintexts their row binding.

    Register with ``event.listen(engine, "before_execute", bind_rows, retval=True)``.
    """
    if not isinstance(elem, Insert | Update):
        return elem, multiparams, params
    table = elem.table
    if not isinstance(table, Table):
        return elem, multiparams, params
    found = _encrypted(table)
    if found is None:
        return elem, multiparams, params
    names, key = found
    rows = multiparams or ([params] if params else [])
    if isinstance(elem, Update) and (
        any(key.key in row for row in rows) or key.key in _set_keys(elem)
    ):
        # Every field of the row is bound to the old key: they would not decrypt.
        raise CryptoError(f"{table.name}: {key.name} binds encrypted fields; it cannot change")
    if not any(names.intersection(row) for row in rows):
        return elem, multiparams, params
    rows = [dict(row) for row in rows]
    if isinstance(elem, Insert):
        missing = [row for row in rows if row.get(key.key) is None]
        if missing:
            if not (key.primary_key and key.autoincrement is not False):
                raise CryptoError(f"{table.name}: {key.name} is needed to bind encrypted fields")
            for row, new_id in zip(
                missing, _allocate_ids(conn, table, key, len(missing)), strict=True
            ):
                row[key.key] = new_id
        keys = [row[key.key] for row in rows]
    else:
        keys = _update_keys(conn, elem, table, key, rows)
    for row, row_key in zip(rows, keys, strict=True):
        if row_key is None:
            raise CryptoError(f"{table.name}: no {key.name} to bind encrypted fields to")
        for name in names.intersection(row):
            value = row[name]
            if isinstance(value, str):
                row[name] = Bound(value, field_binding(table.name, name, row_key))
    if multiparams:
        return elem, rows, {}
    return elem, [], rows[0]
