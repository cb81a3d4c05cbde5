"""One PDF sheet of invitations: QR code(s), the link and the identity code per candidate.

HR prints it or forwards it; each entry is what a candidate needs to start, for the
channels enabled (:mod:`dialogs.invitations.channels`): the Official Account's scene QR
code, the Telegram link and its QR code, each labelled when there are both. Rendered
with fpdf2 and Noto Sans CJK SC (Debian ``fonts-noto-cjk``, face 2 of the TTC) so
Chinese names print. It is slow work, so it runs as a background job
(:data:`dialogs.invitations.bulk_invite.SHEET_JOB`) and arrives in the chat as a file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from core.errors import InterviewerError
from core.settings import Settings
from dialogs.invitations.channels import invitation_ways, label, sheet_how
from dialogs.invitations.invites import qr_png, tokens_to_hand_out, unseal_tokens
from dialogs.kernel.catalog import t
from dialogs.kernel.channel import CandidateChannels
from dialogs.kernel.intents import SendFile
from dialogs.kernel.slot_time import zone
from dialogs.kernel.worker import JobContext
from storage.models import BackgroundJob, Candidate, Invitation, Job

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FACE = 2  # Noto Sans CJK SC inside the collection
PER_PAGE = 5


@dataclass
class SheetEntry:
    name: str
    job: str
    link: str  # the Telegram deep link; "" when Telegram offers none
    code: str
    expires: str
    wechat: bytes | None = None  # the Official Account's scene QR code (an image)
    scene: str = ""  # the token its scene QR code is made for (:func:`add_scene_qr_codes`)
    console: str = ""  # "Console test: /start …", on a sheet made for the console
    how: str = ""  # what the candidate does; "" -> schedule.sheet_how
    labels: tuple[str, str] | None = None  # (WeChat, Telegram) captions when both


def entries_for(
    session: Session,
    settings: Settings,
    invitation_ids: list[int],
    lang: str,
    tokens: dict[int, str],
    *,
    channels: CandidateChannels | None = None,
    platform: str = "",
) -> list[SheetEntry]:
    """The sheet lines for these invitations (in the order given).

    ``tokens`` (invitation id -> token) are the links' tokens, known only to the job
    that prints them (the database keeps hashes); an invitation without one is left out.
    ``channels`` names the Telegram bot; ``platform`` is the chat the sheet goes to. The
    WeChat scene QR codes are made afterwards, outside the database session
    (:func:`add_scene_qr_codes`).
    """
    channels = channels or CandidateChannels()
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
        ways = invitation_ways(settings, channels, tokens[iid], platform=platform)
        out.append(
            SheetEntry(
                name=cand.name,
                job=job.title_zh if lang == "zh" else job.title_en,
                link=ways.telegram_link or "",
                code=inv.code,
                expires=inv.expires_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                scene=ways.token if ways.wechat else "",
                console=(
                    t(lang, "channels.console", command=ways.console_command)
                    if ways.console
                    else ""
                ),
                how=sheet_how(lang, ways),
                labels=(label(lang, "wechat"), label(lang, "telegram")) if ways.labelled else None,
            )
        )
    return out


def add_scene_qr_codes(entries: list[SheetEntry], channels: CandidateChannels) -> None:
    """The Official Account's scene QR code of each entry that needs one (WeChat API calls).

    Raises:
        InterviewerError: the Official Account is enabled but cannot make QR codes here.
        ChannelError: the WeChat API refused or could not be reached (the job is retried).
    """
    make = channels.wechat_qr
    for entry in entries:
        if entry.scene and entry.wechat is None:
            if make is None:
                raise InterviewerError("the WeChat Official Account is not set up in this process")
            entry.wechat = make(entry.scene)


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
        x = 12.0
        images = [
            (entry.wechat, entry.labels[0] if entry.labels else ""),
            (qr_png(entry.link) if entry.link else None, entry.labels[1] if entry.labels else ""),
        ]
        for image, caption in images:
            if image is None:
                continue
            pdf.image(io.BytesIO(image), x=x, y=y, w=44, h=44)
            if caption:
                pdf.set_font("cjk", size=8)
                pdf.set_xy(x, y + 44)
                pdf.cell(44, 4, caption, align="C")
            x += 48.0
        pdf.set_xy(x, y + 1)
        pdf.set_font("cjk", size=12)
        pdf.multi_cell(198 - x, 6.5, f"{entry.name}  ·  {entry.job}")
        pdf.set_font("cjk", size=9)
        lines = [
            t(lang, "schedule.sheet_code", code=entry.code),
            t(lang, "schedule.sheet_expires", when=entry.expires),
            *[text for text in (entry.link, entry.console) if text],
            entry.how or t(lang, "schedule.sheet_how"),
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
        entries = entries_for(
            session,
            ctx.services.settings,
            ids,
            lang,
            tokens,
            channels=ctx.services.channels,
            platform=str(payload["platform"]),
        )
    if not entries:
        return
    add_scene_qr_codes(entries, ctx.services.channels)
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
    sent = ctx.emit_once(job, [intent], source=f"job:{job.id}", forget="sealed_tokens")
    if not sent:  # a crashed earlier run of this job sent it already
        ctx.services.media.delete(path)
