"""One PDF sheet of invitations: a QR code, the link and the identity code per candidate.

HR prints it or forwards it; each entry is what a candidate needs to start. Rendered
with fpdf2 and Noto Sans CJK SC (Debian ``fonts-noto-cjk``, face 2 of the TTC) so
Chinese names print. It is slow work, so it runs as a background job
(:data:`dialogs.invitations.bulk_invite.SHEET_JOB`) and arrives in the chat as a file.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from core.errors import InterviewerError
from core.settings import Settings
from dialogs.invitations.invites import invitation_link, qr_png, tokens_to_hand_out, unseal_tokens
from dialogs.kernel.catalog import t
from dialogs.kernel.intents import SendFile
from dialogs.kernel.slot_time import zone
from dialogs.kernel.worker import JobContext
from storage.models import BackgroundJob, Candidate, Invitation, Job

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FACE = 2  # Noto Sans CJK SC inside the collection
PER_PAGE = 5
# The WeChat adapter can set this: token -> URL of a scene QR code (needs the WeChat API).
WECHAT_QR: list[Callable[[str], str | None]] = []


@dataclass
class SheetEntry:
    name: str
    job: str
    link: str
    code: str
    expires: str
    wechat: str | None = None


def entries_for(
    session: Session,
    settings: Settings,
    invitation_ids: list[int],
    lang: str,
    tokens: dict[int, str],
) -> list[SheetEntry]:
    """The sheet lines for these invitations (in the order given).

    ``tokens`` (invitation id -> token) are the links' tokens, known only to the job
    that prints them (the database keeps hashes); an invitation without one is left out.
    """
    tz = zone(None, settings.app.timezone)
    rows = session.exec(
        select(Invitation, Candidate, Job)
        .join(Candidate, col(Candidate.id) == col(Invitation.candidate_id))
        .join(Job, col(Job.id) == col(Invitation.job_id))
        .where(col(Invitation.id).in_(invitation_ids))
    ).all()
    by_id = {inv.id: (inv, cand, job) for inv, cand, job in rows}
    out: list[SheetEntry] = []
    for iid in invitation_ids:
        if iid not in by_id or iid not in tokens:
            continue
        inv, cand, job = by_id[iid]
        token = tokens[iid]
        wechat = next((url for hook in WECHAT_QR if (url := hook(token))), None)
        out.append(
            SheetEntry(
                name=cand.name,
                job=job.title_zh if lang == "zh" else job.title_en,
                link=invitation_link(settings, token),
                code=inv.code,
                expires=inv.expires_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                wechat=wechat,
            )
        )
    return out


def render_sheet(
    entries: list[SheetEntry], lang: str, *, title: str, font: Path = CJK_FONT
) -> bytes:
    """A4 PDF, five invitations a page, each with its QR code(s).

    Raises:
        InterviewerError: when the CJK font is missing (install fonts-noto-cjk).
    """
    from fpdf import FPDF

    if not font.exists():
        raise InterviewerError(
            f"CJK font not found at {font}: install the Debian package fonts-noto-cjk"
        )
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("cjk", "", str(font), collection_font_number=CJK_FACE)
    pdf.set_title(title)
    block = 54.0
    for index, entry in enumerate(entries):
        if index % PER_PAGE == 0:
            pdf.add_page()
            pdf.set_font("cjk", size=14)
            pdf.set_xy(12, 10)
            pdf.cell(0, 8, title)
        y = 22 + (index % PER_PAGE) * block
        pdf.image(io.BytesIO(qr_png(entry.link)), x=12, y=y, w=44, h=44)
        x = 60.0
        if entry.wechat:
            pdf.image(io.BytesIO(qr_png(entry.wechat)), x=60, y=y, w=44, h=44)
            x = 108.0
        pdf.set_xy(x, y + 1)
        pdf.set_font("cjk", size=12)
        pdf.multi_cell(198 - x, 6.5, f"{entry.name}  ·  {entry.job}")
        pdf.set_font("cjk", size=9)
        lines = [
            t(lang, "schedule.sheet_code", code=entry.code),
            t(lang, "schedule.sheet_expires", when=entry.expires),
            entry.link,
            t(lang, "schedule.sheet_how"),
        ]
        pdf.set_x(x)
        pdf.multi_cell(198 - x, 5, "\n".join(lines))
        pdf.set_draw_color(200, 200, 200)
        pdf.line(12, y + block - 4, 198, y + block - 4)
    return bytes(pdf.output())


def sheet_job(job: BackgroundJob, ctx: JobContext) -> None:
    """Background job: render the sheet and send it to the HR chat that asked."""
    payload = job.payload
    lang = str(payload.get("lang") or ctx.services.settings.app.default_language)
    ids = [int(i) for i in payload.get("invitation_ids", [])]
    # The tokens travel encrypted in the payload ("" once printed; absent in a job
    # queued before tokens were hashed: those invitations get new links).
    sealed = unseal_tokens(payload.get("sealed_tokens"))
    with ctx.db.transaction() as session:
        invitations = session.exec(select(Invitation).where(col(Invitation.id).in_(ids))).all()
        tokens = tokens_to_hand_out(session, invitations, sealed)
    with ctx.db.session() as session:
        entries = entries_for(session, ctx.services.settings, ids, lang, tokens)
    if not entries:
        return
    now = ctx.services.clock.now()
    title = t(
        lang,
        "schedule.sheet_title",
        n=len(entries),
        date=now.astimezone(zone(None, ctx.services.settings.app.timezone)).strftime("%Y-%m-%d"),
    )
    pdf = render_sheet(entries, lang, title=title)
    path, _ = ctx.services.media.put(pdf, ".pdf")
    intent = SendFile(
        platform=str(payload["platform"]),
        chat_id=str(payload["chat_id"]),
        path=path,
        filename=f"invitations-{now:%Y%m%d-%H%M}.pdf",
        caption=title,
        mime_type="application/pdf",
        encrypted=True,
    )
    with ctx.db.transaction() as session:
        sent = ctx.claim_result(session, job)
        if sent:
            ctx.emit(session, [intent], source=f"job:{job.id}")
            row = session.get(BackgroundJob, job.id)
            if row is not None:
                row.payload = {**row.payload, "sealed_tokens": ""}
                session.add(row)
    if not sent:  # a crashed earlier run of this job sent it already
        ctx.services.media.delete(path)
