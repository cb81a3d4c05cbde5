"""Hostile or broken files sent by staff: each refused with its own message, in the
user's language, nothing changed, no traceback. Candidate spreadsheets first (the chat
only looks at the container; the job reads the rows, with limits and a time limit)."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Sequence

import pytest
from openpyxl import Workbook
from sqlmodel import select

from dialogs.invitations import spreadsheet
from dialogs.invitations.import_job import IMPORT_JOB, import_job
from dialogs.invitations.rows import parse_rows, read_table
from dialogs.invitations.spreadsheet import ImportFileError
from dialogs.scheduling import flow as scheduling
from storage.models import AuditEvent, BackgroundJob, Candidate, Question
from tests.dialogs.invitations.test_bulk_invite import send_file
from tests.dialogs.job_helpers import run_jobs
from tests.harness import Chat, Delivered


@pytest.fixture
def sched(chat: Chat) -> Chat:
    chat.create_job()
    scheduling.install(chat.app)
    return chat


def workbook(*rows: Sequence[object]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def with_member(xlsx: bytes, name: str, content: bytes) -> bytes:
    """The workbook with one ZIP member replaced (or added), deflated."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            if item.filename != name:
                target.writestr(item, source.read(item))
        target.writestr(name, content)
    return out.getvalue()


def zip_bomb() -> bytes:
    """A small .xlsx whose shared strings unpack to 52 MB (the issue's file)."""
    strings = b"<si><t>" + b"A" * 1000 + b"</t></si>"
    count = 52 * 1024 * 1024 // len(strings)
    sst = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + strings * count
        + b"</sst>"
    )
    return with_member(
        workbook(["name", "phone"], ["Li", "13800138000"]), "xl/sharedStrings.xml", sst
    )


def count_candidates(chat: Chat) -> int:
    with chat.app.db.session() as session:
        return len(session.exec(select(Candidate)).all())


def import_jobs(chat: Chat) -> list[BackgroundJob]:
    with chat.app.db.session() as session:
        return list(
            session.exec(select(BackgroundJob).where(BackgroundJob.kind == IMPORT_JOB)).all()
        )


def no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_zip_bomb_is_refused_in_the_chat_without_being_unpacked(
    sched: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    bomb = zip_bomb()
    assert len(bomb) < 1024 * 1024
    before = count_candidates(sched)
    for lang, text in (("en", "unpacks to more than 50 MB"), ("zh", "解压后超过 50 MB")):
        replies = send_file(sched, "hr", bomb, "list.xlsx", "/importcandidates sales", lang=lang)
        assert text in replies[-1].text
    assert import_jobs(sched) == []
    assert count_candidates(sched) == before
    no_error_logged(caplog)


def encrypted_member() -> bytes:
    data = bytearray(workbook(["name", "phone"]))
    central = data.rfind(b"PK\x01\x02")  # the last central-directory entry: flag it encrypted
    data[central + 8] |= 0x1
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [b"PK\x03\x04 but not really a zip", b"%PDF-1.7 a pdf renamed", b"", encrypted_member()],
)
def test_an_xlsx_that_is_no_workbook_is_refused_by_its_container(data: bytes) -> None:
    with pytest.raises(ImportFileError) as info:
        spreadsheet.check_container(data)
    assert info.value.code == "xlsx"


def test_a_zip_without_a_workbook_is_refused_in_the_chat(sched: Chat) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    replies = send_file(sched, "hr", buffer.getvalue(), "a.xlsx", "/importcandidates sales")
    assert "I couldn't open that .xlsx file" in replies[-1].text
    assert import_jobs(sched) == []


def test_sheet_limits_rows_columns_cells_and_time() -> None:
    header: list[object] = ["name", "phone"]
    too_many = workbook(header, *([f"P{i}", f"1380013{i:04d}"] for i in range(5001)))
    with pytest.raises(ImportFileError) as info:
        read_table(too_many, "list.xlsx")
    assert info.value.code == "too_many_rows"
    wide = workbook(header, ["Li", "13800138000", *(["x"] * 60)])
    with pytest.raises(ImportFileError) as info:
        read_table(wide, "list.xlsx")
    assert info.value.code == "too_many_columns"
    huge = workbook(header, ["Li", "13800138000"], ["Wang " + "x" * 5000, "13800138001"])
    with pytest.raises(ImportFileError) as info:
        read_table(huge, "list.xlsx")
    assert (info.value.code, info.value.detail) == ("cell_too_big", "3")
    slow = workbook(header, *([f"P{i}", f"1380013{i:04d}"] for i in range(600)))
    with pytest.raises(ImportFileError) as info:
        read_table(slow, "list.xlsx", seconds=0.0)
    assert info.value.code == "too_slow"
    rows, _ = read_table(slow, "list.xlsx")
    assert len(rows) == 601


def test_csv_limits_and_encodings() -> None:
    big_field = b"name,phone\n" + b'"' + b"x" * 200_000 + b'",1\n'
    with pytest.raises(ImportFileError) as info:
        read_table(big_field, "list.csv")
    assert (info.value.code, info.value.detail) == ("cell_too_big", "2")
    many = b"name,phone\n" + b"".join(b"P%d,1380013%04d\n" % (i, i) for i in range(5001))
    with pytest.raises(ImportFileError) as info:
        read_table(many, "list.csv")
    assert info.value.code == "too_many_rows"
    blank_lines = b"name,phone\n" + b"\n" * 200_000
    with pytest.raises(ImportFileError) as info:
        read_table(blank_lines, "list.csv")
    assert info.value.code == "too_many_rows"
    with pytest.raises(ImportFileError) as info:
        read_table(b"\xff\xfe" + "name,phone\n".encode("utf-16-le") + b"x", "list.csv")
    assert info.value.code == "encoding"


def test_formula_names_are_reported_by_row() -> None:
    rows = [["name", "phone", "job"], ['=HYPERLINK("http://x")', "13800138000", "sales"]]
    rows += [["@SUM(A1)", "13800138001", "sales"], ["Li Na", "13800138002", "sales"]]
    good, problems = parse_rows(rows)
    assert [r.name for r in good] == ["Li Na"]
    assert [(p.row, p.code) for p in problems] == [(2, "formula"), (3, "formula")]


def job_replies(chat: Chat, data: bytes, name: str, lang: str, seconds: float) -> list[Delivered]:
    first = send_file(chat, "hr", data, name, "/importcandidates sales", lang=lang)
    return first + run_jobs(chat, handlers={IMPORT_JOB: import_job(seconds=seconds)})


@pytest.mark.parametrize(
    ("make", "kw", "en", "zh"),
    [
        (
            lambda: workbook(["name", "phone"], ["Li", "13800138000", *(["x"] * 60)]),
            {},
            "values in more than 50 columns",
            "超过 50 列",
        ),
        (
            lambda: workbook(["name", "phone"], ["Li " + "x" * 2000, "13800138000"]),
            {},
            "Row 2 has a cell longer than 1000 characters",
            "第 2 行有一个单元格超过 1000 个字符",
        ),
        (
            lambda: workbook(["name", "phone"], *([f"P{i}", "13800138000"] for i in range(600))),
            {"seconds": 0.0},
            "took longer than 30 seconds",
            "超过了 30 秒",
        ),
        (
            lambda: workbook(["foo", "bar"], ["1", "2"]),
            {},
            "The first row must name the columns",
            "第一行必须是列名",
        ),
    ],
)
def test_a_file_the_job_refuses_gets_a_clear_message_in_the_hr_chat(
    sched: Chat,
    caplog: pytest.LogCaptureFixture,
    make: object,
    kw: dict[str, float],
    en: str,
    zh: str,
) -> None:
    assert callable(make)
    data = make()
    before = count_candidates(sched)
    for lang, text in (("en", en), ("zh", zh)):
        replies = job_replies(sched, data, "list.xlsx", lang, kw.get("seconds", 30.0))
        assert replies[0].text.startswith(("Importing", "正在导入"))
        assert text in replies[-1].text, [d.text for d in replies]
    assert count_candidates(sched) == before
    with sched.app.db.session() as session:
        audits = session.exec(
            select(AuditEvent).where(AuditEvent.action == "candidates_imported")
        ).all()
    assert [a.details["invited"] for a in audits] == [0, 0]
    no_error_logged(caplog)


# ====================================================================== questions
def question_reply(chat: Chat, data: bytes, name: str, lang: str = "en") -> str:
    return send_file(chat, "hr", data, name, "", lang=lang)[-1].text


def company_questions(chat: Chat) -> int:
    with chat.app.db.session() as session:
        return len(session.exec(select(Question).where(Question.owner == "company")).all())


GOOD_Q = (
    "{key: co-ok, competency: teamwork, zh: 请讲一次团队合作的经历, en: Tell me about teamwork}"
)
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("data", "name", "en", "zh"),
    [
        (b"questions: [\n  {key: co-a, zh: x\n", "q.yaml", "not valid (near line", "格式有误"),
        (
            b"- !!python/object/apply:os.system ['echo hacked']\n",
            "q.yaml",
            "uses a tag such as !!python",
            "使用了 !!python",
        ),
        (LAUGHS.encode(), "q.yaml", "uses an alias", "使用了别名"),
        (b"[" * 100_000, "q.yaml", "not valid (near line", "格式有误"),
        (b"just a sentence\n", "q.yml", "must be a list of questions", "必须是题目列表"),
        (b"title: my bank\n", "q.yaml", "must be a list of questions", "必须是题目列表"),
        (b"", "q.yaml", "The file is empty.", "文件是空的。"),
        (b"  \n\n", "q.csv", "The file is empty.", "文件是空的。"),
        (
            b'key,competency,zh,en\nco-a,teamwork,"' + b"x" * 200_000 + b'",y\n',
            "q.csv",
            "Row 2 has a field far longer",
            "第 2 行有一个字段远超",
        ),
        (b"\xff\xfe" + "key,zh\n".encode("utf-16-le") + b"x", "q.csv", "neither UTF-8", "既不是"),
        (b"key,zh\n" + b"x" * (1024 * 1024), "q.csv", "larger than 1024 KB", "超过 1024 KB"),
        (
            b"key,competency,zh,en\n"
            + b"".join(b"co-%d,teamwork,abcd,abcd\n" % i for i in range(501)),
            "q.csv",
            "more than 500 questions",
            "超过 500 道",
        ),
    ],
)
def test_a_question_file_that_cannot_be_read_is_refused_with_its_reason(
    chat: Chat, caplog: pytest.LogCaptureFixture, data: bytes, name: str, en: str, zh: str
) -> None:
    for lang, text in (("en", en), ("zh", zh)):
        reply = question_reply(chat, data, name, lang)
        assert text in reply, reply
    assert company_questions(chat) == 0
    no_error_logged(caplog)


def test_question_rows_of_the_wrong_shape_are_reported_by_row(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    data = f"""
questions:
  - {GOOD_Q}
  - {{competency: teamwork, zh: 请讲一次团队合作的经历, en: Tell me about it, modes: 5}}
  - {{competency: teamwork, zh: 请讲一次团队合作的经历, en: Tell me about it, time_limit_s: [1]}}
  - {{competency: [1, 2], zh: 请讲一次团队合作的经历, en: Tell me about it}}
  - {{key: 12, competency: teamwork, zh: 请讲一次团队合作的经历, en: Tell me about it}}
  - {{key: "Bad Key!", competency: teamwork, zh: 请讲一次团队合作的经历, en: Tell me about it}}
  - {{key: communication-01, competency: teamwork, zh: 请讲一次团队合作的经历, en: Tell me}}
  - 42
""".encode()
    text = question_reply(chat, data, "q.yaml")
    assert "Imported 1 questions" in text
    for expected in (
        "row 2: modes must be among voice, video, text",
        "row 3: time_limit_s must be a whole number",
        "row 4: competency must be text",
        "row 5: key must be text",
        "row 6: key Bad Key!: use lower-case letters",
        "row 7: key communication-01 belongs to the built-in bank",
        "row 8: not a question",
    ):
        assert expected in text, text
    zh = question_reply(chat, data, "q.yaml", "zh")
    assert "第 2 行：modes 只能是 voice、video、text" in zh and "第 8 行：不是题目" in zh
    assert company_questions(chat) == 1
    no_error_logged(caplog)


def test_addquestion_says_what_is_wrong_in_the_users_language(chat: Chat) -> None:
    zh = chat.send("hr", "/addquestion teamwork | 短 | Tell me a story", lang="zh")[-1].text
    assert zh.startswith("用法：/addquestion") and "zh 太短（至少 4 个字符）" in zh
    en = chat.send("hr", "/addquestion Bad Name! | 请讲一次经历经历 | Hi", lang="en")[-1].text
    assert "competency: use lower-case letters, digits and _" in en
    assert "en is too short (at least 4 characters)" in en
    assert company_questions(chat) == 0


def test_a_candidate_list_for_an_unknown_job_is_refused_at_once(sched: Chat) -> None:
    data = b"name,phone\nAnn,13912345678\n"
    reply = send_file(sched, "admin", data, "c.csv", "/importcandidates nojob")[-1].text
    assert "no job with the code nojob" in reply
    assert import_jobs(sched) == []
