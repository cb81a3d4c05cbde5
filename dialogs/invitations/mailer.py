"""Optional e-mail of each invitation over SMTP (``[smtp]`` in config.toml).

Bots cannot write first to people who never talked to them, so an e-mail carries the
ways to start that the enabled channels offer (the WeChat scene QR code, the Telegram
link and its QR code: :mod:`dialogs.invitations.channels`) and the identity code; with no
channel that reaches candidates there is nothing to send. Sending is a background job
(:data:`dialogs.invitations.bulk_invite.MAIL_JOB`); ``schedule_mail`` remembers what was sent, so a
retried job does not send the same invitation twice (a crash between the SMTP reply
and the commit can still send it twice: SMTP has no idempotency key).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol

from core.errors import InterviewerError, describe_error
from core.settings import Settings, SmtpSettings
from dialogs.invitations.channels import Ways, invitation_ways, mail_start
from dialogs.invitations.invites import qr_png, tokens_to_hand_out, unseal_token
from dialogs.kernel.catalog import t
from dialogs.kernel.slot_time import zone
from dialogs.kernel.worker import JobContext
from storage.models import BackgroundJob, Candidate, Invitation, Job
from storage.schedule_models import MailLog


class MailError(InterviewerError):
    """An e-mail could not be sent; ``retryable`` for network trouble and 4xx replies."""

    def __init__(self, message: str, *, retryable: bool, reason: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason  # fixed words, no address or server text: safe to store

    def safe_message(self) -> str:
        return self.reason


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Send one message or raise :class:`MailError`."""
        ...


class SmtpMailer:
    """smtplib against the configured server (STARTTLS and login when configured)."""

    def __init__(self, settings: SmtpSettings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        cfg = self.settings
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=self.timeout) as smtp:
                if cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if cfg.username:
                    smtp.login(
                        cfg.username, cfg.password.get_secret_value() if cfg.password else ""
                    )
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(
                f"recipient refused: {exc.recipients}",
                retryable=False,
                reason="recipient refused",
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
                retryable=400 <= exc.smtp_code < 500,
                reason=f"SMTP {exc.smtp_code}",
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(
                f"SMTP failed: {type(exc).__name__}: {exc}",
                retryable=True,
                reason=f"SMTP failed: {type(exc).__name__}",
            ) from exc


# Tests or deployments may replace how a mailer is made from the settings.
MAILER_FACTORY: Callable[[SmtpSettings], Mailer] = SmtpMailer


def invitation_message(
    settings: Settings,
    *,
    to: str,
    name: str,
    job: Job,
    ways: Ways,
    code: str,
    expires: str,
    wechat_qr: bytes | None = None,
) -> EmailMessage:
    """A bilingual (zh, then en) invitation with its QR code(s) attached.

    Args:
        ways: how it is opened (only the channels enabled).
        wechat_qr: the Official Account's scene QR code, when WeChat is one of them.
    """
    message = EmailMessage()
    message["From"] = settings.smtp.sender
    message["To"] = formataddr((name, to))
    message["Subject"] = (
        t("zh", "schedule.mail_subject", job=job.title_zh)
        + " / "
        + t("en", "schedule.mail_subject", job=job.title_en)
    )
    message["Message-ID"] = make_msgid(domain=settings.smtp.sender.rpartition("@")[2] or None)
    bodies = [
        t(
            lang,
            "schedule.mail_body",
            name=name,
            job=job.title_zh if lang == "zh" else job.title_en,
            start=mail_start(lang, ways),
            code=code,
            expires=expires,
        )
        for lang in ("zh", "en")
    ]
    message.set_content("\n\n----------\n\n".join(bodies))
    if wechat_qr is not None:
        kind = "jpeg" if wechat_qr.startswith(b"\xff\xd8") else "png"
        message.add_attachment(
            wechat_qr, maintype="image", subtype=kind, filename=f"wechat-qr.{kind}"
        )
    if ways.telegram_link:
        message.add_attachment(
            qr_png(ways.telegram_link),
            maintype="image",
            subtype="png",
            filename="invitation-qr.png",
        )
    return message


def send_invitation(
    ctx: JobContext, invitation_id: int, mailer: Mailer, *, sealed_token: str | None
) -> str:
    """E-mail one invitation unless it was sent already.

    ``sealed_token`` is the link's token as the job carries it (encrypted; ``None`` in a
    job queued before tokens were hashed: the invitation then gets a new one).

    Returns:
        ``sent``, ``already`` or ``skipped`` (no address, invitation closed or its link
        re-issued since, SMTP off, no channel that reaches candidates).

    Raises:
        MailError: when sending failed (the attempt is recorded).
        ChannelError: the WeChat QR code could not be made (nothing sent; retried).
    """
    settings = ctx.services.settings
    if not settings.smtp.enabled:
        return "skipped"
    channels = ctx.services.channels
    with ctx.db.transaction() as session:
        log_row = session.get(MailLog, invitation_id)
        if log_row is not None and log_row.status == "sent":
            return "already"
        inv = session.get(Invitation, invitation_id)
        cand = session.get(Candidate, inv.candidate_id) if inv else None
        job = session.get(Job, inv.job_id) if inv else None
        if (
            inv is None
            or cand is None
            or job is None
            or not cand.email
            or inv.status not in ("pending", "opened")
        ):
            session.merge(MailLog(invitation_id=invitation_id, status="skipped"))
            return "skipped"
        sealed = unseal_token(sealed_token, invitation_id)
        token = tokens_to_hand_out(session, [inv], sealed).get(invitation_id)
        if token is None:  # HR re-issued the link (/invitesheet): this one no longer works
            session.merge(
                MailLog(invitation_id=invitation_id, status="skipped", error="link re-issued")
            )
            return "skipped"
        ways = invitation_ways(settings, channels, token)
        if not ways.reaches_candidates:
            session.merge(
                MailLog(invitation_id=invitation_id, status="skipped", error="no channel")
            )
            return "skipped"
        expires = inv.expires_at.astimezone(zone(None, settings.app.timezone)).strftime(
            "%Y-%m-%d %H:%M"
        )
        to, name, code = cand.email, cand.name, inv.code
    if not ways.wechat and ways.telegram_link is None:
        # Only a process that never met the bot: the one that runs it learns its name.
        raise InterviewerError("the Telegram bot's username is not known yet (start the bot)")
    # The WeChat API call happens outside the transaction; a failure leaves no attempt.
    wechat_qr = None
    if ways.wechat:
        if channels.wechat_qr is None:
            raise InterviewerError("the WeChat Official Account is not set up in this process")
        wechat_qr = channels.wechat_qr(token)
    message = invitation_message(
        settings,
        to=to,
        name=name,
        job=job,
        ways=ways,
        code=code,
        expires=expires,
        wechat_qr=wechat_qr,
    )
    with ctx.db.transaction() as session:
        log_row = session.get(MailLog, invitation_id) or MailLog(invitation_id=invitation_id)
        log_row.attempts += 1
        session.add(log_row)
    try:
        mailer.send(message)
    except MailError as exc:
        with ctx.db.transaction() as session:
            row = session.get(MailLog, invitation_id)
            if row is not None:
                row.status = "pending" if exc.retryable else "failed"
                row.error = describe_error(exc)[:500]  # never the address or server text
                session.add(row)
        raise
    with ctx.db.transaction() as session:
        row = session.get(MailLog, invitation_id)
        assert row is not None
        row.status = "sent"
        row.error = None
        row.sent_at = ctx.services.clock.now()
        session.add(row)
    return "sent"


def mail_job(job: BackgroundJob, ctx: JobContext) -> None:
    """Background job: e-mail the invitation ``payload['invitation_id']``.

    The link's token travels encrypted in ``payload['sealed_token']`` and is blanked
    once the e-mail is sent (or will never be).
    """
    try:
        send_invitation(
            ctx,
            int(job.payload["invitation_id"]),
            MAILER_FACTORY(ctx.services.settings.smtp),
            sealed_token=job.payload.get("sealed_token"),
        )
    except MailError as exc:
        if exc.retryable:
            raise
        # A refused address will not work on retry: the log row says why.
    if job.payload.get("sealed_token"):
        with ctx.db.transaction() as session:
            row = session.get(BackgroundJob, job.id)
            if row is not None:
                row.payload = {**row.payload, "sealed_token": ""}
                session.add(row)
