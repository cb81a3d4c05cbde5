"""Shared helpers for the contract and signing-page tests: an in-memory database, terms."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

import storage.contract_models
import storage.tables  # noqa: F401  (core tables: candidate ...)
from contracts.files import ContractFiles
from contracts.terms import ContractTerms, parse_terms
from storage.crypto import Keyring
from storage.types import install_keyring

FIXTURES = Path(__file__).parents[1] / "fixtures" / "contracts"
Transaction = Callable[[], contextlib.AbstractContextManager[Session]]

assert storage.contract_models.Contract.__tablename__ == "contract"


FILE_KEYS = Keyring.generate()  # the data keyring the contract files are encrypted with


def contract_files(root: Path) -> ContractFiles:
    """The encrypted contract folder ``root`` (one keyring for the whole test session)."""
    return ContractFiles(root, FILE_KEYS)


def memory_engine() -> Engine:
    """One in-memory SQLite database shared by every thread (uvicorn, threadpool)."""
    install_keyring(Keyring.generate())
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    SQLModel.metadata.create_all(engine)
    return engine


def transaction_factory(engine: Engine) -> Transaction:
    """Like ``storage.db.Database.transaction``: commit on success, roll back on error."""

    @contextlib.contextmanager
    def transaction() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    return transaction


def base_terms() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "terms_fixed_term.json").read_text("utf-8"))
    return copy.deepcopy(data)


def good_terms(**changes: Any) -> ContractTerms:
    data = base_terms()
    data.update(changes)
    return parse_terms(data)


def blocked_terms() -> ContractTerms:
    return parse_terms(json.loads((FIXTURES / "terms_blocked.json").read_text("utf-8")))
