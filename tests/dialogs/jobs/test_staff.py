"""Admin and HR commands, as conversations."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.models import (
    AuditEvent,
    Candidate,
    ConversationState,
    GroupBinding,
    Job,
    JobQuestion,
    Question,
    Staff,
)
from tests.dialogs.invitations.test_bulk_invite import send_file
from tests.harness import Chat


def test_admin_creates_a_job_through_the_guided_dialog(chat: Chat) -> None:
    assert "short code" in chat.send("admin", "/newjob", lang="en")[-1].text
    assert "must be new" in chat.send("admin", "bad code!")[-1].text
    assert "Chinese" in chat.send("admin", "sales-1")[-1].text
    assert "English" in chat.send("admin", "销售代表")[-1].text
    assert "weights summing to 100" in chat.send("admin", "Sales representative")[-1].text
    assert "not 100" in chat.send("admin", "communication 30, teamwork 30")[-1].text
    assert "unknown competency" in chat.send("admin", "juggling 100")[-1].text
    assert "Pass line" in chat.send("admin", "communication 50, teamwork 50")[-1].text
    assert "from 0 to 100" in chat.send("admin", "120")[-1].text
    assert "'auto'" in chat.send("admin", "72.5")[-1].text
    assert (
        "Unknown question keys: nope-01" in chat.send("admin", "communication-01, nope-01")[-1].text
    )
    assert "created with 4 questions" in chat.send("admin", "auto")[-1].text
    with chat.app.db.session() as session:
        job = session.exec(select(Job).where(Job.code == "sales-1")).one()
        assert job.competencies == [
            {"name": "communication", "weight": 50.0},
            {"name": "teamwork", "weight": 50.0},
        ]
        assert job.pass_line == 72.5
        assert len(session.exec(select(JobQuestion).where(JobQuestion.job_id == job.id)).all()) == 4


def test_newjob_again_mid_dialog_starts_over(chat: Chat) -> None:
    chat.send("admin", "/newjob", lang="en")
    assert "Chinese" in chat.send("admin", "sales-1")[-1].text
    # a second /newjob (or one sent while another dialog waits) restarts, it does not fail
    assert "short code" in chat.send("admin", "/newjob")[-1].text
    assert "Chinese" in chat.send("admin", "sales-2")[-1].text
    with chat.app.db.session() as session:
        states = session.exec(select(ConversationState)).all()
        assert [(s.flow, s.step, s.data.get("code")) for s in states] == [
            ("newjob", "title_zh", "sales-2")
        ]


def test_cancel_leaves_the_dialog(chat: Chat) -> None:
    chat.send("admin", "/newjob", lang="en")
    assert "Cancelled" in chat.send("admin", "/cancel")[-1].text
    assert "nothing to cancel" in chat.send("admin", "/cancel")[-1].text


def test_hr_invites_and_gets_the_code_and_a_console_command(chat: Chat) -> None:
    # No channel reaches candidates here (the console is a test channel): no link, no QR
    # code, and the reply says so; the console command lets the tester play the candidate.
    chat.create_job()
    replies = chat.send("hr", "/invite sales Alex Chen 13812345678", lang="en")
    text = replies[0].text
    assert "Invitation for Alex Chen" in text and "Identity code" in text
    assert "No channel that candidates can use is enabled" in text
    assert "Console test: /start " in text and "t.me" not in text
    assert [r.kind for r in replies] == ["send"]
    with chat.app.db.session() as session:
        candidate = session.exec(select(Candidate)).one()
        assert candidate.phone == "13812345678"
        assert candidate.phone_hash == chat.app.db.keyring.blind_index("138 1234 5678")
    assert "Usage" in chat.send("hr", "/invite sales")[-1].text
    assert "no job with the code nope" in chat.send("hr", "/invite nope Bob")[-1].text


def test_roles_are_enforced_for_every_staff_command(chat: Chat) -> None:
    chat.create_job()
    denied = "Nothing was changed"
    # viewers see, but cannot invite, create jobs, bind or grant
    for command, says in [
        ("/invite sales Bob", "needs the HR manager role for this job; you are HR viewer"),
        ("/newjob", "needs the admin role; you are HR viewer"),
        ("/grant console:x hr_viewer", "needs the admin role"),
        ("/addquestion teamwork | 问题一二三四 | Question one | r", "needs the HR manager role"),
    ]:
        reply = chat.send("viewer", command, lang="en")[-1].text
        assert denied in reply and says in reply, command
    assert "sales" in chat.send("viewer", "/jobs", lang="en")[-1].text
    assert "Question bank" in chat.send("viewer", "/questions teamwork", lang="en")[-1].text
    # hr managers can invite but not create jobs or bind groups
    assert denied in chat.send("hr", "/newjob", lang="en")[-1].text
    assert denied in chat.send("hr", "/bind sales", group="g1", lang="en")[-1].text
    with chat.app.db.session() as session:
        denials = session.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert len(denials) == 6


def test_admin_grants_a_role_and_binds_a_group(chat: Chat) -> None:
    chat.create_job()
    assert "don't have access" in chat.send("newbie", "/invite sales Bob", lang="en")[-1].text
    assert (
        "hr_manager"
        in chat.send("admin", "/grant console:newbie hr_manager sales", lang="en")[-1].text
    )
    assert "Invitation for Bob" in chat.send("newbie", "/invite sales Bob", lang="en")[0].text
    assert "in the HR group" in chat.send("admin", "/bind sales", lang="en")[-1].text
    assert (
        "receives progress"
        in chat.send("admin", "/bind sales", group="hr-room", lang="en")[-1].text
    )
    with chat.app.db.session() as session:
        assert session.exec(select(Staff)).one().role == "hr_manager"
        assert session.exec(select(GroupBinding)).one().chat_id == "hr-room"


def test_progress_shows_candidates_to_staff_only(chat: Chat) -> None:
    chat.create_job()
    token, code = chat.invite("Alex Chen")
    chat.start_interview("alex", "Alex Chen", token, code)
    chat.send("alex", "My first answer.")
    text = chat.send("viewer", "/progress sales", lang="en")[-1].text
    assert "1 invited · 1 started · 0 completed" in text
    assert "Alex Chen: started · 1/3 answered" in text


def test_add_question_by_command(chat: Chat) -> None:
    replies = chat.send(
        "hr",
        "/addquestion teamwork | 请讲一次你帮助同事的经历 | Tell me about helping a colleague | 5: concrete",
        lang="en",
    )
    assert "Added question co-teamwork-01" in replies[-1].text
    assert "Usage" in chat.send("hr", "/addquestion just one part")[-1].text
    with chat.app.db.session() as session:
        assert (
            session.exec(select(Question).where(Question.owner == "company")).one().competency
            == "teamwork"
        )


CSV_OK = (
    "key,competency,text_zh,text_en,rubric_zh,rubric_en,modes,time_limit_s\n"
    "co-a,teamwork,请讲一次团队合作的经历,Tell me about teamwork,好,good,voice;text,90\n"
    "co-b,teamwork,短,Too short zh,,,,\n"
    "co-c,Bad Name!,请讲一次经历经历,Tell me a story,,,,\n"
    "co-d,communication,请讲一次沟通的经历,Tell me about talking,,,fax,90\n"
    "co-a,teamwork,请讲一次团队合作的经历,Tell me about teamwork,,,,\n"
    "co-e,communication,请讲一次沟通的经历,Tell me about talking,,,text,5000\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "gbk", "utf-8-sig"])
def test_import_questions_from_csv_reports_bad_rows_by_number(chat: Chat, encoding: str) -> None:
    replies = send_file(chat, "hr", CSV_OK.encode(encoding), "questions.csv", "")
    text = replies[-1].text
    assert "Imported 1 questions" in text
    for row in (3, 4, 5, 6, 7):
        assert f"row {row}:" in text
    assert "row 2:" not in text
    assert "row 3: zh is too short (at least 4 characters)" in text
    assert "row 6: duplicate key co-a" in text
    assert "row 7: time_limit_s must be within 15–600" in text
    zh = send_file(chat, "hr", CSV_OK.encode(encoding), "questions.csv", "", lang="zh")[-1].text
    assert "第 4 行：competency：请使用小写字母、数字和 _" in zh
    with chat.app.db.session() as session:
        keys = [
            q.key for q in session.exec(select(Question).where(Question.owner == "company")).all()
        ]
    assert keys == ["co-a"]


def test_import_questions_from_yaml(chat: Chat) -> None:
    data = """
questions:
  - {key: co-y1, competency: leadership, zh: 请讲一次你带领团队的经历, en: Tell me about leading a team}
  - {key: co-y2, competency: leadership, zh: 太短, en: x}
  - not a mapping
""".encode()
    text = send_file(chat, "hr", data, "q.yaml", "")[-1].text
    assert "Imported 1 questions" in text and "row 2:" in text
    assert "row 3: not a question" in text
    bad = chat.media("hr", b"\x89PNG...", kind="file", name="q.png")[-1].text
    assert "csv" in bad.lower()
    refused = chat.media("viewer", data, kind="file", name="q.yaml")[-1].text
    assert "人事查看员" in refused or "you are HR viewer" in refused


def test_builtin_bank_is_large_and_bilingual(chat: Chat) -> None:
    with chat.app.db.session() as session:
        questions = session.exec(select(Question).where(Question.owner == "builtin")).all()
    assert len(questions) >= 40
    assert len({q.competency for q in questions}) >= 8
    assert all(q.text_zh and q.text_en and q.rubric_zh and q.rubric_en for q in questions)
