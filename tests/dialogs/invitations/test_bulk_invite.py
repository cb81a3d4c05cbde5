"""Bulk invitations: broken rows, encodings (UTF-8, GBK), duplicates, XLSX, the PDF sheet."""

from __future__ import annotations

import io
import shutil
import subprocess
import uuid

import pytest
from openpyxl import Workbook
from sqlmodel import col, select

from dialogs.invitations.bulk_invite import import_candidates
from dialogs.invitations.rows import normalize_phone, parse_rows, read_table
from dialogs.invitations.sheet import SheetEntry, render_sheet
from dialogs.invitations.spreadsheet import ImportFileError
from dialogs.kernel.events import FileReceived, MediaRef
from dialogs.scheduling import flow as scheduling
from storage.crypto import token_hash
from storage.models import FunnelEvent, Invitation
from tests.dialogs.schedule_helpers import candidates, reminders
from tests.harness import Chat, Delivered

CSV_EN = (
    "name,phone,email,channel,job\n"
    "Alex Chen,138 0013 8000,,telegram,sales\n"  # row 2: good
    ",13900139000,,,sales\n"  # row 3: no name
    "Bea Wu,12345,,,sales\n"  # row 4: bad phone
    "Cy Li,,not-an-email,,sales\n"  # row 5: bad e-mail
    "Dee Ma,,,,sales\n"  # row 6: no contact
    "Eve Xu,13700137000,,fax,sales\n"  # row 7: unknown channel
    "\n"  # row 8: empty, ignored
    "Fay Ho,,FAY@Example.com,email,sales\n"  # row 9: good
    "Gus Yi,+86 138-0013-8000,,,sales\n"  # row 10: same phone as row 2
    "Hal Ng,13600136000,,,nojob\n"  # row 11: unknown job
    "Ivy Qi,13500135000,fay@example.com,,sales\n"  # row 12: same e-mail as row 9
)


def test_rows_are_validated_and_reported_by_row_number() -> None:
    rows, encoding = read_table(CSV_EN.encode(), "people.csv")
    assert encoding == "utf-8"
    good, problems = parse_rows(rows)
    assert [(r.row, r.name) for r in good] == [
        (2, "Alex Chen"),
        (9, "Fay Ho"),
        (10, "Gus Yi"),
        (11, "Hal Ng"),
        (12, "Ivy Qi"),
    ]
    assert [(p.row, p.code) for p in problems] == [
        (3, "missing_name"),
        (4, "bad_phone"),
        (5, "bad_email"),
        (6, "no_contact"),
        (7, "bad_channel"),
    ]
    assert good[0].phone == "13800138000" and good[0].channel == "telegram"
    assert good[1].email == "fay@example.com" and good[1].channel == "email"


def test_gbk_and_utf8_chinese_files_read_the_same() -> None:
    text = (
        "姓名,手机,邮箱,渠道,岗位\n李娜,13800138000,,微信,sales\n王伟,,wang@example.cn,邮件,sales\n"
    )
    expected = [("李娜", "13800138000", None, "wechat"), ("王伟", None, "wang@example.cn", "email")]
    for data, encoding in (
        (text.encode("gbk"), "gb18030"),
        (text.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + text.encode("utf-8"), "utf-8-sig"),
        (text.encode("utf-16"), "utf-16"),
    ):
        rows, used = read_table(data, "名单.csv")
        good, problems = parse_rows(rows)
        assert used == encoding
        assert problems == []
        assert [(r.name, r.phone, r.email, r.channel) for r in good] == expected


def test_undecodable_file_is_refused_as_a_whole() -> None:
    with pytest.raises(ImportFileError) as info:
        read_table(b"name,phone\n\x80\xff\xfe\x81,123\n", "x.csv")
    assert info.value.code == "encoding"
    with pytest.raises(ImportFileError) as info:
        read_table(b"hello", "x.pdf")
    assert info.value.code == "type"
    with pytest.raises(ImportFileError) as info:
        read_table(b"not a zip", "x.xlsx")
    assert info.value.code == "xlsx"
    with pytest.raises(ImportFileError) as info:
        parse_rows([["foo", "bar"], ["1", "2"]])
    assert info.value.code == "header"
    with pytest.raises(ImportFileError) as info:
        parse_rows([[""], []])
    assert info.value.code == "empty"


def test_xlsx_with_numeric_phones_and_a_default_job() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["候选人姓名", "联系方式", "Preferred channel"])
    sheet.append(["李娜", 13800138000, "Telegram"])
    sheet.append(["Tom Baker", "tom@example.com", None])
    sheet.append([None, None, None])
    sheet.append(["No Contact", None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    rows, encoding = read_table(buffer.getvalue(), "list.XLSX")
    assert encoding == "xlsx"
    good, problems = parse_rows(rows, default_job="sales")
    assert [(r.name, r.phone, r.email, r.channel, r.job_code) for r in good] == [
        ("李娜", "13800138000", None, "telegram", "sales"),
        ("Tom Baker", None, "tom@example.com", None, "sales"),
    ]
    assert [(p.row, p.code) for p in problems] == [(5, "no_contact")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("138 0013 8000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("12345", None),
        ("12800138000", None),  # not a Chinese mobile prefix
        ("phone", None),
    ],
)
def test_phone_normalisation(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


@pytest.fixture
def sched(chat: Chat) -> Chat:
    chat.create_job()
    return chat


def test_import_invites_good_rows_and_finds_duplicates(sched: Chat) -> None:
    with sched.app.db.transaction() as session:
        report = import_candidates(
            session,
            sched.app.settings,
            CSV_EN.encode(),
            "people.csv",
            now=sched.app.services.clock.now(),
        )
    assert [(i.row, i.name) for i in report.invited] == [(2, "Alex Chen"), (9, "Fay Ho")]
    assert [(p.row, p.code, p.detail) for p in report.problems][-4:] == [
        (7, "bad_channel", "fax"),
        (10, "duplicate_file", "2"),
        (11, "unknown_job", "nojob"),
        (12, "duplicate_file", "9"),
    ]
    people = candidates(sched.app)
    assert [(c.name, c.phone, c.email, c.preferred_channel) for c in people] == [
        ("Alex Chen", "13800138000", None, "telegram"),
        ("Fay Ho", None, "fay@example.com", "email"),
    ]
    with sched.app.db.session() as session:
        assert (
            len(session.exec(select(FunnelEvent).where(FunnelEvent.stage == "invited")).all()) == 2
        )
        hashes = {i.token_hash for i in session.exec(select(Invitation)).all()}
    tokens = {i.token for i in report.invited}
    assert len(tokens) == 2 and all(len(t) >= 20 for t in tokens)
    assert hashes == {token_hash(t) for t in tokens}  # the database keeps hashes only
    assert sorted(r.kind for r in reminders(sched.app)) == [
        "invite_expired",
        "invite_expired",
        "invite_expiring",
        "invite_expiring",
    ]

    # the same people again (other spelling of the phone, other case of the e-mail): all duplicates
    again = "姓名,手机,邮箱,岗位\nAlex,+86 13800138000,,sales\nFay,,Fay@EXAMPLE.com,sales\n".encode(
        "gbk"
    )
    with sched.app.db.transaction() as session:
        report = import_candidates(
            session, sched.app.settings, again, "again.csv", now=sched.app.services.clock.now()
        )
    assert report.invited == []
    assert [(p.row, p.code) for p in report.problems] == [
        (2, "duplicate_existing"),
        (3, "duplicate_existing"),
    ]
    # ... but the same person may be invited to another job
    sched.create_job("ops")
    other = b"name,phone,job\nAlex Chen,13800138000,ops\n"
    with sched.app.db.transaction() as session:
        report = import_candidates(
            session, sched.app.settings, other, "ops.csv", now=sched.app.services.clock.now()
        )
    assert [i.job_code for i in report.invited] == ["ops"]


def send_file(
    chat: Chat,
    user: str,
    data: bytes,
    name: str,
    caption: str,
    *,
    lang: str = "en",
    size: int | None = None,
) -> list[Delivered]:
    """HR sends a document (stored encrypted, as the bot adapters store it)."""
    path, digest = chat.app.db.media.put(data, "." + name.rsplit(".", 1)[-1])
    event = FileReceived(
        event_id=f"console:{uuid.uuid4().hex}",
        platform="console",
        chat_id=user,
        user_id=user,
        language_hint=lang,
        media=MediaRef(
            path=path,
            sha256=digest,
            file_name=name,
            size_bytes=len(data) if size is None else size,
        ),
        caption=caption,
    )
    return chat.deliver(event)


def test_hr_imports_a_file_in_the_chat_and_gets_a_pdf_sheet(sched: Chat) -> None:
    scheduling.install(sched.app)
    sched.run_jobs = True
    replies = send_file(sched, "hr", CSV_EN.encode(), "people.csv", "/importcandidates")
    assert replies[0].text == "Importing 10 rows… I'll send the summary here when it is done."
    summary = replies[1].text
    assert summary.startswith("Import finished: 2 invited, 8 row(s) skipped.")
    assert "row 3: the name is missing" in summary
    assert "row 10: duplicate of row 2" in summary
    assert "row 11: unknown job code nojob" in summary
    # no channel reaches candidates here: console commands, and the summary says so
    assert "#1 Alex Chen (sales): Console test: /start " in summary
    assert summary.endswith("/invitesheet JOB gives them links.")
    pdf = [d for d in replies if d.kind == "file"]
    assert len(pdf) == 1 and pdf[0].filename is not None and pdf[0].filename.endswith(".pdf")
    assert pdf[0].file_data is not None and pdf[0].file_data.startswith(b"%PDF")

    # a viewer may not import; an unreadable file is refused as a whole
    assert (
        "needs the HR manager role"
        in send_file(sched, "viewer", CSV_EN.encode(), "p.csv", "/importcandidates")[-1].text
    )
    bad = send_file(
        sched, "hr", b"name,phone\n\x80\xff\xfe\x81,1\n", "p.csv", "/importcandidates sales"
    )
    assert "neither UTF-8 nor GBK" in bad[-1].text
    assert "Send the candidate list" in sched.send("hr", "/importcandidates")[-1].text


def test_invitesheet_command(sched: Chat) -> None:
    scheduling.install(sched.app)
    sched.run_jobs = True
    assert "Usage: /invitesheet" in sched.send("hr", "/invitesheet")[-1].text
    assert "no open invitations" in sched.send("hr", "/invitesheet sales")[-1].text
    sched.invite("李娜")
    sched.invite("Tom Baker")
    replies = sched.send("hr", "/invitesheet sales")
    assert "Preparing the PDF of 2 invitation(s)" in replies[0].text
    assert [d.kind for d in replies[1:]] == ["file"]
    with sched.app.db.session() as session:
        assert len(session.exec(select(Invitation).order_by(col(Invitation.id))).all()) == 2


@pytest.mark.slow
def test_pdf_sheet_prints_chinese_names_links_and_codes() -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed")
    entries = [
        SheetEntry(
            name=f"李娜{i}",
            job="销售代表",
            link=f"https://t.me/InterviewerBot?start=tok{i}",
            code=f"{i:06d}",
            expires="2026-01-19 17:00",
        )
        for i in range(7)
    ]
    pdf = render_sheet(entries, "zh", title="面试邀请（7）")
    out = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "面试邀请（7）" in out
    for i in range(7):
        assert f"李娜{i}" in out
        assert f"start=tok{i}" in out
        assert f"身份验证码：{i:06d}" in out
    pages = subprocess.run(
        ["pdfinfo", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "Pages:           2" in pages
