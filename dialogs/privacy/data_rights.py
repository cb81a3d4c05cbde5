"""The candidate's data rights: ``/mydata`` (a ZIP of everything stored) and ``/deleteme``.

``/mydata`` builds a ZIP in the candidate's language: profile, consent records, answers
with transcripts, AI evaluations, people's scores, the decision, the audit events about
them, rows of any other table that names them (bookings, contracts ...) and the
recordings, decrypted. The ZIP is stored encrypted like any media file and sent to the
candidate's own chat (PIPL Art. 45). The command only queues the work (the candidate is
told it is coming); the ``data_export`` background job builds and sends it.

``/deleteme`` asks for confirmation (``del:yes:NONCE`` / ``del:no:NONCE``, the nonce stored
with the pending request for ten minutes, used once). Confirmed, it erases the
candidate's personal data (:func:`erase_candidate`): recordings and reports are deleted,
answers, evaluations, scores and scheduling rows removed, the profile anonymised, their
chat's raw events and messages removed and their name, phone, e-mail and ID number
scrubbed from the HR chats' events and messages (PIPL Art. 47). Records the law requires
the employer to keep (a signed labour contract and the employee record, Labour Contract
Law Art. 50) are kept when the contracts tables exist; the candidate is told which and
until when. Anonymous facts stay: the funnel stage counts and the decision row (without
a name) keep the statistics right, and the audit log records that a deletion happened.
HR is told. Every export and deletion is audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from sqlmodel import col
from sqlmodel import select as sm_select

from dialogs.kernel.access import Access
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import ButtonPressed
from dialogs.kernel.feature import ButtonEntry, Feature
from dialogs.kernel.intents import Button
from dialogs.kernel.notify import hr_group_chats
from dialogs.privacy.erasure import Hold, erase_candidate
from dialogs.privacy.export import EXPORT_JOB, export, export_job
from storage.models import (
    InterviewSession,
    KeyValue,
)

log = logging.getLogger(__name__)

DELETE_CONFIRM_TTL = dt.timedelta(minutes=10)


# ================================================================== /deleteme
def _pending_key(candidate_id: int) -> str:
    return f"deleteme:{candidate_id}"


def ask_delete(ctx: Ctx, s: InterviewSession) -> None:
    """Ask the candidate to confirm with a button that only this request's answer fits.

    The buttons carry a nonce stored with the pending request (valid for
    :data:`DELETE_CONFIRM_TTL`); a newer ``/deleteme`` replaces it, so an older message's
    buttons, a forged ``del:yes`` or one pressed twice delete nothing.
    """
    nonce = secrets.token_urlsafe(9)
    key = _pending_key(s.candidate_id)
    pending = ctx.session.get(KeyValue, key) or KeyValue(key=key, value="")
    pending.value = nonce
    pending.expires_at = ctx.now + DELETE_CONFIRM_TTL
    ctx.session.add(pending)
    ctx.audit("deletion_requested", f"candidate:{s.candidate_id}")
    ctx.reply(
        "privacy.delete_confirm",
        buttons=[
            [
                Button(label=ctx.text("privacy.delete_yes"), data=f"del:yes:{nonce}"),
                Button(label=ctx.text("privacy.delete_no"), data=f"del:no:{nonce}"),
            ]
        ],
    )


def _take_pending(ctx: Ctx, candidate_id: int, nonce: str) -> bool:
    """True (and the request used up) when ``nonce`` is the candidate's live request's."""
    pending = ctx.session.exec(
        sm_select(KeyValue).where(KeyValue.key == _pending_key(candidate_id)).with_for_update()
    ).first()
    if pending is None or not nonce:
        return False
    if not secrets.compare_digest(pending.value.encode(), nonce.encode()):
        return False
    ctx.session.delete(pending)
    return pending.expires_at is not None and pending.expires_at > ctx.now


def on_delete_button(ctx: Ctx) -> None:
    """``del:yes`` / ``del:no`` from the candidate's own private chat."""
    event = ctx.event
    assert isinstance(event, ButtonPressed)
    if event.is_group:
        ctx.answer_button(ctx.text("common.no_access"), alert=True)
        return
    s = ctx.session.exec(
        sm_select(InterviewSession)
        .where(
            InterviewSession.platform == event.platform,
            InterviewSession.user_id == event.user_id,
        )
        .order_by(col(InterviewSession.id).desc())
    ).first()
    if s is None:  # staff, a stranger, or data already erased: one answer, where it fits
        if event.callback_id:
            ctx.answer_button(ctx.text("privacy.nothing"), alert=True)
        else:
            ctx.reply("privacy.nothing")
        return
    ctx.lang = s.language
    ctx.answer_button()
    _, _, rest = event.data.partition(":")
    answer, _, nonce = rest.partition(":")
    live = _take_pending(ctx, s.candidate_id, nonce)
    if answer != "yes":
        ctx.reply("privacy.delete_cancelled")
        return
    if not live:
        ctx.reply("privacy.delete_expired")
        return
    candidate_id, job_id = s.candidate_id, s.job_id
    done = erase_candidate(
        ctx.session,
        ctx.services.media,
        candidate_id,
        now=ctx.now,
        data_dir=ctx.settings.app.data_dir,
        keep_event_id=event.event_id,
    )
    ctx.audit(
        "data_deleted",
        f"candidate:{candidate_id}",
        requested_by="candidate",
        holds=[h.kind for h in done.holds],
        **{k: v for k, v in done.counts().items() if k != "holds"},
    )
    if done.holds:
        ctx.reply(
            "privacy.deleted_hold",
            what=_holds_text(ctx.lang, done.holds),
            until=_until(ctx.lang, done.holds),
        )
    else:
        ctx.reply("privacy.deleted")
    for platform, chat, lang in hr_group_chats(ctx.session, job_id):
        if done.holds:
            text = t(
                lang, "privacy.hr_deleted_hold", id=candidate_id, what=_holds_text(lang, done.holds)
            )
        else:
            text = t(lang, "privacy.hr_deleted", id=candidate_id)
        ctx.send_to(platform, chat, text)
    log.info("candidate %s: personal data erased on request (%s)", candidate_id, done.counts())


def _holds_text(lang: str, holds: list[Hold]) -> str:
    sep = "、" if lang == "zh" else ", "
    return sep.join(dict.fromkeys(t(lang, f"privacy.hold_{h.kind}") for h in holds))


def _until(lang: str, holds: list[Hold]) -> str:
    dates = [h.until for h in holds if h.until is not None]
    if not dates or len(dates) != len(holds):
        return t(lang, "privacy.hold_open")
    return t(lang, "privacy.hold_until", date=max(dates).isoformat())


# The candidate's own confirmation: no staff role involved (the handler checks the sender).
FEATURE = Feature(
    "privacy",
    buttons={"del": ButtonEntry(Access("view", "self"), on_delete_button)},
    candidate_commands={"mydata": export, "deleteme": ask_delete},
    jobs={EXPORT_JOB: export_job()},
)
