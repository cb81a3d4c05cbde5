"""One world for the whole corpus: jobs, staff of several scopes, candidates in every state.

Built once per module (bad inputs change nothing, which each case checks), on SQLite or
PostgreSQL like the other tests. Candidates come in pairs, one per language, so chat cases
can be answered in English and in Chinese.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from app.wiring import App
from core.clock import FakeClock
from dialogs.kernel.catalog import t
from dialogs.kernel.events import (
    Event,
    FileReceived,
    MediaRef,
    MediaRejected,
    SubscribeReceived,
    UnsupportedReceived,
    VideoReceived,
    VoiceReceived,
)
from storage.models import InterviewSession, Invitation
from storage.tables import metadata
from tests.conftest import make_settings
from tests.dialogs.hr_helpers import GROUP, STRONG, WEAK, pipeline_app
from tests.harness import Chat, RecordingMessenger

# Tables that record attempts rather than state (as in tests/dialogs/kernel/test_permissions.py).
LOG_TABLES = {"inboxevent", "outboxmessage", "auditevent", "keyvalue"}
# Candidate states the corpus drives bad input into; each has an en and a zh candidate.
STATES = (
    "language",
    "consent",
    "sensitive",
    "identity",
    "practice",
    "question",
    "review",
    "done",
    "declined",
    "locked",
    "details_id",
    "details_address",
    "schedule",
    "textonly",  # at question 1, having refused voice and video (sensitive data)
)
_LINK = re.compile(r"/start ([A-Za-z0-9_-]{8,64})")
_CODE = re.compile(r"(?:Identity code|身份码)[:：]\s*(\S+)")


@dataclass
class World:
    app: App
    chat: Chat
    tmp: Path
    db_url: str | None
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return "World(app)"

    def user(self, state: str, lang: str) -> str:
        return f"{state}-{lang}"


def invite(chat: Chat, name: str, job: str = "sales") -> tuple[str, str]:
    """Invite as HR; the token and identity code as the HR reply shows them."""
    replies = chat.send("hr", f"/invite {job} {name}", lang="en")
    text = "\n".join(r.text for r in replies)
    link, code = _LINK.search(text), _CODE.search(text)
    assert link and code, text
    return link.group(1), code.group(1)


def _candidate_id(chat: Chat, user: str) -> int:
    with chat.app.db.session() as session:
        s = session.exec(select(InterviewSession).where(InterviewSession.user_id == user)).one()
        return s.candidate_id


def _drive(chat: Chat, user: str, name: str, lang: str, state: str) -> str:
    """Take a fresh candidate from the invitation up to ``state``; returns the token."""
    token, code = invite(chat, name, "sched" if state == "schedule" else "sales")
    if state == "schedule":  # the job has interview slots: identity leads to booking one
        for line in (f"/start {token}", f"/press lang:{lang}", "/press consent:yes"):
            chat.send(user, line, lang=lang)
        chat.send(user, "/press sens:yes", lang=lang)
        chat.send(user, f"{name} {code}", lang=lang)
        return token
    steps = [
        ("language", f"/start {token}"),
        ("consent", f"/press lang:{lang}"),
        ("sensitive", "/press consent:yes"),
        ("identity", "/press sens:no" if state == "textonly" else "/press sens:yes"),
        ("practice", f"{name} {code}"),
        ("question", "/press practice:skip"),
        ("question", WEAK),
        ("question", WEAK),
        ("review", STRONG),
        ("done", "/press submit"),
    ]
    if state in ("declined", "locked"):
        lines = [f"/start {token}", f"/press lang:{lang}"]
        if state == "declined":
            lines.append("/press consent:no")
        else:
            lines += ["/press consent:yes", "/press sens:no"] + [f"{name} 000000"] * 3
        for line in lines:
            chat.send(user, line, lang=lang)
        return token
    target = "question" if state == "textonly" else state
    for reached, line in steps:
        chat.send(user, line, lang=lang)
        if reached == target and line not in (WEAK,):
            return token
    # details_id / details_address: HR approves, the candidate is asked for the ID number
    chat.send("hr", f"/decide {_candidate_id(chat, user)} approve", group=GROUP)
    if state == "details_address":
        chat.send(user, "11010519491231002X")
    return token


def build_world(tmp: Path, db_url: str | None = None) -> World:
    settings = make_settings(tmp, db_url)
    messenger = RecordingMessenger()
    app = pipeline_app(settings, FakeClock(), messenger)
    chat = Chat(app, messenger, run_jobs=True)
    chat.languages.update(
        {"admin": "en", "hr": "en", "viewer": "en", "opsmgr": "en", "stranger": "en"}
    )
    world = World(app, chat, tmp, db_url)
    chat.create_job()
    chat.create_job("ops")
    chat.create_job("sched")
    chat.send("hr", "/slots add sched 2026-01-12 09:00-12:00")
    chat.send("admin", "/bind sales", group=GROUP)
    chat.send("admin", "/grant console:opsmgr hr_manager ops")
    for state in STATES:
        for lang in ("en", "zh"):
            user = world.user(state, lang)
            name = f"{state.title().replace('_', '')} {lang.upper()}"
            world.tokens[user] = _drive(chat, user, name, lang, state)
    with app.db.session() as session:
        for s in session.exec(select(InterviewSession)).all():
            world.ids[s.user_id] = s.candidate_id
    world.ids["done"] = world.ids["done-en"]
    world.ids["live"] = world.ids["question-en"]
    world.ids["approved"] = world.ids["details_id-en"]
    token, _code = invite(chat, "Unopened One")
    world.tokens["fresh"] = token
    with app.db.session() as session:
        inv = session.exec(select(Invitation).order_by(col(Invitation.id).desc())).first()
        assert inv is not None
        world.ids["fresh"] = inv.candidate_id
    chat.run_jobs = False  # a refused attempt must not even leave a job behind
    return world


def snapshot(app: App) -> dict[str, object]:
    """Every row of every state table (as stored: no decryption), and the media files."""
    state: dict[str, object] = {}
    with app.db.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for table in metadata.sorted_tables:
            if table.name not in LOG_TABLES:
                cursor.execute(f'SELECT * FROM "{table.name}"')
                state[table.name] = sorted(map(repr, cursor.fetchall()))
        cursor.close()
    root = Path(app.db.media.root)
    state["media"] = sorted(str(p) for p in root.rglob("*") if p.is_file())
    return state


def template(lang: str, key: str) -> re.Pattern[str]:
    """The catalogue text of ``key`` as a pattern: placeholders match whatever was filled in."""
    raw = t(lang, key)
    parts = re.split(r"(\{[a-z_]+\})", raw)
    pattern = "".join(".*?" if re.fullmatch(r"\{[a-z_]+\}", p) else re.escape(p) for p in parts)
    return re.compile(pattern, re.DOTALL)


def matches(text: str, lang: str, key: str) -> bool:
    return template(lang, key).fullmatch(text) is not None


def file_event(
    app: App, user: str, data: bytes, name: str, caption: str = "", **kw: object
) -> Event:
    """A file already in the media store, as the adapters hand it over."""
    path, digest = app.db.media.put(data, Path(name).suffix or ".bin")
    size = kw.get("size")
    ref = MediaRef(
        platform_file_id=name,
        size_bytes=size if isinstance(size, int) else len(data),
        path=path,
        sha256=digest,
        file_name=name,
    )
    return FileReceived(
        event_id=f"console:file:{uuid.uuid4().hex}",
        platform="console",
        chat_id=str(kw.get("group") or user),
        user_id=user,
        user_name=user,
        language_hint=str(kw.get("lang") or "en"),
        is_group=kw.get("group") is not None,
        media=ref,
        caption=caption,
    )


def special_event(app: App, user: str, spec: str, lang: str, group: str | None) -> Event:
    """An event the harness has no line for: ``@voice``, ``@voice:long``, ``@voice:huge``,
    ``@voice:nopath``, ``@video``, ``@file``, ``@sticker``, ``@rejected:REASON``,
    ``@scene:SCENE`` (a WeChat QR scan). Media goes into the store first, as adapters do."""
    what, _, arg = spec[1:].partition(":")
    base: dict[str, Any] = {
        "event_id": f"console:{uuid.uuid4().hex}",
        "platform": "console",
        "chat_id": group or user,
        "user_id": user,
        "user_name": user,
        "language_hint": lang,
        "is_group": group is not None,
    }
    if what == "scene":
        return SubscribeReceived(**base, scene=arg)
    if what == "sticker":
        return UnsupportedReceived(**base, kind="sticker")
    if what == "rejected":
        ref = MediaRef(platform_file_id="f", size_bytes=10**9, duration_s=10_000.0)
        return MediaRejected(**base, reason=arg, media=ref)
    path, digest = app.db.media.put(b"OggS corpus media", ".ogg")
    ref = MediaRef(
        platform_file_id="f",
        size_bytes={"huge": 10**10}.get(arg, 17),
        duration_s={"long": 10_000.0}.get(arg, 5.0),
        path="" if arg == "nopath" else path,
        sha256=digest,
        file_name="answer.ogg" if what != "file" else "cv.pdf",
    )
    if what == "video":
        return VideoReceived(**base, media=ref)
    if what == "file":
        return FileReceived(**base, media=ref, caption=arg)
    return VoiceReceived(**base, media=ref)
