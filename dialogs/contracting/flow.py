"""From approval to a signed contract, platform-neutral.

Approve -> the candidate gives ID number and address in the chat (encrypted) while HR
reviews the draft terms (job defaults + ``/terms`` changes) -> Send -> Labour Contract
Law pre-check (blocking findings stop it) -> a one-time signing link in the candidate's
chat -> the signing page (``web/signing.py``) asks for a code that only this chat
receives -> sealed PDF to candidate and HR, employee record, expiry reminder.

One module (about 670 lines): one state machine from approval to signature; its steps
share the draft terms, the candidate's details and the HR posts, and reading it top to
bottom follows a contract through. The timed rule lives in ``timed.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlmodel import Session, col, select

from contracts import service
from contracts.files import ContractFiles
from contracts.messages import Lang
from contracts.rules import Finding, is_blocked
from contracts.terms import ContractTerms, field_problems
from core.errors import ContractError
from core.settings import Settings
from dialogs.contracting import timed
from dialogs.contracting.timed import schedule_contract_expiry
from dialogs.kernel.access import Access, candidate_arg, candidate_in_button, job_arg, parse_id
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx, Services
from dialogs.kernel.events import ButtonPressed, CommandReceived, TextReceived
from dialogs.kernel.feature import ButtonEntry, Command, Feature
from dialogs.kernel.intents import Button, Intent, Send, SendFile
from dialogs.kernel.notify import HRChat, hr_group_chats
from dialogs.kernel.roles import permitted_job_ids
from dialogs.kernel.text import has_hidden, visible
from storage.contract_models import Contract
from storage.db import Database
from storage.models import Candidate, Decision, FunnelEvent, InterviewSession, Job

log = logging.getLogger(__name__)

CANDIDATE_STATES = {"details_id", "details_address"}
EDITABLE = sorted(
    name
    for name in ContractTerms.model_fields
    if name not in {"employee", "employer", "liquidated_damages", "additional_clauses"}
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def valid_resident_id(value: str) -> bool:
    """GB 11643 check digit of an 18-character PRC resident ID number."""
    value = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == value[17]


# ------------------------------------------------------------------ approval
def on_approved(ctx: Ctx, candidate: Candidate) -> None:
    """Hook run in the approval's transaction: ask the candidate, show HR the draft."""
    s = ctx.session.exec(
        select(InterviewSession).where(InterviewSession.candidate_id == candidate.id)
    ).first()
    if s is not None:
        s.state = "details_id" if not (candidate.id_number and candidate.address) else s.state
        ctx.session.add(s)
        if s.state == "details_id":
            ctx.send_to(s.platform, s.chat_id, t(s.language, "contract.ask_id"))
    job = ctx.session.get(Job, candidate.job_id)
    assert job is not None
    terms = draft_terms(ctx.settings, job, candidate, {})
    for platform, chat, lang in hr_group_chats(ctx.session, job.id or 0) or [
        HRChat(ctx.event.platform, ctx.event.chat_id, ctx.lang)
    ]:
        ctx.send_to(
            platform,
            chat,
            t(
                lang,
                "contract.hr_approved",
                id=candidate.id,
                name=candidate.name,
                terms=terms_summary(terms),
            ),
            buttons=[[Button(label=t(lang, "contract.send"), data=f"ct:{candidate.id}:send")]],
        )


def handle_candidate(ctx: Ctx, s: InterviewSession) -> None:
    """The candidate's ID number and address, asked after approval."""
    event = ctx.event
    if not isinstance(event, TextReceived):
        ctx.reply("contract.ask_id" if s.state == "details_id" else "contract.ask_address")
        return
    candidate = ctx.session.get(Candidate, s.candidate_id)
    assert candidate is not None
    text = event.text.strip()
    if s.state == "details_id":
        if not valid_resident_id(text):
            ctx.reply("contract.bad_id")
            return
        candidate.id_number = text.upper()
        s.state = "details_address"
        ctx.reply("contract.ask_address")
    else:
        # Five characters one can see, at most 200, none hidden (bidi overrides, controls).
        if len(visible(text)) < 5 or len(text) > 200 or has_hidden(text):
            ctx.reply("contract.bad_address")
            return
        candidate.address = text
        s.state = "done"
        ctx.reply("contract.details_done")
        decision = ctx.session.exec(
            select(Decision).where(Decision.candidate_id == candidate.id)
        ).first()
        ctx.audit("contract_details_given", f"candidate:{candidate.id}")
        ctx.session.add_all([candidate, s])
        ctx.session.flush()
        if decision is not None and decision.contract_requested:
            send_contract(ctx, candidate)
        return
    ctx.audit("contract_details_given", f"candidate:{candidate.id}")
    ctx.session.add_all([candidate, s])


# ------------------------------------------------------------------ terms
def draft_terms(
    settings: Settings, job: Job, candidate: Candidate, overrides: dict[str, Any]
) -> dict[str, Any]:
    """Job defaults, then HR's changes, then the parties' particulars."""
    data: dict[str, Any] = {"contract_type": "fixed_term", "position": job.title_zh}
    data.update(job.contract_defaults)
    data.update(overrides)
    employer = settings.employer
    data["employer"] = {
        "name": employer.name,
        "domicile": employer.domicile,
        "legal_representative": employer.legal_representative,
        "credit_code": employer.credit_code,
        "phone": employer.phone,
    }
    data["employee"] = {
        "name": candidate.name,
        "address": candidate.address or "",
        "id_number": candidate.id_number or "",
        "phone": candidate.phone or "",
        "email": candidate.email or "",
    }
    return data


def terms_summary(data: dict[str, Any]) -> str:
    return "\n".join(
        f"· {key} = {value}"
        for key, value in data.items()
        if key not in ("employee", "employer") and value not in (None, "", [])
    )


def parse_assignments(text: str) -> dict[str, str]:
    """``key=value key2="a b"`` -> dict; unknown keys or words that are no key=value raise
    ValueError."""
    pattern = r'(\w+)\s*=\s*("([^"]*)"|\S+)'
    pairs = re.findall(pattern, text)
    out: dict[str, str] = {}
    for key, raw, quoted in pairs:
        if key not in EDITABLE:
            raise ValueError(key)
        out[key] = quoted if raw.startswith('"') else raw
    leftover = re.sub(pattern, " ", text).split()
    if leftover or not out:  # "wage", "monthly_wage 12000": not key=value
        raise ValueError(leftover[0][:40] if leftover else "")
    return out


def _validate(data: dict[str, Any]) -> ContractTerms:
    return ContractTerms.model_validate(json.loads(json.dumps(data, default=str)))


def problems_text(lang: str, data: dict[str, Any]) -> str:
    """Each invalid value of ``data``, one line per key, in ``lang`` ("" when all fit)."""
    return "\n".join(
        t(lang, f"contract.value_{p.kind}", key=p.key, value=p.value, allowed=p.allowed)
        for p in field_problems(json.loads(json.dumps(data, default=str)))
    )


def _defaults_draft(settings: Settings, job: Job, defaults: dict[str, Any]) -> dict[str, Any]:
    """The terms every contract of ``job`` starts from (the parties left empty)."""
    data: dict[str, Any] = {"contract_type": "fixed_term", "position": job.title_zh}
    data.update(defaults)
    return data


def _new_blocks(ctx: Ctx, job: Job, merged: dict[str, Any]) -> list[Finding]:
    """Blocking pre-check findings the new defaults would add to every contract of the job.

    Missing clauses are left out: the candidate's particulars and ``/terms`` fill those.
    """
    today = ctx.now.astimezone(ZoneInfo(ctx.settings.app.timezone)).date()

    def blocks(defaults: dict[str, Any]) -> set[tuple[str, str]]:
        try:
            terms = _validate(_defaults_draft(ctx.settings, job, defaults))
        except ValidationError:
            return set()
        return {
            (f.rule, f.message_en)
            for f in service.precheck(terms, today=today)
            if f.severity == "block" and f.rule != "required_clause"
        }

    before = blocks(job.contract_defaults)
    terms = _validate(_defaults_draft(ctx.settings, job, merged))
    return [
        f
        for f in service.precheck(terms, today=today)
        if f.severity == "block"
        and f.rule != "required_clause"
        and (f.rule, f.message_en) not in before
    ]


def _terms_command(ctx: Ctx, event: CommandReceived) -> None:
    parts = event.args.split(maxsplit=1)
    if len(parts) != 2:
        ctx.reply("contract.terms_usage", keys=", ".join(EDITABLE))
        return
    candidate = ctx.target.candidate
    decision = ctx.session.exec(
        select(Decision).where(Decision.candidate_id == (candidate.id if candidate else -1))
    ).first()
    if candidate is None or decision is None or decision.outcome != "approve":
        ctx.reply("contract.not_approved", id=ctx.target.raw[:20])
        return
    try:
        changes = parse_assignments(parts[1])
    except ValueError as exc:
        ctx.reply("contract.terms_usage", keys=f"{exc} ? — " + ", ".join(EDITABLE))
        return
    job = ctx.session.get(Job, candidate.job_id)
    assert job is not None
    merged = {**decision.contract_terms, **changes}
    data = draft_terms(ctx.settings, job, candidate, merged)
    problems = problems_text(ctx.lang, data)
    if problems:
        ctx.reply("contract.terms_bad", problems=problems)
        return
    decision.contract_terms = merged
    ctx.session.add(decision)
    ctx.audit("contract_terms_changed", f"candidate:{candidate.id}", keys=sorted(changes))
    ctx.reply("contract.terms_saved", id=candidate.id, terms=terms_summary(data))


def _defaults_command(ctx: Ctx, event: CommandReceived) -> None:
    parts = event.args.split(maxsplit=1)
    job = ctx.target.job
    if job is None or len(parts) != 2:
        if job is None and ctx.target.named:
            ctx.reply("staff.job_unknown", code=ctx.target.raw[:40])
        else:
            ctx.reply("contract.defaults_usage")
        return
    try:
        changes = parse_assignments(parts[1])
    except ValueError:
        ctx.reply("contract.defaults_usage")
        return
    merged = {**job.contract_defaults, **changes}
    problems = problems_text(ctx.lang, _defaults_draft(ctx.settings, job, merged))
    if problems:
        ctx.reply("contract.terms_bad", problems=problems)
        return
    blocks = _new_blocks(ctx, job, merged)
    if blocks:
        lang: Lang = "en" if ctx.lang == "en" else "zh"
        ctx.reply(
            "contract.defaults_blocked", findings="\n".join(f"· {f.message(lang)}" for f in blocks)
        )
        return
    job.contract_defaults = merged
    ctx.session.add(job)
    ctx.audit("contract_defaults_changed", f"job:{job.id}", keys=sorted(changes))
    ctx.reply("contract.defaults_saved", code=job.code, terms=terms_summary(job.contract_defaults))


# ------------------------------------------------------------------ sending
def _send_button(ctx: Ctx) -> None:
    event = ctx.event
    assert isinstance(event, ButtonPressed)
    parts = event.data.split(":")
    candidate = ctx.target.candidate
    if candidate is None:
        text = ctx.text("decision.unknown_candidate", id=ctx.target.raw[:20])
        ctx.answer_button(text, alert=True)
        return
    if len(parts) != 3:
        ctx.answer_button()
        return
    ctx.answer_button()
    send_contract(ctx, candidate)


def _send_command(ctx: Ctx, event: CommandReceived) -> None:
    candidate = ctx.target.candidate
    if candidate is None:
        ctx.reply("decision.unknown_candidate", id=ctx.target.raw[:20] or "-")
        return
    send_contract(ctx, candidate)


def send_contract(ctx: Ctx, candidate: Candidate) -> None:
    """Pre-check and send the signing link, or tell HR what blocks it."""
    decision = ctx.session.exec(
        select(Decision).where(Decision.candidate_id == candidate.id)
    ).first()
    if decision is None or decision.outcome != "approve":
        ctx.reply("contract.not_approved", id=candidate.id)
        return
    decision.contract_requested = True
    ctx.session.add(decision)
    if not (candidate.id_number and candidate.address):
        _to_hr(ctx, candidate, "contract.waiting_details", id=candidate.id)
        return
    job = ctx.session.get(Job, candidate.job_id)
    assert job is not None
    draft = draft_terms(ctx.settings, job, candidate, decision.contract_terms)
    try:
        terms = _validate(draft)
    except ValidationError:
        # Terms saved before values were checked: say which, in each chat's language.
        _to_hr(ctx, candidate, "contract.terms_bad", problems=("problems", draft))
        return
    existing = ctx.session.exec(select(Contract).where(Contract.candidate_id == candidate.id)).all()
    current = next((c for c in existing if c.status in ("blocked", "draft", "sent")), None)
    if any(c.status == "signed" for c in existing):
        _to_hr(ctx, candidate, "contract.already_signed", id=candidate.id)
        return
    files = ContractFiles.in_data_dir(ctx.settings.app.data_dir, ctx.services.media.keyring)
    tz = ctx.settings.app.timezone
    if current is None:
        contract = service.create_contract(
            ctx.session,
            candidate_id=candidate.id or 0,
            terms=terms,
            clock=ctx.services.clock,
            files=files,
            language="zh",
            created_by=ctx.actor,
            timezone=tz,
        )
    else:
        contract = service.update_terms(
            ctx.session, current, terms, clock=ctx.services.clock, files=files, timezone=tz
        )
    findings = service.findings_of(contract)
    if is_blocked(findings) or contract.status == "blocked":
        _to_hr(
            ctx,
            candidate,
            "contract.blocked",
            id=candidate.id,
            findings=("findings", findings, "block"),
        )
        ctx.audit(
            "contract_blocked",
            f"candidate:{candidate.id}",
            rules=[f.rule for f in findings if f.severity == "block"],
        )
        return
    if findings:
        _to_hr(
            ctx,
            candidate,
            "contract.warnings",
            id=candidate.id,
            findings=("findings", findings, "warn"),
        )
    link = service.issue_signing_link(
        ctx.session, contract, clock=ctx.services.clock, hours=ctx.settings.contracts.link_hours
    )
    until = link.expires_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    url = link.url(ctx.settings.app.public_base_url)
    s = ctx.session.exec(
        select(InterviewSession).where(InterviewSession.candidate_id == candidate.id)
    ).first()
    if s is not None:
        ctx.send_to(
            s.platform,
            s.chat_id,
            t(
                s.language,
                "contract.sent_candidate",
                number=contract.contract_no,
                url=url,
                until=until,
            ),
        )
    _to_hr(
        ctx,
        candidate,
        "contract.sent_hr",
        number=contract.contract_no,
        id=candidate.id,
        until=until,
    )
    ctx.audit("contract_sent", f"candidate:{candidate.id}", contract=contract.contract_no)


def _to_hr(ctx: Ctx, candidate: Candidate, key: str, /, **kwargs: Any) -> None:
    """To the job's HR groups, and to the chat the command came from if it is not one."""
    targets = list(hr_group_chats(ctx.session, candidate.job_id))
    if (ctx.event.platform, ctx.event.chat_id) not in {(p, c) for p, c, _ in targets}:
        targets.append(HRChat(ctx.event.platform, ctx.event.chat_id, ctx.lang))
    for platform, chat, lang in targets:
        ctx.send_to(platform, chat, t(lang, key, **{k: _local(lang, v) for k, v in kwargs.items()}))


def _local(lang: str, value: Any) -> Any:
    if isinstance(value, tuple) and value and value[0] == "findings":
        findings: list[Finding] = value[1]
        wanted = value[2]
        language: Lang = "zh" if lang == "zh" else "en"
        return "\n".join(
            f"· [{f.rule}] {f.message(language)} ({f.article_zh if lang == 'zh' else f.article})"
            for f in findings
            if f.severity == wanted
        )
    if isinstance(value, tuple) and value and value[0] == "problems":
        return problems_text(lang, value[1])
    return value


# ------------------------------------------------------------------ web hooks
class ContractEvents:
    """What the signing page calls: send codes to the chat, announce signed/declined."""

    def __init__(self, db: Database, services: Services) -> None:
        self.db = db
        self.services = services

    async def send_code(
        self, *, candidate_id: int, contract_id: int, code: str, language: str
    ) -> None:
        """The code goes only to the candidate's own chat (never to HR, never in the page)."""
        await asyncio.to_thread(self._send_code, candidate_id, contract_id, code)

    async def signed(self, contract_id: int) -> None:
        await asyncio.to_thread(self.signed_now, contract_id)

    async def declined(self, contract_id: int) -> None:
        await asyncio.to_thread(self.declined_now, contract_id)

    def _send_code(self, candidate_id: int, contract_id: int, code: str) -> None:
        with self.db.transaction() as session:
            s = session.exec(
                select(InterviewSession).where(InterviewSession.candidate_id == candidate_id)
            ).first()
            contract = session.get(Contract, contract_id)
            if s is None or contract is None:
                raise ContractError("no chat to send the signing code to")
            text = t(s.language, "contract.code", number=contract.contract_no, code=code)
            _emit(
                session,
                self.services,
                [Send(platform=s.platform, chat_id=s.chat_id, text=text)],
                f"contract:code:{contract_id}",
            )

    def signed_now(self, contract_id: int) -> None:
        """Signed PDF to the candidate and HR, funnel fact, expiry reminder."""

        with self.db.transaction() as session:
            contract = session.get(Contract, contract_id)
            if contract is None or contract.status != "signed":
                return
            candidate = session.get(Candidate, contract.candidate_id)
            assert candidate is not None
            files = ContractFiles.in_data_dir(self.services.settings.app.data_dir, self.db.keyring)
            pdf = service.signed_pdf(contract, files)
            path, _ = self.db.media.put(pdf, ".pdf")
            intents: list[Intent] = []
            s = session.exec(
                select(InterviewSession).where(InterviewSession.candidate_id == candidate.id)
            ).first()
            name = f"{contract.contract_no}.pdf"
            if s is not None:
                intents.append(
                    Send(
                        platform=s.platform,
                        chat_id=s.chat_id,
                        text=t(
                            s.language, "contract.signed_candidate", number=contract.contract_no
                        ),
                    )
                )
                intents.append(
                    SendFile(
                        platform=s.platform,
                        chat_id=s.chat_id,
                        path=path,
                        filename=name,
                        mime_type="application/pdf",
                        encrypted=True,
                    )
                )
            for platform, chat, lang in hr_group_chats(session, candidate.job_id):
                end = (
                    contract.end_date.isoformat()
                    if contract.end_date
                    else t(lang, "contract.open_ended")
                )
                intents.append(
                    Send(
                        platform=platform,
                        chat_id=chat,
                        text=t(
                            lang,
                            "contract.signed_hr",
                            id=candidate.id,
                            name=candidate.name,
                            number=contract.contract_no,
                            end=end,
                        ),
                    )
                )
                intents.append(
                    SendFile(
                        platform=platform,
                        chat_id=chat,
                        path=path,
                        filename=name,
                        mime_type="application/pdf",
                        encrypted=True,
                    )
                )
            now = self.services.clock.now()
            if (
                session.exec(
                    select(FunnelEvent).where(
                        FunnelEvent.candidate_id == candidate.id, FunnelEvent.stage == "signed"
                    )
                ).first()
                is None
            ):
                session.add(
                    FunnelEvent(
                        candidate_id=candidate.id or 0,
                        job_id=candidate.job_id,
                        stage="signed",
                        at=now,
                    )
                )
            if contract.end_date is not None:
                ends = dt.datetime.combine(
                    contract.end_date,
                    dt.time(18, 0),
                    tzinfo=ZoneInfo(self.services.settings.app.timezone),
                )
                schedule_contract_expiry(
                    session,
                    self.services.settings,
                    contract_id=contract.id or 0,
                    job_id=candidate.job_id,
                    ends_at=ends,
                    now=now,
                    label=contract.contract_no,
                    candidate_id=candidate.id,
                )
            _emit(session, self.services, intents, f"contract:signed:{contract_id}")

    def declined_now(self, contract_id: int) -> None:
        with self.db.transaction() as session:
            contract = session.get(Contract, contract_id)
            if contract is None:
                return
            candidate = session.get(Candidate, contract.candidate_id)
            assert candidate is not None
            intents: list[Intent] = [
                Send(
                    platform=p,
                    chat_id=c,
                    text=t(
                        lang,
                        "contract.declined_hr",
                        id=candidate.id,
                        number=contract.contract_no,
                        reason=contract.decline_reason or "-",
                    ),
                )
                for p, c, lang in hr_group_chats(session, candidate.job_id)
            ]
            _emit(session, self.services, intents, f"contract:declined:{contract_id}")


def _emit(session: Session, services: Services, intents: list[Intent], source: str) -> None:
    from dialogs.kernel.outbox import write_intents

    write_intents(session, intents, source_event=source, now=services.clock.now())


# ------------------------------------------------------------------ lookup
def _employee_command(ctx: Ctx, event: CommandReceived) -> None:
    query = event.args.strip()
    if not query:
        ctx.reply("contract.employee_usage")
        return
    cid = parse_id(query)
    records = service.lookup_employee(ctx.session, cid if cid is not None else query[:100])
    who = ctx.event
    visible = permitted_job_ids(ctx.session, ctx.settings, who.platform, who.user_id, "view")
    if visible is not None:  # staff of some jobs see those jobs' employees only
        jobs = dict(
            ctx.session.exec(
                select(Candidate.id, Candidate.job_id).where(
                    col(Candidate.id).in_([r.employee.candidate_id for r in records])
                )
            ).all()
        )
        records = [r for r in records if jobs.get(r.employee.candidate_id) in visible]
    ctx.audit("employee_lookup", "", found=len(records))
    if not records:
        ctx.reply("contract.employee_none", query=query[:40])
        return
    lines = [
        ctx.text(
            "contract.employee_line",
            name=r.employee.name,
            position=r.employee.position,
            number=r.contract.contract_no,
            type=r.employee.contract_type,
            start=r.employee.start_date or "-",
            end=r.employee.end_date or ctx.text("contract.open_ended"),
            status=r.employee.status,
        )
        for r in records[:20]
    ]
    ctx.say("\n".join(lines))


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


FEATURE = Feature(
    "contracting",
    commands={
        "terms": Command(Access("decide", "candidate", candidate_arg(0)), _terms_command),
        "sendcontract": Command(Access("decide", "candidate", candidate_arg(0)), _send_command),
        "contractdefaults": Command(Access("manage_jobs", "job", job_arg(0)), _defaults_command),
        # Any role: the lookup then shows only employees of the jobs the user may see.
        "employee": Command(Access("view", "any"), _employee_command),
    },
    buttons={"ct": ButtonEntry(Access("decide", "candidate", candidate_in_button), _send_button)},
    candidate_states={state: handle_candidate for state in sorted(CANDIDATE_STATES)},
    on_approved=(on_approved,),
    reminders=timed.RULES,
)
