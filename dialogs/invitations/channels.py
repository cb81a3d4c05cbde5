"""What an invitation offers: only the ways to start that work for the enabled channels.

Candidates start an interview on the channels this deployment runs for them: the
WeChat Official Account (a scene QR code, made through the WeChat API) and Telegram (a
deep link to the bot, whose username the Bot API tells at start-up). WeCom is for HR
only, and the console is a test channel: it never reaches a real candidate, but the
person at the console can play the candidate there, so an invitation shown *on the
console* also carries its console command (``/start TOKEN``).

Every place an invitation appears builds it from :func:`invitation_ways` and the text
helpers here: the ``/invite`` reply, the bulk-import summary, the PDF sheet, the
e-mail (and the web console, once there is one). Reminders go to a chat the candidate
already opened and carry no way to start.

What the process learns at start-up lives in
:class:`dialogs.kernel.channel.CandidateChannels`
(``Services.channels``): the bot's Telegram username (``getMe``, kept in ``KeyValue`` so
a process that does not talk to Telegram, such as the console chat, knows it too) and
the maker of WeChat scene QR codes (wired in ``app/wiring.py`` when the Official Account
is enabled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import InterviewerError
from core.settings import Settings
from dialogs.invitations.invites import tokens_to_hand_out, unseal_token
from dialogs.kernel.catalog import t
from dialogs.kernel.channel import CandidateChannels
from dialogs.kernel.intents import SendFile
from storage.models import BackgroundJob, Invitation

if TYPE_CHECKING:
    from dialogs.kernel.worker import JobContext

log = logging.getLogger(__name__)

CONSOLE = "console"
# The job that makes an invitation's WeChat scene QR code and sends it to the HR chat
# (the name is stored in queued jobs: keep it).
SCENE_QR_JOB = "wechat_invite_qr"


@dataclass(frozen=True)
class Ways:
    """The ways one invitation can be opened, for the channels enabled now."""

    token: str
    telegram: bool  # Telegram is enabled
    telegram_link: str | None  # its deep link; None while the bot's username is unknown
    wechat: bool  # the Official Account is enabled: a scene QR code (an image)
    console: bool  # shown on the console, where its /start command works

    @property
    def reaches_candidates(self) -> bool:
        """A real channel (not the console) can take this invitation to a candidate."""
        return self.telegram or self.wechat

    @property
    def labelled(self) -> bool:
        """Several channels: each way says which app it is for."""
        return self.telegram and self.wechat

    @property
    def console_command(self) -> str:
        return f"/start {self.token}"


def invitation_ways(
    settings: Settings, channels: CandidateChannels, token: str, *, platform: str = ""
) -> Ways:
    """What an invitation with ``token`` offers, shown to someone on ``platform``.

    Args:
        settings: which channels are enabled.
        channels: what this process learned about them (the Telegram username).
        token: the invitation's token.
        platform: where it is shown ("console" adds the console command); "" for
            places outside any chat (e-mail).
    """
    username = channels.telegram_username if settings.telegram.enabled else None
    return Ways(
        token=token,
        telegram=settings.telegram.enabled,
        telegram_link=f"https://t.me/{username}?start={token}" if username else None,
        wechat=settings.wechat.enabled,
        console=platform == CONSOLE,
    )


def worth_printing(settings: Settings, platform: str) -> bool:
    """Whether invitations shown on ``platform`` (a PDF sheet) have any way to start."""
    return settings.telegram.enabled or settings.wechat.enabled or platform == CONSOLE


# ------------------------------------------------------------------ texts
def label(lang: str, channel: str) -> str:
    """The caption of a channel's QR code when there are several ("微信扫码", "Telegram")."""
    return t(lang, f"channels.{channel}_label")


def ways_text(lang: str, ways: Ways, *, job_code: str) -> str:
    """The lines of an invitation reply that say how to start (one per way)."""
    lines: list[str] = []
    if ways.wechat:
        lines.append(t(lang, "channels.wechat"))
    if ways.telegram:
        lines.append(_telegram_line(lang, ways))
    if not ways.reaches_candidates:
        lines.append(t(lang, "channels.none", job=job_code))
    if ways.console:
        lines.append(t(lang, "channels.console", command=ways.console_command))
    return "\n".join(lines)


def ways_inline(lang: str, ways: Ways) -> str:
    """How to start, on one line of the bulk-import summary ("" when nothing works)."""
    parts: list[str] = []
    if ways.wechat:
        parts.append(t(lang, "channels.wechat_on_sheet"))
    if ways.telegram:
        parts.append(_telegram_line(lang, ways))
    if ways.console:
        parts.append(t(lang, "channels.console", command=ways.console_command))
    return " · ".join(parts)


def ways_hint(lang: str, ways: Ways) -> str:
    """What HR does with the invitation ("" when no channel reaches candidates)."""
    if ways.labelled:
        return t(lang, "channels.how_both")
    if ways.wechat:
        return t(lang, "channels.how_wechat")
    if ways.telegram_link:
        return t(lang, "channels.how_telegram")
    return ""


def sheet_how(lang: str, ways: Ways) -> str:
    """The line under each invitation of the PDF sheet, for the candidate."""
    if ways.labelled:
        return t(lang, "channels.sheet_how_both")
    if ways.wechat:
        return t(lang, "channels.sheet_how_wechat")
    if ways.telegram:
        return t(lang, "schedule.sheet_how")
    return t(lang, "channels.sheet_how_console")


def mail_start(lang: str, ways: Ways) -> str:
    """Step 1 of the invitation e-mail: how to open it (the QR codes are attached)."""
    if ways.labelled and ways.telegram_link:
        return t(lang, "channels.mail_both", link=ways.telegram_link)
    if ways.wechat:
        return t(lang, "channels.mail_wechat")
    return t(lang, "channels.mail_telegram", link=ways.telegram_link or "")


def _telegram_line(lang: str, ways: Ways) -> str:
    if ways.telegram_link is None:
        return t(lang, "channels.telegram_unknown")
    key = "channels.telegram" if ways.labelled else "channels.link"
    return t(lang, key, link=ways.telegram_link)


# ------------------------------------------------------------------ the scene QR job
def scene_qr_job(job: BackgroundJob, ctx: JobContext, /) -> None:
    """Job handler: an invitation's WeChat scene QR code, sent to the HR chat that asked.

    The payload carries the token encrypted (``sealed_token``), blanked once the image
    is on its way; ``caption`` labels the image when several channels are enabled.
    Registered only where the Official Account is set up (``Services.channels``).

    Raises:
        ChannelError: the WeChat API refused or could not be reached (retried).
    """
    make = ctx.services.channels.wechat_qr
    if make is None:  # registered only with a maker; a process without one never claims it
        raise InterviewerError("the WeChat Official Account is not set up in this process")
    payload = job.payload
    inv_id = int(payload.get("invitation_id") or str(job.key or "").rpartition(":")[2] or 0)
    # Absent only in jobs queued before tokens were hashed; "" once sent.
    sealed = unseal_token(payload.get("sealed_token"), inv_id)
    with ctx.db.transaction() as session:
        inv = session.get(Invitation, inv_id)
        tokens = tokens_to_hand_out(session, [inv], sealed) if inv is not None else {}
    token = tokens.get(inv_id)
    if token is None:
        log.info("wechat: no QR code for invitation %s (closed, re-issued or sent)", inv_id)
        return
    png = make(token)
    path, _ = ctx.db.media.put(png, ".png")
    intent = SendFile(
        platform=str(payload["platform"]),
        chat_id=str(payload["chat_id"]),
        path=path,
        filename=f"wechat-invitation-{payload.get('candidate_id', '')}.png",
        caption=str(payload.get("caption") or ""),
        mime_type="image/png",
        encrypted=True,
    )
    sent = ctx.emit_once(job, [intent], source=f"job:wechat_qr:{job.id}", forget="sealed_token")
    if not sent:  # an earlier run of this job sent it already
        ctx.db.media.delete(path)
