"""Approval -> candidate details -> terms pre-check -> signing link -> code in chat -> signed."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.wiring import App, build_app
from contracts.signing import validate_contract
from core.clock import FakeClock
from core.settings import Settings
from dialogs.contracting.flow import valid_resident_id
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from storage.contract_models import Contract, Employee
from storage.crypto import token_hash
from storage.models import FunnelEvent, Invitation, Job
from storage.schedule_models import Reminder
from tests.fakes.speech import ScriptedTranscriber
from tests.harness import Chat, RecordingMessenger
from web.contracts import contract_routes

STRONG = (
    "Last year a key customer was about to cancel because deliveries were late. My task was to keep the account. "
    "I called the client every day and arranged weekend shifts. As a result they renewed the contract worth 1.2 million."
)
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    clock.set(dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC))
    evaluator = StarEvaluator(FakeBackend())
    application = build_app(
        settings,
        clock=clock,
        pipeline=Pipeline(transcriber=ScriptedTranscriber, evaluator=lambda: evaluator),
    )
    application.channels["console"] = messenger
    yield application
    application.db.engine.dispose()


@pytest.fixture
def approved(chat: Chat) -> int:
    chat.run_jobs = True
    chat.create_job()
    chat.send("admin", "/bind sales", group="hr-room")
    chat.send(
        "admin",
        "/contractdefaults sales contract_type=fixed_term start_date=2026-12-01 end_date=2029-11-30 probation_months=3 "
        'monthly_wage=12000 probation_wage=9600 city=上海 workplace="上海市浦东新区世纪大道100号"',
    )
    token, code = chat.invite("Ann Lee")
    chat.start_interview("ann", "Ann Lee", token, code)
    for _ in range(3):
        chat.send("ann", STRONG)
    chat.send("ann", "/press submit")
    with chat.app.db.session() as session:
        cid = session.exec(
            select(Invitation.candidate_id).where(Invitation.token_hash == token_hash(token))
        ).one()
    chat.send("hr", f"/press dec:{cid}:a", group="hr-room")
    return cid


def test_resident_id_check_digit() -> None:
    assert valid_resident_id(ID_NUMBER)
    assert not valid_resident_id("110105194912310021")
    assert not valid_resident_id("12345")


def test_approval_to_signed_contract(chat: Chat, approved: int, tmp_path: Path) -> None:
    cid = approved
    assert "ID card number" in chat.messenger.to("ann")[-1].text
    hr_post = chat.messenger.to("hr-room")[-1]
    assert "draft terms" in hr_post.text and hr_post.button_data == [f"ct:{cid}:send"]

    # HR presses Send before the candidate answered: it waits for the details.
    assert (
        "as soon as the candidate"
        in chat.send("hr", f"/press ct:{cid}:send", group="hr-room")[-1].text
    )
    assert "valid ID card number" in chat.send("ann", "123")[-1].text
    assert "home address" in chat.send("ann", ID_NUMBER)[-1].text

    # A blocking term: probation wage below 80 % of the wage (LCL Art. 20).
    chat.send("hr", f"/terms {cid} probation_wage=5000", group="hr-room")
    replies = chat.send("ann", "上海市徐汇区漕溪北路88号")
    blocked = [r.text for r in replies if r.chat_id == "hr-room"]
    assert any("cannot be sent" in t and "Art. 20" in t for t in blocked), blocked
    with chat.app.db.session() as session:
        assert session.exec(select(Contract)).one().status == "blocked"

    # HR fixes the term and sends again: the candidate gets a one-time link.
    chat.send("hr", f"/terms {cid} probation_wage=9600", group="hr-room")
    replies = chat.send("hr", f"/press ct:{cid}:send", group="hr-room")
    assert any("sent to candidate" in r.text for r in replies if r.chat_id == "hr-room")
    link_text = chat.messenger.to("ann")[-1].text
    url = re.search(r"https?://\S+/sign/(\S+)", link_text)
    assert url is not None
    token = url.group(1)

    # The signing page: the code arrives in the candidate's chat only.
    routes = contract_routes(chat.app)
    with TestClient(Starlette(routes=routes), base_url="http://127.0.0.1:8080") as client:
        assert client.post(f"/sign/{token}/code/send").status_code == 200
        chat.flush()
        # (not any 6-digit group: the contract number's suffix can be all digits)
        code = re.search(r" is (\d{6})\. It is valid", chat.messenger.to("ann")[-1].text)
        assert code is not None
        # (as a whole number: a random code can be a substring of a contract number)
        alone = re.compile(rf"(?<!\d){code.group(1)}(?!\d)")
        assert not any(alone.search(d.text) for d in chat.messenger.to("hr-room"))
        assert client.post(f"/sign/{token}/code", data={"code": code.group(1)}).status_code == 200
        done = client.post(
            f"/sign/{token}/sign", data={"mode": "type", "typed_name": "Ann Lee", "confirm": "yes"}
        )
        assert done.status_code == 200, done.text[-500:]
    chat.flush()

    signed_files = [
        d
        for d in chat.messenger.to("ann")
        if d.kind == "file" and (d.filename or "").endswith(".pdf")
    ]
    assert signed_files and signed_files[-1].file_data is not None
    assert any("signed contract" in d.text for d in chat.messenger.to("hr-room"))
    with chat.app.db.session() as session:
        contract = session.exec(select(Contract)).one()
        employee = session.exec(select(Employee)).one()
        assert (contract.status, employee.end_date) == ("signed", dt.date(2029, 11, 30))
        assert session.exec(select(FunnelEvent).where(FunnelEvent.stage == "signed")).one()
        assert session.exec(select(Reminder).where(Reminder.kind == "contract_expiry")).all()
    from contracts.signing import build_signer

    roots = build_signer(chat.app.settings.contracts, chat.app.settings.app.data_dir).trust_roots()
    assert validate_contract(signed_files[-1].file_data, roots).ok

    replies = chat.send("viewer", "/employee Ann", group="hr-room")
    assert "2029-11-30" in replies[-1].text


def test_only_managers_send_contracts_and_terms_are_validated(chat: Chat, approved: int) -> None:
    cid = approved
    assert chat.send("viewer", f"/press ct:{cid}:send", group="hr-room")[-1].alert
    assert (
        "needs the HR manager role for this job"
        in chat.send("viewer", f"/terms {cid} monthly_wage=1", group="hr-room")[-1].text
    )
    assert (
        "not valid"
        in chat.send("hr", f"/terms {cid} start_date=tomorrow", group="hr-room")[-1].text
    )
    assert "Usage" in chat.send("hr", f"/terms {cid} colour=blue", group="hr-room")[-1].text
    with chat.app.db.session() as session:
        assert session.exec(select(Contract)).all() == []
        assert session.exec(select(Job)).one().contract_defaults["monthly_wage"] == "12000"


def defaults(chat: Chat) -> dict[str, object]:
    with chat.app.db.session() as session:
        return dict(session.exec(select(Job)).one().contract_defaults)


def test_contract_defaults_refuse_invalid_values_and_name_each_key(
    chat: Chat, approved: int
) -> None:
    before = defaults(chat)
    text = chat.send(
        "admin", "/contractdefaults sales monthly_wage=abc start_date=2026-02-30", lang="en"
    )[-1].text
    assert "These terms are not valid" in text
    assert "monthly_wage = abc: not an amount" in text
    assert "start_date = 2026-02-30: not a real date" in text
    for args, expected in (
        (
            "pay_day=99999999999999999999999",
            "pay_day = 99999999999999999999999: out of range (1–31)",
        ),
        ("probation_wage=-1", "probation_wage = -1: out of range"),
        ("monthly_wage=NaN", "monthly_wage = NaN: not an amount"),
        ("monthly_wage=1e30", "monthly_wage = 1e30: not an amount"),
        ("contract_type=forever", "choose one of fixed_term, open_ended, task_based"),
        ("social_insurance=maybe", "social_insurance = maybe: write true or false"),
        ("probation_months=two", "probation_months = two: not a whole number"),
    ):
        assert expected in chat.send("admin", f"/contractdefaults sales {args}")[-1].text, args
    zh = chat.send("admin", "/contractdefaults sales end_date=2026-13-01", lang="zh")[-1].text
    assert "这些条款无效" in zh and "end_date = 2026-13-01：不是有效日期" in zh
    for words in ("wage", "monthly_wage 12000", "monthly_wage=1 and more"):
        reply = chat.send("admin", f"/contractdefaults sales {words}", lang="en")[-1].text
        assert reply.startswith("Usage: /contractdefaults"), words
    # Valid on their own, but every contract would be blocked: the pre-check's rule says why.
    blocked = chat.send("admin", "/contractdefaults sales end_date=2026-11-30", lang="en")[-1].text
    assert "Nothing was saved" in blocked and "2026-11-30" in blocked
    assert defaults(chat) == before
    saved = chat.send("admin", "/contractdefaults sales monthly_wage=11999.50", lang="en")[-1]
    assert "updated" in saved.text and defaults(chat)["monthly_wage"] == "11999.50"


def test_terms_saved_before_values_were_checked_are_named_when_sending(
    chat: Chat, approved: int
) -> None:
    cid = approved
    with chat.app.db.transaction() as session:
        job = session.exec(select(Job)).one()
        job.contract_defaults = {**job.contract_defaults, "monthly_wage": "abc"}
        session.add(job)
    text = chat.send("hr", f"/terms {cid} start_date=tomorrow", group="hr-room", lang="en")[-1].text
    assert "start_date = tomorrow: not a real date" in text
    assert "monthly_wage = abc: not an amount" in text
    chat.send("ann", ID_NUMBER)
    replies = chat.send("ann", "上海市徐汇区漕溪北路88号")
    chat.send("hr", f"/press ct:{cid}:send", group="hr-room", lang="en")
    told = [r.text for r in chat.messenger.to("hr-room")]
    assert any("monthly_wage = abc: not an amount" in text for text in told), told
    assert replies  # the candidate was answered, nothing crashed
    with chat.app.db.session() as session:
        assert session.exec(select(Contract)).all() == []
