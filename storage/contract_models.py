"""Tables of the contracts capability: contracts, signing links, the audit trail, employees.

Personal data (the terms carry ID number and address; names; decline reasons) is stored
with :class:`EncryptedText`. Link tokens, codes and browser sessions are stored only as
hashes. Datetimes are timezone-aware UTC. Alembic owns the schema: the core migration is
generated from this metadata (``storage/tables.py`` must import this module).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from storage.types import EncryptedText, UTCDateTime


def _now_field(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


def _when(**kw: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, **kw)


class Contract(SQLModel, table=True):
    """A labour contract from draft to signed (or blocked, declined).

    ``status``: ``blocked`` (the pre-check found blocking problems; HR fixes the terms),
    ``draft`` (checked and rendered, not sent), ``sent`` (a signing link is out),
    ``signed`` (sealed PDF stored), ``declined`` (the candidate declined, with a reason).
    """

    __tablename__ = "contract"

    id: int | None = Field(default=None, primary_key=True)
    contract_no: str = Field(index=True, unique=True, max_length=40)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    status: str = Field(default="draft", index=True, max_length=16)
    contract_type: str = Field(max_length=16)
    language: str = Field(default="zh", max_length=5)
    terms_json: str = Field(sa_type=EncryptedText)  # ContractTerms as JSON
    # the pre-check's findings: [{"rule", "severity", "article", "message_zh", "message_en"}]
    findings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    start_date: dt.date | None = None
    end_date: dt.date | None = Field(default=None, index=True)
    unsigned_pdf_path: str | None = None
    unsigned_sha256: str | None = Field(default=None, max_length=64)
    pages: int = 0
    signed_pdf_path: str | None = None
    signed_sha256: str | None = Field(default=None, max_length=64)
    after_employee_sha256: str | None = Field(default=None, max_length=64)
    timestamp_source: str | None = None
    decline_reason: str | None = Field(default=None, sa_type=EncryptedText)
    created_by: str | None = Field(default=None, max_length=120)
    created_at: dt.datetime = _now_field()
    updated_at: dt.datetime = _now_field()
    sent_at: dt.datetime | None = _when()
    signed_at: dt.datetime | None = _when()
    declined_at: dt.datetime | None = _when()


class SigningLink(SQLModel, table=True):
    """A one-time signing link. Only hashes of the token, code and session are kept."""

    __tablename__ = "contract_signing_link"

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    used_at: dt.datetime | None = _when()
    revoked_at: dt.datetime | None = _when()
    code_hash: str | None = Field(default=None, max_length=64)
    code_expires_at: dt.datetime | None = _when()
    codes_sent: int = 0
    code_sent_at: dt.datetime | None = _when()
    wrong_tries: int = 0
    locked: bool = False
    verified_at: dt.datetime | None = _when()
    verified_method: str | None = Field(default=None, max_length=200)
    session_hash: str | None = Field(default=None, max_length=64)
    created_at: dt.datetime = _now_field()


class SigningEvent(SQLModel, table=True):
    """One row of a contract's audit trail (sent, opened, verified, signed, declined ...)."""

    __tablename__ = "contract_signing_event"

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    link_id: int | None = Field(default=None, foreign_key="contract_signing_link.id")
    kind: str = Field(max_length=40)
    at: dt.datetime = _now_field()
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=400)
    method: str = Field(default="", max_length=200)
    detail: str = Field(default="", sa_type=EncryptedText)


class Employee(SQLModel, table=True):
    """Someone hired through a signed contract; HR looks contracts and end dates up here."""

    __tablename__ = "employee"

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    contract_id: int = Field(foreign_key="contract.id", unique=True)
    name: str = Field(sa_type=EncryptedText)
    position: str = ""
    contract_type: str = Field(max_length=16)
    start_date: dt.date | None = None
    end_date: dt.date | None = Field(default=None, index=True)  # None: open-ended or task-based
    status: str = Field(default="active", max_length=16)  # active | ended
    archive_until: dt.date | None = None  # LCL Art. 50: two years after the contract ends
    created_at: dt.datetime = _now_field()
