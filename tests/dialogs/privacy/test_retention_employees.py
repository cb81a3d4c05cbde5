"""Retention of employee records: kept until the archive date (LCL Art. 50), then purged
with their contracts, signing trail and encrypted PDFs, and the purge audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlmodel import col, select

from app.wiring import App
from contracts.files import ContractFiles
from contracts.service import (
    complete_signing,
    create_contract,
    issue_signing_link,
    new_code,
    open_link,
    verify_code,
)
from contracts.signing import SignatureMark, build_signer
from contracts.terms import ContractTerms, parse_terms
from core.clock import FakeClock
from dialogs.privacy import retention
from storage.contract_models import Contract, Employee, SigningEvent, SigningLink
from storage.models import AuditEvent, Candidate
from tests.contracts.support import base_terms
from tests.harness import Chat

START = dt.datetime(2026, 2, 20, 2, 0, tzinfo=dt.UTC)


def terms_for(name: str, **changes: Any) -> ContractTerms:
    data = base_terms()
    data["employee"] = {**data["employee"], "name": name}
    data.update(changes)
    return parse_terms(data)


def hire(app: App, candidate_id: int, terms: ContractTerms) -> Contract:
    """The whole signing flow through the service, as the signing page drives it."""
    settings, clock = app.settings, app.services.clock
    files = ContractFiles.in_data_dir(settings.app.data_dir, app.db.keyring)
    signer = build_signer(settings.contracts, settings.app.data_dir, clock=clock)
    with app.db.transaction() as s:
        contract = create_contract(
            s, candidate_id=candidate_id, terms=terms, clock=clock, files=files
        )
        token = issue_signing_link(s, contract, clock=clock).token
    with app.db.transaction() as s:
        link, contract = open_link(s, token, clock=clock)
        secret = verify_code(
            s, link, contract, new_code(s, link, contract, clock=clock), clock=clock
        )
    with app.db.transaction() as s:
        link, contract = open_link(s, token, clock=clock)
        complete_signing(
            s, link, contract, browser_secret=secret, clock=clock, files=files,
            mark=SignatureMark(typed_name=terms.employee.name), signer=signer,
        )  # fmt: skip
        candidate = s.get(Candidate, candidate_id)
        assert candidate is not None
        candidate.status = "approved"
        s.add(candidate)
    return contract


@pytest.fixture
def hired(app: App, chat: Chat, clock: FakeClock) -> dict[str, Contract]:
    """Li Lei on a fixed term ending 2029-03-01; Wang Fang open-ended."""
    clock.set(START)
    chat.create_job()
    for name in ("Li Lei", "Wang Fang"):
        chat.invite(name)
    with app.db.session() as session:
        ids = {c.name: c.id or 0 for c in session.exec(select(Candidate)).all()}
    return {
        "Li Lei": hire(app, ids["Li Lei"], terms_for("李雷")),
        "Wang Fang": hire(
            app, ids["Wang Fang"], terms_for("王芳", contract_type="open_ended", end_date=None)
        ),
    }


def rows(app: App, model: Any, contract: Contract) -> list[Any]:
    with app.db.session() as session:
        return list(session.exec(select(model).where(model.contract_id == contract.id)).all())


def at(clock: FakeClock, day: dt.date) -> None:
    clock.set(dt.datetime.combine(day, dt.time(1, 0), tzinfo=dt.UTC))  # 09:00 in Shanghai


def test_employee_records_are_purged_after_the_archive_date_only(
    app: App, hired: dict[str, Contract], clock: FakeClock
) -> None:
    fixed, open_ended = hired["Li Lei"], hired["Wang Fang"]
    root = app.settings.app.data_dir / "contracts"
    folder = root / fixed.contract_no
    assert sorted(p.name for p in folder.iterdir()) == ["contract.pdf.enc", "signed.pdf.enc"]
    [employee] = rows(app, Employee, fixed)
    assert employee.archive_until == dt.date(2031, 3, 1)  # two years after 2029-03-01

    # On the archive date itself the record is still kept ("at least two years").
    at(clock, dt.date(2031, 3, 1))
    counts = retention.run_retention(app.db, app.settings, clock)
    assert counts["archived_employees"] == 0
    assert folder.exists() and rows(app, Employee, fixed)

    # The day after, it goes: files, contract, trail, links, employee; the profile is erased.
    at(clock, dt.date(2031, 3, 2))
    counts = retention.run_retention(app.db, app.settings, clock)
    assert counts["archived_employees"] == 1
    assert counts["files"] >= 2
    assert not folder.exists()
    for model in (Employee, SigningEvent, SigningLink):
        assert rows(app, model, fixed) == []
    with app.db.session() as session:
        assert session.get(Contract, fixed.id) is None
        gone = session.get(Candidate, fixed.candidate_id)
        assert gone is not None and (gone.name, gone.status) == ("[deleted]", "deleted")
        assert gone.id_number is None and gone.address is None
        audit = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "data_deleted",
                AuditEvent.subject == f"candidate:{fixed.candidate_id}",
            )
        ).one()
        kept = session.get(Candidate, open_ended.candidate_id)
    assert audit.details["reason"] == "archive_period_over"
    assert audit.details["employee_records"] == 1 and audit.details["contracts"] == 1
    assert audit.details["contract_files"] == 2 and audit.details["holds"] == 0
    assert "李雷" not in str(audit.details) and "Li Lei" not in str(audit.details)

    # The open-ended contract has no end date: it is kept with its files.
    assert kept is not None and kept.name == "Wang Fang"
    assert rows(app, Employee, open_ended)
    assert sorted(p.name for p in (root / open_ended.contract_no).iterdir()) == [
        "contract.pdf.enc",
        "signed.pdf.enc",
    ]
    # Nothing more to do on the next run.
    clock.advance(days=1)
    assert retention.run_retention(app.db, app.settings, clock)["archived_employees"] == 0


def test_a_later_hold_keeps_the_whole_record(
    app: App, hired: dict[str, Contract], clock: FakeClock
) -> None:
    """A candidate with a second, still-held contract keeps everything, the old one too."""
    fixed = hired["Li Lei"]
    with app.db.transaction() as session:
        later = Contract(
            contract_no="HT-LATER",
            candidate_id=fixed.candidate_id,
            status="signed",
            contract_type="fixed_term",
            terms_json="{}",
            end_date=dt.date(2032, 12, 31),
        )
        session.add(later)
    at(clock, dt.date(2031, 6, 1))
    assert retention.run_retention(app.db, app.settings, clock)["archived_employees"] == 0
    assert rows(app, Employee, fixed)
    assert (app.settings.app.data_dir / "contracts" / fixed.contract_no).exists()
    with app.db.session() as session:
        signed = session.exec(
            select(Contract).where(col(Contract.candidate_id) == fixed.candidate_id)
        ).all()
    assert len(signed) == 2
