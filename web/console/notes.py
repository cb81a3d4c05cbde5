"""Notes on a candidate in the console: HR writes, every role of the job reads.

A note is stored in ``candidatenote`` (author, time, the text encrypted like every
personal field) and shown newest first. Writing needs the ``note`` action for the
candidate's job (:func:`dialogs.kernel.roles.authorize`, hr_manager or admin); adding
one is audited (``note_added``, without the text).
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from dialogs.console.links import ConsoleSession
from dialogs.kernel.catalog import t
from storage.models import CandidateNote
from web.console.render import esc, post_form

MAX_CHARS = 2000
SHOWN = 100  # the newest notes on the page


def clean(text: object) -> str | None:
    """The note to store, or None when it is empty or too long."""
    if not isinstance(text, str):
        return None
    text = text.replace("\r\n", "\n").strip()
    return text if 0 < len(text) <= MAX_CHARS else None


def add_note(
    session: Session, candidate_id: int, author: str, text: str, now: dt.datetime
) -> CandidateNote:
    note = CandidateNote(candidate_id=candidate_id, author=author, text=text, created_at=now)
    session.add(note)
    session.flush()
    return note


def notes_of(session: Session, candidate_id: int) -> list[CandidateNote]:
    """The candidate's notes, newest first."""
    return list(
        session.exec(
            select(CandidateNote)
            .where(CandidateNote.candidate_id == candidate_id)
            .order_by(col(CandidateNote.created_at).desc(), col(CandidateNote.id).desc())
            .limit(SHOWN)
        )
    )


def notes_html(
    lang: str, cs: ConsoleSession, cid: int, notes: list[CandidateNote], may_write: bool
) -> str:
    def tx(key: str, **values: object) -> str:
        return esc(t(lang, f"console_web.{key}", **values))

    items = "".join(
        f'<li class="note"><p class="meta">'
        f'<time datetime="{esc(n.created_at.isoformat())}">'
        f"{esc(n.created_at.strftime('%Y-%m-%d %H:%M'))} UTC</time> · {esc(n.author)}</p>"
        f'<p class="text">{esc(n.text)}</p></li>'
        for n in notes
    )
    listing = f'<ol class="notes">{items}</ol>' if notes else f"<p>{tx('notes_none')}</p>"
    form = ""
    if may_write:
        form = post_form(
            f"/console/candidates/{cid}/notes",
            cs,
            f'<label for="note-text">{tx("note_label")}</label>'
            f'<textarea id="note-text" name="text" rows="3" maxlength="{MAX_CHARS}" required>'
            "</textarea>"
            f'<button type="submit">{tx("note_save")}</button>',
            css="score",
        )
    return (
        '<section class="card notes" aria-labelledby="notes-h">'
        f'<h2 id="notes-h">{tx("notes_heading")}</h2>{form}{listing}</section>'
    )
