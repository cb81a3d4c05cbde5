"""A candidate's contracts in the console: the state and, once signed, the sealed PDF.

States come from what the contracting feature stores (``contract.status``): pre-check
issues (``blocked``), drafted (``draft``), sent for signing (``sent``; *expired* when
its newest signing link ran out unused), ``signed``, ``declined``. The sealed PDF is
decrypted in memory and checked against its SHA-256 (:func:`contracts.service.signed_pdf`);
its URL holds the contract's id only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from core.clock import as_utc
from dialogs.kernel.catalog import t
from storage.contract_models import Contract, SigningLink
from storage.models import Candidate, Job
from web.console.render import esc


@dataclass(frozen=True)
class ContractState:
    contract: Contract
    state: str  # blocked | draft | sent | expired | signed | declined
    link_expires: dt.datetime | None


def contract_states(session: Session, candidate_id: int, now: dt.datetime) -> list[ContractState]:
    """The candidate's contracts, newest first, each with its state."""
    rows = session.exec(
        select(Contract)
        .where(Contract.candidate_id == candidate_id)
        .order_by(col(Contract.id).desc())
    ).all()
    out = []
    for contract in rows:
        link = session.exec(
            select(SigningLink)
            .where(SigningLink.contract_id == contract.id)
            .order_by(col(SigningLink.id).desc())
        ).first()
        expires = as_utc(link.expires_at) if link is not None else None
        state = contract.status
        if (
            state == "sent"
            and link is not None
            and expires is not None
            and link.used_at is None
            and expires <= now
        ):
            state = "expired"
        out.append(ContractState(contract, state, expires))
    return out


def find_contract(session: Session, contract_id: int) -> tuple[Contract | None, Job | None]:
    """The contract and its candidate's job; (None, None) when there is no such contract
    or its candidate was deleted."""
    contract = session.get(Contract, contract_id)
    candidate = session.get(Candidate, contract.candidate_id) if contract is not None else None
    if contract is None or candidate is None or candidate.status == "deleted":
        return None, None
    return contract, session.get(Job, candidate.job_id)


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return as_utc(value).strftime("%Y-%m-%d %H:%M") + " UTC"
    return value.isoformat()


def contracts_html(lang: str, states: list[ContractState], may_download: bool) -> str:
    def tx(key: str, **values: object) -> str:
        return esc(t(lang, f"console_web.{key}", **values))

    head = (
        '<section class="card contracts" aria-labelledby="contract-h">'
        f'<h2 id="contract-h">{tx("contract_heading")}</h2>'
    )
    if not states:
        return head + f"<p>{tx('contract_none')}</p></section>"
    items = []
    for s in states:
        c = s.contract
        line = tx(
            "contract_line",
            number=c.contract_no,
            state=t(lang, f"console_web.contract_state_{s.state}"),
        )
        detail = ""
        if s.state == "sent":
            detail = tx("contract_link_until", when=_when(s.link_expires))
        elif s.state == "expired":
            detail = tx("contract_link_expired", when=_when(s.link_expires))
        elif s.state == "signed":
            detail = tx("contract_signed_at", when=_when(c.signed_at))
        elif s.state == "declined":
            detail = tx("contract_declined_at", when=_when(c.declined_at))
        issues = ""
        if s.state in ("blocked", "draft") and c.findings:
            found = "".join(
                f'<li class="{esc(f.get("severity", ""))}">'
                f"{esc(f.get('message_zh' if lang == 'zh' else 'message_en', ''))}"
                f" ({esc(f.get('article_zh' if lang == 'zh' else 'article', ''))})</li>"
                for f in c.findings
            )
            issues = f'<ul class="findings">{found}</ul>'
        download = ""
        if s.state == "signed" and c.signed_pdf_path and may_download:
            download = (
                f' <a href="/console/contracts/{c.id}/signed.pdf" download>'
                f"{tx('contract_download')}</a>"
            )
        items.append(
            f"<li><p>{line}{download}</p>"
            + (f'<p class="meta">{detail}</p>' if detail else "")
            + issues
            + "</li>"
        )
    return head + f'<ul class="contracts">{"".join(items)}</ul></section>'
