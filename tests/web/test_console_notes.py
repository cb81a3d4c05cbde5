"""The console's candidate page: notes (HR writes, viewers read, CSRF, audit, encrypted
at rest) and the contract's state with the signed PDF (decrypted on the fly, for the
roles that handle contracts of that job only, audited)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from app.wiring import App
from bench.console_seed import seed_job
from contracts.files import ContractFiles
from core.clock import FakeClock
from dialogs.kernel.roles import set_grant
from dialogs.privacy.erasure import erase_candidate
from dialogs.privacy.export import collect_export
from storage.contract_models import Contract, SigningLink
from storage.models import AuditEvent, Candidate, CandidateNote, InterviewSession
from tests.web.test_console import csrf_of, sign_in

# These take the same code path on both databases: SQLite only.
pytestmark = pytest.mark.postgres_subset.with_args(lambda params: False)

PDF = b"%PDF-1.7\n% a sealed contract for tests\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


@pytest.fixture
def people(app: App, clock: FakeClock) -> dict[str, int]:
    """Job "sales" (3 candidates) and "ops" (1); sv views sales, sm manages sales, om
    manages ops; console:hr manages every job (config)."""
    with app.db.transaction() as session:
        sales = seed_job(session, "sales", 3, clock.now())
        ops = seed_job(session, "ops", 1, clock.now(), with_answers=0, seed=3)
        for user, role, job in (
            ("sv", "hr_viewer", sales),
            ("sm", "hr_manager", sales),
            ("om", "hr_manager", ops),
        ):
            set_grant(session, "console", user, role, job.id, clock.now())
        first = session.exec(
            select(Candidate.id).where(Candidate.job_id == sales.id).order_by(col(Candidate.id))
        ).first()
    return {"sales": sales.id or 0, "cand": first or 0}


def notes_on_page(html: str) -> list[tuple[str, str]]:
    """(author, text) of each note shown, in page order."""
    return re.findall(
        r'<li class="note"><p class="meta"><time[^>]*>[^<]*</time> · ([^<]+)</p>'
        r'<p class="text">([^<]*)</p></li>',
        html,
    )


def test_hr_writes_notes_viewers_read_them_newest_first(
    app: App, clock: FakeClock, people: dict[str, int]
) -> None:
    cid = people["cand"]
    sm = sign_in(app, clock, "sm")
    page = sm.get(f"/console/candidates/{cid}")
    assert page.status_code == 200 and "No notes yet." in page.text
    assert f'action="/console/candidates/{cid}/notes"' in page.text
    first = sm.post(
        f"/console/candidates/{cid}/notes",
        data={"csrf": csrf_of(page.text), "text": "Strong on <b>numbers</b>; call back Friday."},
    )
    assert first.status_code == 200 and "Your note is saved." in first.text
    clock.advance(minutes=5)
    hr = sign_in(app, clock, "hr")
    second = hr.post(
        f"/console/candidates/{cid}/notes",
        data={"csrf": csrf_of(hr.get(f"/console/candidates/{cid}").text), "text": "Agreed."},
    )
    assert second.status_code == 200
    empty = hr.post(
        f"/console/candidates/{cid}/notes",
        data={"csrf": csrf_of(second.text), "text": "   "},
    )
    assert empty.status_code == 400 and "A note needs some text" in empty.text
    too_long = hr.post(
        f"/console/candidates/{cid}/notes",
        data={"csrf": csrf_of(second.text), "text": "x" * 2001},
    )
    assert too_long.status_code == 400

    sv = sign_in(app, clock, "sv")  # a viewer reads them, newest first, escaped
    seen = sv.get(f"/console/candidates/{cid}")
    assert notes_on_page(seen.text) == [
        ("console:hr", "Agreed."),
        ("console:sm", "Strong on &lt;b&gt;numbers&lt;/b&gt;; call back Friday."),
    ]
    assert "<b>numbers</b>" not in seen.text
    assert "Add the note" not in seen.text  # and has no form

    with app.db.session() as session:
        audits = session.exec(
            select(AuditEvent).where(AuditEvent.action == "note_added").order_by(col(AuditEvent.id))
        ).all()
        assert [(a.actor, a.subject) for a in audits] == [
            ("console:sm", f"candidate:{cid}"),
            ("console:hr", f"candidate:{cid}"),
        ]
        assert all("Agreed" not in str(a.details) for a in audits)  # no text in the audit
    with app.db.engine.connect() as conn:  # encrypted at rest
        raw = conn.execute(text("SELECT text, author FROM candidatenote")).all()
    assert len(raw) == 2 and all("Agreed" not in r[0] and "numbers" not in r[0] for r in raw)


def test_a_viewer_or_another_jobs_manager_cannot_write_and_csrf_is_checked(
    app: App, clock: FakeClock, people: dict[str, int]
) -> None:
    cid = people["cand"]
    sv = sign_in(app, clock, "sv")
    page = sv.get(f"/console/candidates/{cid}")
    refused = sv.post(
        f"/console/candidates/{cid}/notes", data={"csrf": csrf_of(page.text), "text": "Hi"}
    )
    assert refused.status_code == 403 and "HR manager" in refused.text
    om = sign_in(app, clock, "om")
    other = om.post(
        f"/console/candidates/{cid}/notes",
        data={"csrf": csrf_of(om.get("/console").text), "text": "Hi"},
    )
    assert other.status_code == 403 and "no role for this job" in other.text
    sm = sign_in(app, clock, "sm")
    sm.get(f"/console/candidates/{cid}")
    missing = sm.post(f"/console/candidates/{cid}/notes", data={"text": "Hi"})
    assert missing.status_code == 403 and "form expired" in missing.text
    forged = sm.post(f"/console/candidates/{cid}/notes", data={"csrf": "x" * 32, "text": "Hi"})
    assert forged.status_code == 403
    with app.db.session() as session:
        assert session.exec(select(CandidateNote)).all() == []
        denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
        assert sorted(a.actor for a in denied) == ["console:om", "console:sv"]
        assert {a.details["action"] for a in denied} == {"note"}


def test_their_data_export_holds_the_notes_and_erasure_deletes_them(
    app: App, clock: FakeClock, people: dict[str, int]
) -> None:
    cid = people["cand"]
    sm = sign_in(app, clock, "sm")
    sm.post(
        f"/console/candidates/{cid}/notes",
        data={"csrf": csrf_of(sm.get(f"/console/candidates/{cid}").text), "text": "Fine."},
    )
    with app.db.session() as session:
        candidate = session.get(Candidate, cid)
        s = session.exec(select(InterviewSession).where(InterviewSession.candidate_id == cid)).one()
        assert candidate is not None
        parts = collect_export(session, candidate, s, clock.now())
    [row] = parts.sections["other_records.json"]["candidatenote"]
    assert (row["text"], row["author"]) == ("Fine.", "console:sm")
    with app.db.transaction() as session:
        erase_candidate(
            session, app.db.media, cid, now=clock.now(), data_dir=app.settings.app.data_dir
        )
    with app.db.session() as session:
        assert session.exec(select(CandidateNote)).all() == []


# ------------------------------------------------------------------ contracts
def add_contract(
    app: App, clock: FakeClock, cid: int, no: str, status: str, **extra: object
) -> int:
    files = ContractFiles.in_data_dir(app.settings.app.data_dir, app.db.keyring)
    with app.db.transaction() as session:
        contract = Contract(
            contract_no=no,
            candidate_id=cid,
            contract_type="fixed_term",
            terms_json='{"employee_name": "Ann Lee"}',
            status=status,
            created_at=clock.now(),
            **extra,  # type: ignore[arg-type]
        )
        if status == "signed":
            contract.signed_pdf_path = files.write(no, "signed.pdf", PDF)
            contract.signed_sha256 = hashlib.sha256(PDF).hexdigest()
            contract.signed_at = clock.now()
        session.add(contract)
        session.flush()
        return contract.id or 0


def test_contract_states_on_the_candidate_page(
    app: App, clock: FakeClock, people: dict[str, int]
) -> None:
    cid = people["cand"]
    sv = sign_in(app, clock, "sv")
    assert "No contract yet." in sv.get(f"/console/candidates/{cid}").text
    finding = {
        "rule": "probation",
        "severity": "block",
        "article": "LCL Art. 19",
        "article_zh": "《劳动合同法》第十九条",
        "message_zh": "试用期过长",
        "message_en": "The probation period is too long",
    }
    add_contract(app, clock, cid, "HT-1", "blocked", findings=[finding])
    sent = add_contract(app, clock, cid, "HT-2", "sent")
    with app.db.transaction() as session:
        session.add(
            SigningLink(
                contract_id=sent,
                token_hash="a" * 64,
                expires_at=clock.now() + dt.timedelta(hours=2),
            )
        )
    page = sv.get(f"/console/candidates/{cid}").text
    assert "HT-2: sent for signing" in page and "HT-1: pre-check found issues" in page
    assert "The probation period is too long (LCL Art. 19)" in page
    assert page.index("HT-2") < page.index("HT-1")  # newest first
    clock.advance(hours=3)
    page = sv.get(f"/console/candidates/{cid}").text
    assert "HT-2: signing link expired" in page
    zh = sign_in(app, clock, "sm", lang="zh").get(f"/console/candidates/{cid}").text
    assert "签署链接已过期" in zh and "试用期过长" in zh


def test_signed_pdf_is_served_to_the_jobs_managers_only_and_audited(
    app: App, clock: FakeClock, people: dict[str, int]
) -> None:
    cid = people["cand"]
    signed = add_contract(app, clock, cid, "HT-20261203-ABCDEF", "signed")
    draft = add_contract(app, clock, cid, "HT-20261203-XYZ", "draft")
    url = f"/console/contracts/{signed}/signed.pdf"
    stored = ContractFiles.in_data_dir(app.settings.app.data_dir, app.db.keyring).root
    assert b"%PDF" not in (stored / "HT-20261203-ABCDEF" / "signed.pdf.enc").read_bytes()

    sm = sign_in(app, clock, "sm")
    page = sm.get(f"/console/candidates/{cid}")
    assert f'href="{url}"' in page.text and "HT-20261203-ABCDEF: signed" in page.text
    got = sm.get(url)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f"contract-{signed}-signed.pdf" in disposition
    assert "Ann" not in disposition and "HT-" not in disposition  # ids only
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in got.headers["content-security-policy"]

    sv = sign_in(app, clock, "sv")  # a viewer sees the state, not the PDF
    seen = sv.get(f"/console/candidates/{cid}").text
    assert "HT-20261203-ABCDEF: signed" in seen and url not in seen
    assert sv.get(url).status_code == 403
    om = sign_in(app, clock, "om")  # a manager of another job
    refused = om.get(url)
    assert refused.status_code == 403 and "no role for this job" in refused.text
    assert om.get("/console/contracts/999999/signed.pdf").status_code == 403
    assert sm.get(f"/console/contracts/{draft}/signed.pdf").status_code == 404
    assert sign_in(app, clock, "hr").get(url).status_code == 200
    client = sign_in(app, clock, "sm")
    client.cookies.clear()
    assert client.get(url).status_code == 401

    with app.db.session() as session:
        viewed = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "contract_viewed")
            .order_by(col(AuditEvent.id))
        ).all()
        denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert [(a.actor, a.subject) for a in viewed] == [
        ("console:sm", f"candidate:{cid}"),
        ("console:hr", f"candidate:{cid}"),
    ]
    assert sorted(a.actor for a in denied) == ["console:om", "console:om", "console:sv"]


def test_a_changed_signed_pdf_is_not_served(
    app: App, clock: FakeClock, people: dict[str, int]
) -> None:
    signed = add_contract(app, clock, people["cand"], "HT-7", "signed")
    with app.db.transaction() as session:
        row = session.get(Contract, signed)
        assert row is not None
        row.signed_sha256 = "0" * 64
        session.add(row)
    sm = sign_in(app, clock, "sm")
    got = sm.get(f"/console/contracts/{signed}/signed.pdf")
    assert got.status_code == 500 and b"%PDF" not in got.content
    with app.db.session() as session:
        assert (
            session.exec(select(AuditEvent).where(AuditEvent.action == "contract_viewed")).all()
            == []
        )
