"""The contract lifecycle, as functions the chat engine and the signing page call.

Every function takes an open SQLModel ``Session`` (the caller owns the transaction) and
a :class:`~core.clock.Clock`. The flow:

1. :func:`create_contract` pre-checks the terms; blocked terms are stored as ``blocked``
   with their findings (HR fixes them with :func:`update_terms`), otherwise the unsigned
   PDF is rendered and stored (``draft``).
2. :func:`issue_signing_link` returns a one-time URL token for the candidate's chat.
   No code is returned: the signing page asks for one (:func:`new_code`) and the web layer
   hands it only to the ``CodeSender``, i.e. the candidate's chat, so whoever else sees
   the link cannot sign.
3. :func:`verify_code` (5 wrong tries lock the link; the count, the lock, the one-time
   use of a code and the code quota are decided on the row by single UPDATE statements,
   so parallel requests cannot overtake each other), then :func:`complete_signing` seals
   the PDF with a :class:`~contracts.signing.Signer` and creates the :class:`Employee`, or
   :func:`decline` records the reason.

PDFs are stored encrypted (:class:`contracts.files.ContractFiles`) and read back into
memory by :func:`unsigned_pdf` and :func:`signed_pdf`, which check them against the
SHA-256 of the plaintext recorded in the row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, or_, update
from sqlmodel import Session, col, select

from contracts.files import SIGNED, UNSIGNED, ContractFiles
from contracts.messages import Lang
from contracts.minimum_wage import MinimumWageTable
from contracts.rules import Finding, archive_until, check, is_blocked
from contracts.signing import AuditEvent, SealRequest, SignatureMark, Signer, sha256_hex
from contracts.terms import ContractTerms, parse_terms
from core.clock import Clock, as_utc
from core.errors import ContractError, SigningError, StorageError
from storage.contract_models import Contract, Employee, SigningEvent, SigningLink

CODE_DIGITS = 6
CODE_TTL = dt.timedelta(minutes=10)
CODE_RESEND_AFTER = dt.timedelta(seconds=60)
MAX_CODES_PER_LINK = 5
MAX_WRONG_TRIES = 5
DEFAULT_LINK_HOURS = 72


class LinkProblem(StrEnum):
    """Why a signing link cannot be used."""

    UNKNOWN = "unknown"  # no such token (also: a tampered token)
    EXPIRED = "expired"
    USED = "used"  # signed or declined already
    LOCKED = "locked"  # too many wrong codes
    REVOKED = "revoked"  # HR issued a newer link


class LinkError(ContractError):
    """The link cannot be used; ``problem`` says why."""

    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(f"signing link {problem.value}")
        self.problem = problem


class CodeError(ContractError):
    """A code could not be sent or checked; ``reason`` is ``wait``, ``limit`` or ``expired``."""

    def __init__(self, reason: str, wait_seconds: int = 0) -> None:
        super().__init__(f"code {reason}")
        self.reason = reason
        self.wait_seconds = wait_seconds


@dataclass(frozen=True)
class IssuedLink:
    """A fresh signing link. ``token`` goes into the URL and is not stored anywhere."""

    token: str
    link_id: int
    expires_at: dt.datetime

    def url(self, base_url: str) -> str:
        """The address the candidate opens."""
        return f"{base_url.rstrip('/')}/sign/{self.token}"


def token_hash(token: str) -> str:
    """How tokens and browser sessions are stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _code_hash(link: SigningLink, code: str) -> str:
    return hashlib.sha256(f"{link.token_hash}:{code}".encode()).hexdigest()


# --- pre-check, create, update -------------------------------------------------------


def precheck(
    terms: ContractTerms, *, today: dt.date, wages: MinimumWageTable | None = None
) -> list[Finding]:
    """Apply every Labour Contract Law rule; see :func:`contracts.rules.check`."""
    return check(terms, today=today, wages=wages)


def findings_of(contract: Contract) -> list[Finding]:
    """The stored pre-check findings of ``contract``."""
    return [Finding(**item) for item in contract.findings]


def terms_of(contract: Contract) -> ContractTerms:
    """The contract's terms."""
    return parse_terms(json.loads(contract.terms_json))


def _local_today(clock: Clock, timezone: str) -> dt.date:
    return clock.now().astimezone(ZoneInfo(timezone)).date()


def _apply_terms(
    contract: Contract,
    terms: ContractTerms,
    *,
    clock: Clock,
    files: ContractFiles,
    timezone: str,
    wages: MinimumWageTable | None,
) -> None:
    from contracts.render import render_contract  # fpdf2/pyHanko load only when rendering

    findings = precheck(terms, today=_local_today(clock, timezone), wages=wages)
    contract.terms_json = terms.model_dump_json()
    contract.contract_type = terms.contract_type
    contract.findings = [f.__dict__.copy() for f in findings]
    contract.start_date = terms.start_date
    contract.end_date = terms.end_date if terms.contract_type == "fixed_term" else None
    contract.updated_at = clock.now()
    contract.unsigned_pdf_path = contract.unsigned_sha256 = None
    if is_blocked(findings):
        contract.status = "blocked"
        return
    rendered = render_contract(terms, contract_no=contract.contract_no, created=clock.now())
    contract.unsigned_pdf_path = files.write(contract.contract_no, UNSIGNED, rendered.pdf)
    contract.unsigned_sha256 = rendered.sha256
    contract.pages = rendered.pages
    contract.status = "draft"


def create_contract(
    session: Session,
    *,
    candidate_id: int,
    terms: ContractTerms,
    clock: Clock,
    files: ContractFiles,
    language: Lang = "zh",
    created_by: str | None = None,
    timezone: str = "Asia/Shanghai",
    wages: MinimumWageTable | None = None,
) -> Contract:
    """Pre-check ``terms`` and, when nothing blocks them, render the unsigned PDF.

    Returns the new contract, ``blocked`` (see :func:`findings_of`) or ``draft``.
    """
    now = clock.now()
    contract_no = f"HT-{now.strftime('%Y%m%d')}-{secrets.token_hex(3).upper()}"
    contract = Contract(
        contract_no=contract_no,
        candidate_id=candidate_id,
        contract_type=terms.contract_type,
        language=language,
        terms_json="{}",
        created_by=created_by,
        created_at=now,
    )
    _apply_terms(contract, terms, clock=clock, files=files, timezone=timezone, wages=wages)
    session.add(contract)
    session.flush()
    _event(session, contract, None, "created", clock, detail=created_by or "")
    return contract


def update_terms(
    session: Session,
    contract: Contract,
    terms: ContractTerms,
    *,
    clock: Clock,
    files: ContractFiles,
    timezone: str = "Asia/Shanghai",
    wages: MinimumWageTable | None = None,
) -> Contract:
    """Replace the terms of a ``blocked``/``draft``/``sent`` contract and re-check them.

    Open signing links are revoked: the candidate must get a link to the new text.

    Raises:
        ContractError: the contract is signed or declined.
    """
    if contract.status not in ("blocked", "draft", "sent"):
        raise ContractError(f"contract {contract.contract_no} is {contract.status}")
    _revoke_links(session, contract, clock)
    _apply_terms(contract, terms, clock=clock, files=files, timezone=timezone, wages=wages)
    session.add(contract)
    _event(session, contract, None, "created", clock, detail="terms updated")
    return contract


# --- links and codes ---------------------------------------------------------------


def _revoke_links(session: Session, contract: Contract, clock: Clock) -> None:
    links = session.exec(
        select(SigningLink).where(
            SigningLink.contract_id == contract.id,
            col(SigningLink.used_at).is_(None),
            col(SigningLink.revoked_at).is_(None),
        )
    ).all()
    for link in links:
        link.revoked_at = clock.now()
        session.add(link)


def issue_signing_link(
    session: Session, contract: Contract, *, clock: Clock, hours: int = DEFAULT_LINK_HOURS
) -> IssuedLink:
    """Create a one-time link (older open links of the contract are revoked).

    Raises:
        ContractError: the contract is blocked, signed or declined.
    """
    if contract.status == "blocked":
        raise ContractError(f"contract {contract.contract_no} is blocked by the pre-check")
    if contract.status not in ("draft", "sent") or contract.unsigned_pdf_path is None:
        raise ContractError(f"contract {contract.contract_no} is {contract.status}")
    _revoke_links(session, contract, clock)
    now = clock.now()
    token = secrets.token_urlsafe(32)
    link = SigningLink(
        contract_id=contract.id,  # type: ignore[arg-type]
        token_hash=token_hash(token),
        expires_at=now + dt.timedelta(hours=hours),
        created_at=now,
    )
    session.add(link)
    contract.status = "sent"
    contract.sent_at = now
    session.add(contract)
    session.flush()
    _event(session, contract, link, "sent", clock)
    return IssuedLink(token=token, link_id=link.id or 0, expires_at=link.expires_at)


def open_link(
    session: Session, token: str, *, clock: Clock, lock: bool = False
) -> tuple[SigningLink, Contract]:
    """The link and contract behind ``token``, if the link can still be used.

    Args:
        lock: hold the link's row until the transaction ends (signing and declining:
            a second submission waits, then finds the link used).

    Raises:
        LinkError: unknown (or tampered), expired, used, locked or revoked.
    """
    if not token or len(token) > 100:
        raise LinkError(LinkProblem.UNKNOWN)
    query = select(SigningLink).where(SigningLink.token_hash == token_hash(token))
    link = session.exec(query.with_for_update() if lock else query).first()
    if link is None:
        raise LinkError(LinkProblem.UNKNOWN)
    contract = session.get(Contract, link.contract_id)
    if contract is None:
        raise LinkError(LinkProblem.UNKNOWN)
    check_link(link, contract, clock=clock)
    return link, contract


def check_link(link: SigningLink, contract: Contract, *, clock: Clock) -> None:
    """Raise :class:`LinkError` unless the link can still be used."""
    if link.used_at is not None or contract.status in ("signed", "declined"):
        raise LinkError(LinkProblem.USED)
    if link.revoked_at is not None or contract.status != "sent":
        raise LinkError(LinkProblem.REVOKED)
    if link.locked:
        raise LinkError(LinkProblem.LOCKED)
    if clock.now() >= as_utc(link.expires_at):
        raise LinkError(LinkProblem.EXPIRED)


def new_code(
    session: Session,
    link: SigningLink,
    contract: Contract,
    *,
    clock: Clock,
    ip: str = "",
    user_agent: str = "",
) -> str:
    """A fresh one-time code for the link; the caller sends it to the candidate's chat only.

    Raises:
        CodeError: ``wait`` (asked again within a minute) or ``limit`` (5 codes sent).
    """
    now = clock.now()
    _check_code_quota(link, now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    # One statement that re-checks the quota and the resend interval on the row itself:
    # requests that read the link at the same moment cannot all send a code.
    resend_before = now - CODE_RESEND_AFTER
    sent = _update_link(
        session,
        link,
        [
            col(SigningLink.codes_sent) < MAX_CODES_PER_LINK,
            or_(
                col(SigningLink.code_sent_at).is_(None),
                col(SigningLink.code_sent_at) <= resend_before,
            ),
        ],
        {
            SigningLink.code_hash: _code_hash(link, code),
            SigningLink.code_expires_at: now + CODE_TTL,
            SigningLink.code_sent_at: now,
            SigningLink.codes_sent: col(SigningLink.codes_sent) + 1,
        },
    )
    if not sent:
        check_link(link, contract, clock=clock)
        _check_code_quota(link, now)
        raise CodeError("wait", math.ceil(CODE_RESEND_AFTER.total_seconds()))
    _event(session, contract, link, "code_sent", clock, ip=ip, user_agent=user_agent)
    return code


def _check_code_quota(link: SigningLink, now: dt.datetime) -> None:
    if link.codes_sent >= MAX_CODES_PER_LINK:
        raise CodeError("limit")
    if link.code_sent_at is not None:
        wait = as_utc(link.code_sent_at) + CODE_RESEND_AFTER - now
        if wait > dt.timedelta(0):
            raise CodeError("wait", math.ceil(wait.total_seconds()))


def _update_link(
    session: Session, link: SigningLink, where: list[Any], values: dict[Any, Any]
) -> bool:
    """Update the link's row if it is still open and ``where`` holds, in one statement.

    The row decides, not the copy read earlier in this transaction: concurrent requests
    (PostgreSQL runs them side by side) each see the others' committed changes. The
    in-memory link is refreshed either way. Returns whether the row was updated.
    """
    session.flush()
    done = session.execute(
        update(SigningLink)
        .where(
            col(SigningLink.id) == link.id,
            col(SigningLink.locked).is_not(True),
            col(SigningLink.used_at).is_(None),
            col(SigningLink.revoked_at).is_(None),
            *where,
        )
        .values(values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(link)
    return bool(done.rowcount)  # type: ignore[attr-defined]


def verify_code(
    session: Session,
    link: SigningLink,
    contract: Contract,
    code: str,
    *,
    clock: Clock,
    ip: str = "",
    user_agent: str = "",
    method: str = "one-time code sent to the candidate's chat",
) -> str | None:
    """Check a code. Returns a browser-session secret on success, None when wrong.

    The fifth wrong code locks the link for good (HR must issue a new one).

    Raises:
        CodeError: ``expired`` when no valid code is outstanding (not counted as wrong).
        LinkError: the link is locked.
    """
    if link.locked:
        raise LinkError(LinkProblem.LOCKED)
    now = clock.now()
    if (
        link.code_hash is None
        or link.code_expires_at is None
        or now >= as_utc(link.code_expires_at)
    ):
        raise CodeError("expired")
    given = "".join(code.split())
    expected = link.code_hash
    if not hmac.compare_digest(_code_hash(link, given), expected):
        # Count on the row (wrong_tries + 1), never from the value read earlier: 20
        # wrong codes at once must lock the link, not each write "1".
        tries = col(SigningLink.wrong_tries) + 1
        locks = tries >= MAX_WRONG_TRIES
        counted = _update_link(
            session,
            link,
            [col(SigningLink.wrong_tries) < MAX_WRONG_TRIES],
            {
                SigningLink.wrong_tries: tries,
                SigningLink.locked: locks,
                SigningLink.code_hash: case((locks, None), else_=col(SigningLink.code_hash)),
            },
        )
        if not counted:
            check_link(link, contract, clock=clock)
            raise LinkError(LinkProblem.LOCKED)
        _event(session, contract, link, "code_failed", clock, ip=ip, user_agent=user_agent)
        if link.locked:
            _event(session, contract, link, "locked", clock, ip=ip, user_agent=user_agent)
        return None
    secret = secrets.token_urlsafe(32)
    # The code is one-time and only good while the link is not locked: both are checked
    # on the row, so neither a parallel use of the code nor a lock can be overtaken.
    verified = _update_link(
        session,
        link,
        [col(SigningLink.code_hash) == expected],
        {
            SigningLink.code_hash: None,
            SigningLink.verified_at: now,
            SigningLink.verified_method: method,
            SigningLink.session_hash: token_hash(secret),
        },
    )
    if not verified:
        if link.locked:
            raise LinkError(LinkProblem.LOCKED)
        check_link(link, contract, clock=clock)
        raise CodeError("expired")
    _event(session, contract, link, "verified", clock, ip=ip, user_agent=user_agent, method=method)
    return secret


def session_matches(link: SigningLink, secret: str | None) -> bool:
    """True when ``secret`` is the browser session this link's code verification created."""
    if not secret or link.session_hash is None or link.verified_at is None:
        return False
    return hmac.compare_digest(token_hash(secret), link.session_hash)


def tries_left(link: SigningLink) -> int:
    """Wrong codes still allowed before the link locks."""
    return max(0, MAX_WRONG_TRIES - link.wrong_tries)


# --- events ------------------------------------------------------------------------


def _event(
    session: Session,
    contract: Contract,
    link: SigningLink | None,
    kind: str,
    clock: Clock,
    *,
    ip: str = "",
    user_agent: str = "",
    method: str = "",
    detail: str = "",
    at: dt.datetime | None = None,
) -> SigningEvent:
    event = SigningEvent(
        contract_id=contract.id,  # type: ignore[arg-type]
        link_id=link.id if link else None,
        kind=kind,
        at=at or clock.now(),
        ip=ip[:64],
        user_agent=user_agent[:400],
        method=method[:200],
        detail=detail[:2000],
    )
    session.add(event)
    return event


def record_event(
    session: Session,
    contract: Contract,
    link: SigningLink | None,
    kind: str,
    *,
    clock: Clock,
    ip: str = "",
    user_agent: str = "",
    method: str = "",
    detail: str = "",
) -> None:
    """Add a row to the contract's audit trail (opened, viewed ...)."""
    _event(
        session,
        contract,
        link,
        kind,
        clock,
        ip=ip,
        user_agent=user_agent,
        method=method,
        detail=detail,
    )


def audit_trail(session: Session, contract: Contract) -> list[SigningEvent]:
    """The contract's events, oldest first."""
    session.flush()
    return list(
        session.exec(
            select(SigningEvent)
            .where(SigningEvent.contract_id == contract.id)
            .order_by(col(SigningEvent.at), col(SigningEvent.id))
        ).all()
    )


# --- signing and declining ---------------------------------------------------------


def _require_verified(
    link: SigningLink, contract: Contract, secret: str | None, clock: Clock
) -> None:
    check_link(link, contract, clock=clock)
    if not session_matches(link, secret):
        raise LinkError(LinkProblem.UNKNOWN)


def unsigned_pdf(contract: Contract, files: ContractFiles) -> bytes:
    """The stored unsigned PDF (decrypted, in memory), checked against its SHA-256.

    Raises:
        SigningError: the file is missing or changed since it was rendered.
    """
    if contract.unsigned_pdf_path is None:
        raise SigningError(f"contract {contract.contract_no} has no PDF")
    return _read_checked(
        files,
        contract,
        contract.unsigned_pdf_path,
        contract.unsigned_sha256,
        "stored",
        SigningError,
    )


def complete_signing(
    session: Session,
    link: SigningLink,
    contract: Contract,
    *,
    browser_secret: str | None,
    mark: SignatureMark,
    signer: Signer,
    clock: Clock,
    files: ContractFiles,
    ip: str = "",
    user_agent: str = "",
) -> Contract:
    """Seal the contract the candidate confirmed and create the employee record.

    Nothing is stored unless sealing succeeds; the link stays usable after a failure
    (for example a timestamp server that is down).

    Raises:
        LinkError: the link is not usable or the browser did not verify the code.
        SigningError: sealing failed (fails closed).
    """
    _require_verified(link, contract, browser_secret, clock)
    terms = terms_of(contract)
    pdf = unsigned_pdf(contract, files)
    confirmed_at = clock.now()
    history = [
        AuditEvent(as_utc(e.at), e.kind, e.ip, e.user_agent, e.method, e.detail)
        for e in audit_trail(session, contract)
    ]
    method = f"explicit confirmation; {mark.kind} signature; {link.verified_method or ''}".strip(
        "; "
    )
    confirm = AuditEvent(confirmed_at, "confirmed", ip, user_agent, method)
    sealed = signer.seal(
        pdf,
        SealRequest(
            contract_no=contract.contract_no,
            employer_name=terms.employer.name,
            employee_name=terms.employee.name,
            mark=mark,
            events=(*history, confirm),
            location=terms.workplace,
        ),
    )
    path = files.write(contract.contract_no, SIGNED, sealed.pdf)
    for event in sealed.events[len(history) :]:
        _event(
            session, contract, link, event.kind, clock,
            ip=event.ip, user_agent=event.user_agent, method=event.method, detail=event.detail, at=event.at,
        )  # fmt: skip
    now = clock.now()
    contract.status = "signed"
    contract.signed_at = now
    contract.signed_pdf_path = path
    contract.signed_sha256 = sealed.sha256_final
    contract.after_employee_sha256 = sealed.sha256_after_employee
    contract.timestamp_source = sealed.timestamp_source
    contract.updated_at = now
    link.used_at = now
    link.session_hash = None
    session.add_all([contract, link])
    end = contract.end_date
    session.add(
        Employee(
            candidate_id=contract.candidate_id,
            contract_id=contract.id,  # type: ignore[arg-type]
            name=terms.employee.name,
            position=terms.position,
            contract_type=terms.contract_type,
            start_date=terms.start_date,
            end_date=end,
            archive_until=archive_until(end) if end else None,
            created_at=now,
        )
    )
    session.flush()
    return contract


def decline(
    session: Session,
    link: SigningLink,
    contract: Contract,
    reason: str,
    *,
    browser_secret: str | None,
    clock: Clock,
    ip: str = "",
    user_agent: str = "",
) -> Contract:
    """Record that the candidate declined, with their reason; the link is used up.

    Raises:
        LinkError: the link is not usable or the browser did not verify the code.
        ContractError: no reason given.
    """
    _require_verified(link, contract, browser_secret, clock)
    reason = " ".join(reason.split())[:1000]
    if not reason:
        raise ContractError("a reason is required to decline")
    now = clock.now()
    contract.status = "declined"
    contract.declined_at = now
    contract.decline_reason = reason
    contract.updated_at = now
    link.used_at = now
    link.session_hash = None
    session.add_all([contract, link])
    _event(session, contract, link, "declined", clock, ip=ip, user_agent=user_agent, detail=reason)
    session.flush()
    return contract


# --- after signing -----------------------------------------------------------------


@dataclass(frozen=True)
class EmployeeRecord:
    """An employee with the contract behind the record."""

    employee: Employee
    contract: Contract


def lookup_employee(session: Session, query: int | str) -> list[EmployeeRecord]:
    """Employees by candidate id, contract number or (part of) the name.

    Names are encrypted, so a name query decrypts and filters in Python: fine for an HR
    team's head count, not for millions of rows.
    """
    rows = session.exec(select(Employee, Contract).where(Employee.contract_id == Contract.id)).all()
    found: list[EmployeeRecord] = []
    for employee, contract in rows:
        if isinstance(query, int):
            hit = employee.candidate_id == query
        else:
            text = query.strip()
            hit = bool(text) and (contract.contract_no == text or text in employee.name)
        if hit:
            found.append(EmployeeRecord(employee, contract))
    return found


def expiring_contracts(
    session: Session, *, today: dt.date, within_days: int = 30
) -> list[EmployeeRecord]:
    """Active employees whose fixed-term contract ends within ``within_days`` (reminders)."""
    last = today + dt.timedelta(days=within_days)
    rows = session.exec(
        select(Employee, Contract)
        .where(Employee.contract_id == Contract.id)
        .where(Employee.status == "active")
        .where(col(Employee.end_date).is_not(None))
        .where(col(Employee.end_date) >= today, col(Employee.end_date) <= last)
        .order_by(col(Employee.end_date))
    ).all()
    return [EmployeeRecord(e, c) for e, c in rows]


def reminder_date(employee: Employee, *, days_before: int = 30) -> dt.date | None:
    """When to remind HR of the contract's expiry (LCL Art. 44, 46: decide on renewal)."""
    if employee.end_date is None:
        return None
    return employee.end_date - dt.timedelta(days=days_before)


def signed_pdf(contract: Contract, files: ContractFiles) -> bytes:
    """The sealed PDF (decrypted, in memory), checked against its SHA-256.

    Raises:
        ContractError: not signed yet, or the file is missing or has changed.
    """
    if contract.signed_pdf_path is None:
        raise ContractError(f"contract {contract.contract_no} is not signed")
    return _read_checked(
        files, contract, contract.signed_pdf_path, contract.signed_sha256, "signed", ContractError
    )


def _read_checked(
    files: ContractFiles,
    contract: Contract,
    path: str,
    sha256: str | None,
    which: str,
    error: type[ContractError],
) -> bytes:
    """A contract file decrypted in memory; ``error`` if unreadable or not ``sha256``."""
    try:
        data = files.read(contract.contract_no, path)
    except StorageError as exc:
        raise error(f"contract {contract.contract_no}: the {which} PDF is unreadable") from exc
    if sha256_hex(data) != sha256:
        raise error(f"contract {contract.contract_no}: the {which} PDF has changed")
    return data
