"""/mydata and /deleteme: a candidate's copy of their data, and its erasure."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlmodel import col
from sqlmodel import select as sm_select

from app.wiring import App, build_app
from core.clock import FakeClock
from dialogs.privacy import export
from storage.contract_models import Contract, Employee
from storage.models import (
    Answer,
    AuditEvent,
    BackgroundJob,
    Candidate,
    CandidateScore,
    ChannelIdentity,
    Decision,
    Evaluation,
    HumanScore,
    InterviewSession,
    Invitation,
)
from storage.tables import metadata
from tests.conftest import make_settings
from tests.dialogs.job_helpers import AnswerWhileBusy, crash_after_result, run_jobs
from tests.dialogs.token_helpers import link_tokens
from tests.harness import Chat, Delivered, RecordingMessenger

VOICE = b"OggS private voice bytes of li lei"
ANSWER = "I renewed a contract worth 1.2M by calling the client every day"
PHONE = "13912345678"


def setup(chat: Chat) -> None:
    chat.create_job()
    chat.send("admin", "/bind sales", group="hrg")


def interview(chat: Chat, user: str = "lilei", name: str = "Li Lei") -> None:
    (token,) = link_tokens(chat.send("hr", f"/invite sales {name} {PHONE}")[0].text)
    with chat.app.db.session() as session:
        inv = session.exec(sm_select(Invitation).order_by(col(Invitation.id).desc())).first()
        assert inv is not None
    chat.invite("Wang Wu")  # someone else, who must stay untouched
    chat.start_interview(user, name, token, inv.code)
    chat.send(user, ANSWER)
    chat.media(user, VOICE, duration=5)


def files(replies: list[Delivered]) -> list[Delivered]:
    return [d for d in replies if d.kind == "file"]


PREPARING = "Preparing your data export"


def mydata(chat: Chat, user: str, **kwargs: object) -> list[Delivered]:
    """/mydata: an immediate "preparing" reply, then the ZIP from the background job."""
    replies = chat.send(user, "/mydata", **kwargs)
    assert not files(replies)  # nothing heavy inside the event
    return replies + run_jobs(chat, export.EXPORT_JOB)


def export_jobs(app: App) -> list[BackgroundJob]:
    with app.db.session() as session:
        return list(
            session.exec(
                sm_select(BackgroundJob).where(BackgroundJob.kind == export.EXPORT_JOB)
            ).all()
        )


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def everything(app: App) -> str:
    """Every row of every table, decrypted, as one string."""
    out: list[str] = []
    with app.db.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        for table in metadata.sorted_tables:
            if table.name in present:
                out.extend(repr(tuple(row)) for row in conn.execute(select(table)).all())
    return "\n".join(out)


def candidate(app: App, name: str = "Li Lei") -> Candidate:
    with app.db.session() as session:  # names are encrypted: no equality in SQL
        [found] = [c for c in session.exec(sm_select(Candidate)).all() if c.name == name]
    return found


def confirm_delete(chat: Chat, user: str) -> list[Delivered]:
    """/deleteme, then the "Yes" button of that very message."""
    [yes, _no] = chat.send(user, "/deleteme")[-1].button_data
    return chat.send(user, f"/press {yes}")


def test_mydata_sends_a_zip_of_everything_stored(app: App, chat: Chat) -> None:
    setup(chat)
    interview(chat)
    cand = candidate(app)
    with app.db.transaction() as session:
        answer = session.exec(sm_select(Answer).where(Answer.kind == "text")).one()
        session.add(
            Evaluation(
                answer_id=answer.id or 0,
                dimension="total",
                score=81,
                evidence=["calling the client every day"],
                model="fake",
                prompt_version="p1",
            )
        )
        session.add(
            HumanScore(
                candidate_id=cand.id or 0,
                competency="communication",
                score=4,
                comment="clear",
                scorer="console:hr",
            )
        )
        session.add(CandidateScore(candidate_id=cand.id or 0, job_id=cand.job_id, total=77.5))
        session.add(Decision(candidate_id=cand.id or 0, proposed=None))

    replies = mydata(chat, "lilei")

    assert PREPARING in replies[0].text
    [zipped] = files(replies)
    assert zipped.filename is not None and zipped.filename.endswith(".zip")
    assert "README.txt" in zipped.text
    content = unzip(zipped.file_data or b"")
    assert "answers.json" in content and "README.txt" in content
    answers = json.loads(content["answers.json"])
    assert any(a["text"] == ANSWER for a in answers)
    voice = next(a for a in answers if a["kind"] == "voice")
    assert content[voice["file"]] == VOICE  # decrypted
    profile = json.loads(content["profile.json"])
    assert profile["candidate"]["name"] == "Li Lei"
    assert profile["candidate"]["phone"] == PHONE
    assert "phone_hash" not in profile["candidate"]
    assert "token" not in (profile["invitation"] or {})
    consent = json.loads(content["consent.json"])
    assert consent["notice_version_accepted"] == app.settings.security.notice_version
    assert consent["voice_and_video_consent (PIPL Art. 29)"] is True
    assert json.loads(content["evaluations.json"])[0]["score"] == 81
    assert json.loads(content["human_scores.json"])[0]["comment"] == "clear"
    assert "scorer" not in json.loads(content["human_scores.json"])[0]
    assert json.loads(content["scores.json"])["total"] == 77.5
    audit = json.loads(content["audit_log.json"])
    assert {"consent_given", "answer_stored"} <= {e["action"] for e in audit}
    assert {e["by"] for e in audit} <= {"you", "system", "staff"}
    others = json.loads(content["other_records.json"])
    assert "funnelevent" in others
    with app.db.session() as session:
        audited = session.exec(
            sm_select(AuditEvent).where(AuditEvent.action == "data_export")
        ).one()
    assert audited.subject == f"candidate:{cand.id}"
    assert audited.details["files"] == 1


def test_mydata_in_chinese_and_before_consent(app: App, chat: Chat) -> None:
    setup(chat)
    token, _code = chat.invite("王芳")
    chat.send("wang", f"/start {token}", lang="zh")
    replies = mydata(chat, "wang")
    assert "正在准备您的数据导出" in replies[0].text
    [zipped] = files(replies)
    content = unzip(zipped.file_data or b"")
    assert "您的数据" in content["README.txt"].decode()
    assert json.loads(content["answers.json"]) == []
    assert json.loads(content["consent.json"])["notice_version_accepted"] is None


def test_deleteme_asks_first_and_no_keeps_everything(app: App, chat: Chat) -> None:
    setup(chat)
    interview(chat)
    replies = chat.send("lilei", "/deleteme")
    yes, no = replies[-1].button_data
    assert yes.startswith("del:yes:") and no.startswith("del:no:")
    replies = chat.send("lilei", f"/press {no}")
    assert "nothing was deleted" in replies[-1].text
    assert candidate(app).status == "started"
    with app.db.session() as session:
        assert len(session.exec(sm_select(Answer)).all()) == 2
    # The "Yes" of the refused request no longer erases anything.
    assert "expired" in chat.send("lilei", f"/press {yes}")[-1].text
    assert candidate(app).status == "started"


EXPIRED = "This deletion request has expired or was already answered"


def test_yes_without_a_pending_deleteme_deletes_nothing(app: App, chat: Chat) -> None:
    setup(chat)
    interview(chat)
    for data in ("del:yes", "del:yes:forged0000000000", "del:yes:"):
        assert EXPIRED in chat.send("lilei", f"/press {data}")[-1].text
    assert candidate(app).status == "started"
    with app.db.session() as session:
        assert len(session.exec(sm_select(Answer)).all()) == 2
        assert not session.exec(
            sm_select(AuditEvent).where(AuditEvent.action == "data_deleted")
        ).all()


def test_a_deleteme_button_is_valid_ten_minutes_and_only_its_latest(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    setup(chat)
    interview(chat)
    [old_yes, _] = chat.send("lilei", "/deleteme")[-1].button_data
    clock.advance(minutes=11)
    assert EXPIRED in chat.send("lilei", f"/press {old_yes}")[-1].text
    assert candidate(app).status == "started"
    [first_yes, _] = chat.send("lilei", "/deleteme")[-1].button_data
    [second_yes, _] = chat.send("lilei", "/deleteme")[-1].button_data
    assert first_yes != second_yes
    assert EXPIRED in chat.send("lilei", f"/press {first_yes}")[-1].text  # superseded
    assert candidate(app).status == "started"
    clock.advance(minutes=9)
    replies = chat.send("lilei", f"/press {second_yes}")
    assert any("has been deleted" in d.text for d in replies)
    assert candidate(app, "[deleted]").status == "deleted"


def test_an_expired_deleteme_button_answers_in_chinese(app: App, chat: Chat) -> None:
    setup(chat)
    token, code = chat.invite("Wang Fang")
    chat.start_interview("wf", "Wang Fang", token, code, lang="zh")
    assert "已过期" in chat.send("wf", "/press del:yes")[-1].text
    assert candidate(app, "Wang Fang").status != "deleted"


def test_deleteme_erases_personal_data_media_and_chat_history(app: App, chat: Chat) -> None:
    setup(chat)
    interview(chat)
    cand = candidate(app)
    with app.db.session() as session:
        paths = [a.media_path for a in session.exec(sm_select(Answer)).all() if a.media_path]
        pending = session.exec(
            sm_select(BackgroundJob).where(BackgroundJob.status == "pending")
        ).all()
    assert paths and all(app.db.media.exists(p) for p in paths)
    assert pending  # transcribe / evaluate jobs waiting

    replies = confirm_delete(chat, "lilei")

    mine = [d.text for d in replies if d.chat_id == "lilei" and d.kind == "send"]
    hr = [d.text for d in replies if d.chat_id == "hrg"]
    assert any("has been deleted" in text for text in mine)
    assert any(f"Candidate #{cand.id}" in text and "deleted" in text for text in hr)
    assert not any(app.db.media.exists(p) for p in paths)
    dump = everything(app)
    for secret in ("Li Lei", PHONE, ANSWER):
        assert secret not in dump, secret
    with app.db.session() as session:
        gone = session.get(Candidate, cand.id)
        assert gone is not None and gone.status == "deleted" and gone.deleted_at is not None
        assert session.exec(sm_select(Answer)).all() == []
        assert session.exec(sm_select(InterviewSession)).all() == []
        assert (
            session.exec(
                sm_select(ChannelIdentity).where(ChannelIdentity.candidate_id == cand.id)
            ).all()
            == []
        )
        jobs = session.exec(sm_select(BackgroundJob)).all()
        assert all(j.status != "pending" for j in jobs if "answer_id" in j.payload)
        audit = session.exec(sm_select(AuditEvent).where(AuditEvent.action == "data_deleted")).one()
    assert audit.subject == f"candidate:{cand.id}" and audit.details["answers"] == 2
    # Afterwards the bot knows nothing about this chat.
    assert "invitation link" in chat.send("lilei", "/mydata", lang="en")[-1].text
    assert chat.send("lilei", "/press del:yes")[-1].text  # no crash, a polite answer
    # The other candidate is untouched.
    assert candidate(app, "Wang Wu").status == "invited"


@pytest.mark.parametrize("steps", [0, 1, 2, 5])
def test_both_commands_work_in_any_state(app: App, chat: Chat, steps: int) -> None:
    setup(chat)
    token, code = chat.invite("Zoe Park")
    script = [
        f"/start {token}",
        "/press lang:en",
        "/press consent:yes",
        "/press sens:no",
        f"Zoe Park {code}",
        "/press practice:skip",
    ][: steps + 1]
    for line in script:
        chat.send("zoe", line, lang="en")
    assert files(mydata(chat, "zoe"))
    replies = confirm_delete(chat, "zoe")
    assert any("has been deleted" in d.text for d in replies)
    assert candidate(app, "[deleted]").status == "deleted"


def test_decline_then_delete(app: App, chat: Chat) -> None:
    setup(chat)
    token, _code = chat.invite("Sam Lee")
    chat.send("sam", f"/start {token}", lang="en")
    chat.send("sam", "/press lang:en")
    chat.send("sam", "/press consent:no")
    assert any("has been deleted" in d.text for d in confirm_delete(chat, "sam"))


def test_delete_button_in_a_group_or_from_a_stranger_does_nothing(app: App, chat: Chat) -> None:
    setup(chat)
    interview(chat)
    replies = chat.send("hr", "/press del:yes", group="hrg")
    assert replies[-1].kind == "answer" and replies[-1].alert
    replies = chat.send("stranger", "/press del:yes", lang="en")
    assert "no personal data" in replies[-1].text
    assert candidate(app).status == "started"


def add_signed_contract(app: App, cand: Candidate, end: dt.date | None) -> None:
    with app.db.transaction() as session:
        contract = Contract(
            contract_no="HT-2026-0001",
            candidate_id=cand.id or 0,
            status="signed",
            contract_type="fixed_term",
            terms_json=json.dumps({"employee": {"name": cand.name}}),
            end_date=end,
        )
        session.add(contract)
        session.flush()
        session.add(
            Employee(
                candidate_id=cand.id or 0,
                contract_id=contract.id or 0,
                name=cand.name,
                contract_type="fixed_term",
                end_date=end,
                archive_until=end + dt.timedelta(days=730) if end else None,
            )
        )
        c = session.get(Candidate, cand.id)
        assert c is not None
        c.status = "approved"
        session.add(c)


def test_signed_contract_is_kept_under_legal_hold_and_the_candidate_told_why(
    app: App, chat: Chat
) -> None:
    setup(chat)
    interview(chat)
    cand = candidate(app)
    add_signed_contract(app, cand, dt.date(2029, 6, 30))

    replies = confirm_delete(chat, "lilei")

    told = " ".join(d.text for d in replies if d.chat_id == "lilei")
    assert "Labour Contract Law" in told and "signed labour contract" in told
    assert "2031-06-30" in told  # the later of the two hold dates
    assert any("legal hold" in d.text for d in replies if d.chat_id == "hrg")
    with app.db.session() as session:
        kept = session.get(Candidate, cand.id)
        assert kept is not None and kept.name == "Li Lei" and kept.status == "approved"
        assert session.exec(sm_select(Contract)).one().status == "signed"
        assert session.exec(sm_select(Employee)).one().name == "Li Lei"
        assert session.exec(sm_select(Answer)).all() == []  # interview data is not held
        audit: Any = session.exec(
            sm_select(AuditEvent).where(AuditEvent.action == "data_deleted")
        ).one()
    assert set(audit.details["holds"]) == {"contract", "employee"}


def test_unsigned_contract_is_deleted_with_the_rest(app: App, chat: Chat) -> None:
    setup(chat)
    interview(chat)
    cand = candidate(app)
    pdf = app.settings.app.data_dir / "contracts" / "HT-1" / "contract.pdf"
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF draft with Li Lei")
    with app.db.transaction() as session:
        session.add(
            Contract(
                contract_no="HT-1",
                candidate_id=cand.id or 0,
                status="sent",
                contract_type="fixed_term",
                terms_json="{}",
                unsigned_pdf_path=str(pdf),
            )
        )
    confirm_delete(chat, "lilei")
    assert not pdf.exists()
    with app.db.session() as session:
        assert session.exec(sm_select(Contract)).all() == []


def test_the_notice_names_handler_data_purpose_retention_rights_and_articles(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        retention={"media_days_after_decision": 45, "rejected_record_days": 200},
        employer={"name": "Acme Hiring Ltd", "phone": "021-5555-0100"},
        llm={"provider": "openai_compatible", "base_url": "https://api.example.ai/v1"},
    )
    app = build_app(settings)
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    chat = Chat(app, messenger)
    chat.languages.update({"admin": "en", "hr": "en"})
    chat.create_job()
    token, _code = chat.invite("Ivy Chen")
    chat.send("ivy", f"/start {token}", lang="en")
    notice = chat.send("ivy", "/press lang:en")[-1].text
    for part in (
        "Acme Hiring Ltd (021-5555-0100)",  # the handler and a contact (Art. 17)
        settings.security.notice_version,
        "voice recordings",
        "video notes",
        "transcripts",
        "AI scores",
        "45 days after the decision",
        "after 200 days",
        "a person makes every decision",
        "/review",
        "/mydata",
        "/deleteme",
        "api.example.ai",  # an API model receives transcripts: the notice says so
        "Art. 24",
        "Art. 14, 17",
        "Art. 28",
    ):
        assert part in notice, part
    sensitive = chat.send("ivy", "/press consent:yes")[-1]
    assert "Art. 28" in sensitive.text and sensitive.button_data == ["sens:yes", "sens:no"]
    app.db.engine.dispose()


# ------------------------------------------------------------------ /mydata in the background
def test_another_candidate_answers_while_the_export_is_being_built(app: App, chat: Chat) -> None:
    setup(chat)
    interview(chat)
    token, code = chat.invite("Zoe Park")
    chat.start_interview("zoe", "Zoe Park", token, code)
    replies = chat.send("lilei", "/mydata")
    assert [d.text for d in replies] == [
        "Preparing your data export… The ZIP file will arrive in this chat in a moment."
    ]

    busy = AnswerWhileBusy(chat, "zoe", ANSWER, export.pack_export)
    delivered = run_jobs(chat, handlers={export.EXPORT_JOB: export.export_job(pack=busy)})
    busy.join()

    # Zoe's answer went through while the ZIP was being built, not after it.
    assert busy.seconds is not None and busy.seconds < 3.0, busy.seconds
    assert any("Question 2" in i.text for i in busy.intents if hasattr(i, "text"))
    [zipped] = files(delivered)
    assert zipped.chat_id == "lilei" and "README.txt" in unzip(zipped.file_data or b"")
    if app.db.is_sqlite:
        # The same probe does wait when the slow step runs inside a transaction (as the
        # command did before): the test can tell the difference.
        probe = AnswerWhileBusy(chat, "zoe", ANSWER, lambda: None, patience=1.0)
        with app.db.transaction():
            probe()
        probe.join()
        assert probe.seconds is None
        assert probe.intents  # handled once the lock was free


def test_mydata_twice_in_a_minute_builds_one_zip(app: App, chat: Chat, clock: FakeClock) -> None:
    setup(chat)
    interview(chat)
    chat.send("lilei", "/mydata")
    again = chat.send("lilei", "/mydata")
    assert "requested a moment ago" in again[-1].text
    assert len(export_jobs(app)) == 1
    assert len(files(run_jobs(chat, export.EXPORT_JOB))) == 1
    assert "requested a moment ago" in chat.send("lilei", "/mydata")[-1].text  # sent, same minute

    clock.advance(minutes=1)
    assert len(files(mydata(chat, "lilei"))) == 1
    assert len(export_jobs(app)) == 2
    with app.db.session() as session:
        actions = [
            e.action
            for e in session.exec(sm_select(AuditEvent).order_by(col(AuditEvent.id))).all()
            if e.action.startswith("data_export")
        ]
    assert actions == [
        "data_export_requested",
        "data_export",
        "data_export_requested",
        "data_export",
    ]


def test_a_worker_dying_after_sending_does_not_send_the_zip_twice(app: App, chat: Chat) -> None:
    setup(chat)
    interview(chat)
    chat.send("lilei", "/mydata")
    crash_after_result(chat, export.EXPORT_JOB, app.handlers[export.EXPORT_JOB])
    [job] = export_jobs(app)
    assert job.status == "done"  # marked in the transaction that queued the ZIP

    chat.flush()  # what the dying worker had queued is delivered
    assert files(run_jobs(chat, export.EXPORT_JOB)) == []  # the re-run sends nothing
    zips = [d for d in files(chat.messenger.to("lilei")) if (d.filename or "").endswith(".zip")]
    assert len(zips) == 1
    with app.db.session() as session:
        audited = session.exec(
            sm_select(AuditEvent).where(AuditEvent.action == "data_export")
        ).all()
    assert len(audited) == 1


class FailsOnce:
    """A packer that dies the first time (a crash mid-build), then packs for real."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, parts: export.ExportParts, media: Any) -> tuple[bytes, int, int]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("worker killed while zipping")
        return export.pack_export(parts, media)


def test_an_export_that_fails_midway_is_retried_and_sent_once(
    app: App, chat: Chat, clock: FakeClock
) -> None:
    setup(chat)
    interview(chat)
    chat.send("lilei", "/mydata")
    packer = FailsOnce()
    handlers = {export.EXPORT_JOB: export.export_job(pack=packer)}
    assert files(run_jobs(chat, handlers=handlers)) == []
    [job] = export_jobs(app)
    assert job.status == "pending" and job.attempts == 1
    clock.advance(seconds=10)  # the retry's back-off
    [zipped] = files(run_jobs(chat, handlers=handlers))
    assert packer.calls == 2
    assert json.loads(unzip(zipped.file_data or b"")["profile.json"])["candidate"]["name"] == (
        "Li Lei"
    )
    assert files(run_jobs(chat, handlers=handlers)) == []


def test_deleting_before_the_export_runs_sends_nothing(app: App, chat: Chat) -> None:
    setup(chat)
    interview(chat)
    chat.send("lilei", "/mydata")
    confirm_delete(chat, "lilei")
    assert files(run_jobs(chat, export.EXPORT_JOB)) == []
    assert "Li Lei" not in everything(app)
