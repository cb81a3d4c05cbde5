"""``/invite``: HR invites one candidate from the chat."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from dialogs.invitations.channels import SCENE_QR_JOB, invitation_ways, label, ways_hint, ways_text
from dialogs.invitations.invites import invite_candidate, qr_png, seal_text
from dialogs.kernel.access import Access, job_arg, target_job
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import CommandReceived
from dialogs.kernel.feature import Command


def invite_command(ctx: Ctx, ev: CommandReceived) -> None:
    """``/invite JOB name [phone|e-mail]``: one candidate, with the ways to start and a code."""
    parts = ev.args.split()
    job = target_job(ctx, "staff.usage_invite")
    if job is None:
        return
    if len(parts) < 2:
        ctx.reply("staff.usage_invite")
        return
    contact = (
        parts[-1]
        if len(parts) > 2 and re.fullmatch(r"[+\d][\d -]{5,}|[^@\s]+@[^@\s]+", parts[-1])
        else None
    )
    name = " ".join(parts[1:-1] if contact else parts[1:])[:100]
    phone = contact if contact and "@" not in contact else None
    email = contact if contact and "@" in contact else None
    new = invite_candidate(
        ctx.session, ctx.settings, job, name=name, phone=phone, email=email, now=ctx.now
    )
    ctx.funnel(new.candidate.id or 0, job.id or 0, "invited")
    ctx.audit("candidate_invited", f"candidate:{new.candidate.id}")
    # Only the ways that work for the channels enabled (a WeChat-only company never
    # sees a Telegram link); none at all is said so.
    ways = invitation_ways(
        ctx.settings, ctx.services.channels, new.token, platform=ctx.event.platform
    )
    local = new.invitation.expires_at.astimezone(ZoneInfo(ctx.settings.app.timezone))
    hint = ways_hint(ctx.lang, ways)
    ctx.reply(
        "staff.invited",
        name=name,
        job=job.title_zh if ctx.lang == "zh" else job.title_en,
        ways=ways_text(ctx.lang, ways, job_code=job.code),
        code=new.code,
        expires=local.strftime("%Y-%m-%d %H:%M"),
        how=f"\n{hint}" if hint else "",
    )
    if ways.telegram_link:
        path, _ = ctx.services.media.put(qr_png(ways.telegram_link), ".png")
        ctx.send_file(
            path,
            f"invitation-{new.candidate.id}.png",
            caption=label(ctx.lang, "telegram") if ways.labelled else "",
            mime_type="image/png",
        )
    if ways.wechat:
        # The WeChat scene QR code needs the WeChat API: made by a background job and
        # sent to this chat, whichever channel HR uses.
        ctx.enqueue(
            SCENE_QR_JOB,
            {
                # Job payloads are plain JSON in the database: the token goes encrypted.
                "sealed_token": seal_text(new.token),
                "invitation_id": new.invitation.id,
                "platform": ctx.event.platform,
                "chat_id": ctx.event.chat_id,
                "candidate_id": new.candidate.id,
                "caption": label(ctx.lang, "wechat") if ways.labelled else "",
            },
            key=f"wechat_qr:{new.invitation.id}",
        )


INVITE = Command(Access("invite", "job", job_arg(0)), invite_command)
