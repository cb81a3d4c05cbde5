"""Shared helpers for the contract and signing-page tests: an in-memory database, terms."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

import storage.contract_models
import storage.tables  # noqa: F401  (core tables: candidate ...)
from contracts.files import ContractFiles
from contracts.service import create_contract, issue_signing_link
from contracts.terms import ContractTerms, parse_terms
from core.clock import Clock
from storage.crypto import Keyring
from storage.models import Candidate
from storage.types import bind_rows, install_keyring

if TYPE_CHECKING:
    from app.wiring import App

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
    event.listen(engine, "before_execute", bind_rows, retval=True)  # as storage.db does
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


def seed_signing_link(app: App, clock: Clock, files: ContractFiles) -> str:
    """A candidate with a contract out for signing, in ``app``'s real database; the token."""
    from tests.fakes.wechat_api import seed_job

    job_id = seed_job(app)
    with app.db.transaction() as s:
        candidate = Candidate(job_id=job_id, name="张三")
        s.add(candidate)
        s.flush()
        contract = create_contract(
            s, candidate_id=candidate.id or 0, terms=good_terms(), clock=clock, files=files
        )
        return issue_signing_link(s, contract, clock=clock).token


def blocked_terms() -> ContractTerms:
    return parse_terms(json.loads((FIXTURES / "terms_blocked.json").read_text("utf-8")))
