"""The candidate import runs as a background job: the chat answers at once, batches of
rows commit in short transactions while other candidates go on answering, a crash
resumes after the last committed batch, and the summary arrives exactly once."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import Workbook
from sqlalchemy import ColumnElement
from sqlmodel import col, func, select

from core.clock import FakeClock
from dialogs.invitations.bulk_invite import BATCH_ROWS
from dialogs.invitations.import_job import IMPORT_JOB, import_job
from dialogs.invitations.rows import MAX_BYTES
from dialogs.kernel.worker import JobHandler, Worker
from dialogs.scheduling import flow as scheduling
from storage import queue
from storage.models import BackgroundJob, Candidate, FunnelEvent, Invitation
from storage.schedule_models import Reminder
from tests.dialogs.invitations.test_bulk_invite import send_file
from tests.dialogs.job_helpers import AnswerWhileBusy, crash_after_result, run_jobs
from tests.harness import Chat, Delivered

ANSWER = "I called the client every day."


def people_csv(n: int, *, extra: str = "") -> bytes:
    """``n`` distinct candidates for the sales job (row 2 is Person 0), then ``extra``."""
    lines = ["name,phone,email,job"]
    lines += [f"Person {i},139{i:08d},p{i}@example.com,sales" for i in range(n)]
    return ("\n".join(lines) + "\n" + extra).encode()


def import_jobs(chat: Chat) -> list[BackgroundJob]:
    with chat.app.db.session() as session:
        return list(
            session.exec(select(BackgroundJob).where(BackgroundJob.kind == IMPORT_JOB)).all()
        )


def count(chat: Chat, model: type, *where: ColumnElement[bool]) -> int:
    with chat.app.db.session() as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def summaries(chat: Chat, user: str = "hr") -> list[str]:
    return [
        d.text
        for d in chat.messenger.to(user)
        if d.text.startswith(("Import finished", "导入完成"))
    ]


@pytest.fixture
def sched(chat: Chat) -> Chat:
    chat.create_job()
    scheduling.install(chat.app)
    return chat


def test_a_candidate_answers_while_200_rows_are_imported(sched: Chat) -> None:
    token, code = sched.invite("Zoe Park")
    sched.start_interview("zoe", "Zoe Park", token, code)
    replies = send_file(sched, "hr", people_csv(200), "people.csv", "/importcandidates")
    assert [d.text for d in replies] == [
        "Importing 200 rows… I'll send the summary here when it is done."
    ]
    assert count(sched, Candidate) == 1  # nothing imported inside the chat event

    probe = AnswerWhileBusy(sched, "zoe", ANSWER, lambda: None)
    progress: list[tuple[int, int]] = []

    def after_batch(done: int) -> None:
        progress.append((done, count(sched, Candidate) - 1))
        if done == 3 * BATCH_ROWS:
            probe()

    delivered = run_jobs(sched, handlers={IMPORT_JOB: import_job(after_batch=after_batch)})
    probe.join()

    # Zoe's answer went through between two batches, while most rows were still to come.
    assert probe.seconds is not None and probe.seconds < 3.0, probe.seconds
    assert any("Question 2" in getattr(i, "text", "") for i in probe.intents)
    assert progress == [(n, n) for n in range(BATCH_ROWS, 201, BATCH_ROWS)]
    [summary] = [d.text for d in delivered if d.chat_id == "hr"]
    assert summary.startswith("Import finished: 200 invited, 0 row(s) skipped.")
    # the first 20 invitations with their console commands (no channel reaches candidates)
    assert summary.count("(sales): Console test: /start ") == 20
    assert count(sched, Candidate) == 201
    assert count(sched, Invitation) == 201
    assert count(sched, FunnelEvent, col(FunnelEvent.stage) == "invited") == 201
    assert count(sched, Reminder, col(Reminder.kind).startswith("invite_")) == 400
    [job] = import_jobs(sched)
    assert job.status == "done" and job.attempts == 1


def test_the_summary_and_the_pdf_sheet_follow_in_chinese(sched: Chat) -> None:
    sched.run_jobs = True
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "手机", "岗位"])
    for i in range(30):
        sheet.append([f"李娜{i}", 13900000000 + i, "sales"])
    sheet.append(["王伟", "12345", "sales"])
    buffer = io.BytesIO()
    book.save(buffer)
    replies = send_file(sched, "hr", buffer.getvalue(), "名单.xlsx", "", lang="zh")
    assert replies[0].text == "正在导入 31 行……完成后会在这里发送汇总。"
    assert replies[1].text.startswith("导入完成：已邀请 30 人，跳过 1 行。\n第 32 行：手机号")
    [pdf] = [d for d in replies if d.kind == "file"]
    assert pdf.file_data is not None and pdf.file_data.startswith(b"%PDF")
    assert [d.kind for d in replies] == ["send", "send", "file"]


class Crash(Exception):
    """The worker process dies (after a batch has committed)."""


def crash_after(rows: int) -> JobHandler:
    def after_batch(done: int) -> None:
        if done == rows:
            raise Crash(f"killed after {done} rows")

    return import_job(after_batch=after_batch)


def test_a_crash_after_two_batches_resumes_without_duplicates(
    sched: Chat, clock: FakeClock
) -> None:
    sched.invite("Already Here")  # no contact: cannot clash
    send_file(
        sched, "hr", b"name,phone,job\nOld Friend,13800000099,sales\n", "a.csv", "/importcandidates"
    )
    run_jobs(sched, IMPORT_JOB)
    [first] = summaries(sched)
    assert first.startswith("Import finished: 1 invited, 0 row(s) skipped.\n#2 Old Friend")

    extra = (
        "Copy Of Row 2,139 0000 0000,,sales\n"  # row 122: same phone as row 2 (batch 1)
        "Old Friend Again,+86 13800000099,,sales\n"  # row 123: invited by the first file
        "Bad Phone,12345,,sales\n"  # row 124
        "Copy Of Row 100,,p98@EXAMPLE.com,sales\n"  # row 125: same e-mail as row 100 (batch 4)
    )
    send_file(sched, "hr", people_csv(120, extra=extra), "b.csv", "/importcandidates")
    before = count(sched, Candidate)

    # The worker claims the job and dies after the second batch has committed.
    job = queue.claim(sched.app.db, worker="doomed", kinds=[IMPORT_JOB], clock=clock)
    assert job is not None
    with pytest.raises(Crash):
        crash_after(2 * BATCH_ROWS)(job, Worker(sched.app.db, sched.app.services, {}).ctx)
    assert count(sched, Candidate) == before + 2 * BATCH_ROWS
    [_, job] = import_jobs(sched)
    assert job.status == "running" and job.payload["progress"]["next"] == 2 * BATCH_ROWS
    # The progress holds row numbers and ids, no names or contacts.
    stored = json.dumps(job.payload, ensure_ascii=False)
    assert "Person" not in stored and "13900000000" not in stored and "example" not in stored
    sched.flush()
    assert len(summaries(sched)) == 1  # only the first file's

    queue.recover_stale(sched.app.db, clock=clock)  # the restart
    delivered = run_jobs(sched, IMPORT_JOB)
    [summary] = [d.text for d in delivered if d.chat_id == "hr"]
    assert summary.startswith("Import finished: 120 invited, 4 row(s) skipped.")
    assert "row 122: duplicate of row 2" in summary
    assert "row 123: already invited (candidate #2)" in summary
    assert "row 124: phone number 12345 is not valid" in summary
    assert "row 125: duplicate of row 100" in summary
    assert summary.count("already invited") == 1  # rows of the first two batches are not
    assert "#3 Person 0 (sales)" in summary  # the list starts with the first batch's rows
    assert count(sched, Candidate) == before + 120
    with sched.app.db.session() as session:
        phones = session.exec(
            select(Candidate.phone_hash).where(col(Candidate.phone_hash).is_not(None))
        ).all()
    assert len(phones) == len(set(phones))
    expiring = count(sched, Reminder, col(Reminder.kind) == "invite_expired")
    assert expiring == count(sched, Invitation) - 1  # all but /invite's (planned by the sweep)

    # Once done, running the job's handler again (a second worker) sends and imports nothing.
    [_, job] = import_jobs(sched)
    assert job.status == "done"
    import_job()(job, Worker(sched.app.db, sched.app.services, {}).ctx)
    sched.flush()
    assert len(summaries(sched)) == 2
    assert count(sched, Candidate) == before + 120


def test_a_failed_batch_is_retried_from_where_it_stopped(sched: Chat, clock: FakeClock) -> None:
    send_file(sched, "hr", people_csv(60), "people.csv", "/importcandidates")
    assert run_jobs(sched, handlers={IMPORT_JOB: crash_after(BATCH_ROWS)}) == []
    [job] = import_jobs(sched)
    assert job.status == "pending" and job.attempts == 1  # the worker recorded the failure
    clock.advance(seconds=10)  # the retry's back-off
    [summary] = [d.text for d in run_jobs(sched, IMPORT_JOB) if d.chat_id == "hr"]
    assert summary.startswith("Import finished: 60 invited, 0 row(s) skipped.")
    assert count(sched, Candidate) == 60


def test_a_worker_dying_after_the_summary_does_not_send_it_twice(sched: Chat) -> None:
    send_file(sched, "hr", people_csv(30), "people.csv", "/importcandidates")
    crash_after_result(sched, IMPORT_JOB, sched.app.handlers[IMPORT_JOB])
    [job] = import_jobs(sched)
    assert job.status == "done"
    sched.flush()
    assert run_jobs(sched, IMPORT_JOB) == []
    assert len(summaries(sched)) == 1 and count(sched, Candidate) == 30


def bad(chat: Chat, data: bytes, name: str, lang: str, **kwargs: int) -> list[Delivered]:
    replies = send_file(chat, "hr", data, name, "/importcandidates sales", lang=lang, **kwargs)
    assert import_jobs(chat) == []  # refused in the chat: no job, no summary later
    return replies


@pytest.mark.parametrize(
    ("data", "name", "en", "zh"),
    [
        (
            b"not a zip",
            "list.xlsx",
            "I couldn't open that .xlsx file.",
            "无法打开这个 .xlsx 文件。",
        ),
        (b"foo,bar\n1,2\n", "list.csv", "The first row must name the columns", "第一行必须是列名"),
        (b"\n\n", "list.csv", "That file is empty.", "文件是空的。"),
        (b"name,phone\n\x80\xff\xfe\x81,1\n", "list.csv", "neither UTF-8 nor GBK", "既不是 UTF-8"),
    ],
)
def test_a_bad_file_is_refused_at_once_in_either_language(
    sched: Chat, data: bytes, name: str, en: str, zh: str
) -> None:
    assert en in bad(sched, data, name, "en")[-1].text
    assert zh in bad(sched, data, name, "zh")[-1].text


def test_a_file_over_the_size_limit_is_refused(sched: Chat) -> None:
    limit = MAX_BYTES // (1024 * 1024)
    big = bad(sched, people_csv(3), "list.csv", "en", size=MAX_BYTES + 1)[-1].text
    assert big.startswith(f"That file is too big: the limit is {limit} MB.")
    assert (
        f"上限为 {limit} MB"
        in bad(sched, people_csv(3), "l.csv", "zh", size=MAX_BYTES + 1)[-1].text
    )
