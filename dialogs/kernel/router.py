"""Routes an event to the flow that owns it."""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from sqlalchemy import Engine, bindparam
from sqlalchemy import event as sa_event
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from dialogs.kernel.access import check
from dialogs.kernel.catalog import normalize_language
from dialogs.kernel.context import Ctx, Services
from dialogs.kernel.events import (
    ButtonPressed,
    CommandReceived,
    Event,
    FileReceived,
    SubscribeReceived,
)
from dialogs.kernel.registry import Registry
from dialogs.kernel.roles import highest_role
from storage.db import table_of
from storage.models import ChannelIdentity, ConversationState, Staff

_IDENTITY = table_of(ChannelIdentity)
_LANGUAGE = (
    core_select(_IDENTITY.c.language)
    .where(_IDENTITY.c.platform == bindparam("platform"))
    .where(_IDENTITY.c.user_id == bindparam("user_id"))
    .limit(1)
)

# Commands a candidate sends that the interview itself answers; features add theirs
# (``Feature.candidate_commands``: /mydata, /deleteme).
CANDIDATE_COMMANDS = {"start", "help", "resume", "pause", "language", "review"}


_STAFF = table_of(Staff)
_STAFF_USERS = core_select(_STAFF.c.platform, _STAFF.c.user_id).distinct()
STAFF_INDEX_TTL_S = 2.0


class StaffIndex:
    """Who has a row in the staff table, per database and process.

    Nearly every event comes from a candidate; this set lets them skip the roles query.
    It only ever says "maybe staff" (then :func:`highest_role` reads the table and decides),
    so a stale entry costs a query, never access: a revoked role is revoked at once. A
    grant is seen at once when made in this process (any flush of a Staff row drops the
    set, again at commit) and within ``STAFF_INDEX_TTL_S`` when made by another process.
    """

    def __init__(self, ttl_s: float = STAFF_INDEX_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._sets: weakref.WeakKeyDictionary[Engine, tuple[float, frozenset[str]]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._generation = 0

    def invalidate(self) -> None:
        with self._lock:
            self._sets.clear()
            self._generation += 1

    def may_be_staff(self, session: Session, platform: str, user_id: str) -> bool:
        engine = session.get_bind()
        if not isinstance(engine, Engine):  # a session bound to a connection: no cache
            return True
        cached = self._sets.get(engine)
        if cached is None or time.monotonic() - cached[0] > self.ttl_s:
            generation = self._generation
            loaded_at = time.monotonic()
            users = frozenset(f"{p}:{u}" for p, u in session.execute(_STAFF_USERS).all())
            with self._lock:
                if generation == self._generation:  # no Staff write meanwhile
                    self._sets[engine] = (loaded_at, users)
            cached = (loaded_at, users)
        return f"{platform}:{user_id}" in cached[1]


STAFF_INDEX = StaffIndex()


def _staff_row_written(_mapper: Any, connection: Any, _target: Any) -> None:
    connection.info["staff_written"] = True
    STAFF_INDEX.invalidate()


def _on_commit(connection: Any) -> None:
    if connection.info.pop("staff_written", False):
        STAFF_INDEX.invalidate()


def _on_rollback(connection: Any) -> None:
    connection.info.pop("staff_written", None)


for _name in ("after_insert", "after_update", "after_delete"):
    sa_event.listen(Staff, _name, _staff_row_written)
sa_event.listen(Engine, "commit", _on_commit)
sa_event.listen(Engine, "rollback", _on_rollback)


def role_for_event(ctx: Ctx) -> str | None:
    """The sender's role; candidates (not in config lists nor the staff table) skip the query."""
    event, roles = ctx.event, ctx.settings.roles
    who = f"{event.platform}:{event.user_id}"
    if (
        who not in roles.admins
        and who not in roles.hr_managers
        and who not in roles.hr_viewers
        and not STAFF_INDEX.may_be_staff(ctx.session, event.platform, event.user_id)
    ):
        return None
    return highest_role(ctx.session, ctx.settings, event.platform, event.user_id)


def language_of(session: Session, event: Event, services: Services) -> str:
    """The user's chosen language, else the event's hint (read before any change of it)."""
    chosen = session.execute(
        _LANGUAGE, {"platform": event.platform, "user_id": event.user_id}
    ).scalar()
    if chosen:
        return str(chosen)
    return normalize_language(event.language_hint, services.settings.app.default_language)


def _start_token(event: Event) -> str | None:
    """The invitation token of a start link or QR scan, if the event is one."""
    if isinstance(event, SubscribeReceived) and event.scene:
        return event.scene
    if isinstance(event, CommandReceived) and event.command == "start" and event.args.strip():
        return event.args.strip()
    return None


def _candidate_word(registry: Registry, command: str) -> bool:
    return command in CANDIDATE_COMMANDS or command in registry.candidate_commands


def handle_button(ctx: Ctx, registry: Registry) -> None:
    data = getattr(ctx.event, "data", "")
    entry = registry.button(data)
    assert entry is not None
    if check(ctx, entry.access, data, button=True):
        entry.handler(ctx)


def handle_command(ctx: Ctx, registry: Registry) -> None:
    event = ctx.event
    assert isinstance(event, CommandReceived)
    entry = registry.command(event.command)
    if entry is None:
        ctx.reply("common.unknown_command")
        return
    if check(ctx, entry.access, event.args):
        entry.handler(ctx, event)


def handle_file(ctx: Ctx, registry: Registry) -> None:
    """A document from staff: the first importer that takes it, else the fallback."""
    if any(importer(ctx) for importer in registry.files):
        return
    if registry.file_fallback is None or not registry.file_fallback(ctx):
        ctx.reply("staff.import_bad_file")


def continue_dialog(ctx: Ctx, registry: Registry, state: ConversationState) -> None:
    event = ctx.event
    if isinstance(event, CommandReceived):
        if event.command == "cancel":
            ctx.session.delete(state)
            ctx.reply("staff.cancelled")
            return
        handle_command(ctx, registry)
        return
    dialog = registry.dialogs.get(state.flow)
    if dialog is None:  # a dialog of a feature no longer listed: forget it
        ctx.session.delete(state)
        ctx.reply("staff.cancelled")
        return
    # Checked again at every step: a role revoked meanwhile stops the dialog.
    if dialog.access is None or check(ctx, dialog.access, ""):
        dialog.step(ctx, state)


def route(ctx: Ctx, registry: Registry) -> None:
    event = ctx.event
    flow = registry.candidate_flow
    ctx.role = role_for_event(ctx)

    # The common case first: a candidate (no staff role) in a private chat, not opening
    # a link nor pressing a staff button. If they have an interview, it owns the event
    # and sets the language itself, so the identity row need not be read.
    looked_up = False
    if (
        ctx.role is None
        and not event.is_group
        and _start_token(event) is None
        and not (isinstance(event, ButtonPressed) and registry.owns_button(event.data))
    ):
        looked_up = True
        session = flow.active_session(ctx) if flow is not None else None
        if session is not None and flow is not None:
            flow.handle(ctx, session)
            return

    ctx.lang = language_of(ctx.session, event, ctx.services)

    # A start link or QR scan always goes to the interview flow (private chats only).
    token = _start_token(event)
    if not event.is_group and token is not None and flow is not None:
        flow.start(ctx, token)
        return

    if isinstance(event, ButtonPressed) and registry.owns_button(event.data):
        handle_button(ctx, registry)
        return

    if ctx.role is not None:
        dialog = ctx.session.exec(
            select(ConversationState).where(
                ConversationState.platform == event.platform,
                ConversationState.chat_id == event.chat_id,
                ConversationState.user_id == event.user_id,
            )
        ).first()
        if dialog is not None:
            continue_dialog(ctx, registry, dialog)
            return
        if isinstance(event, FileReceived):
            handle_file(ctx, registry)
            return
        if isinstance(event, CommandReceived) and (
            event.command == "help" or not _candidate_word(registry, event.command)
        ):
            handle_command(ctx, registry)
            return

    if event.is_group:
        # Groups are for staff; others learn nothing and change nothing.
        if isinstance(event, CommandReceived):
            ctx.reply("common.no_access")
        return

    session = None if looked_up or flow is None else flow.active_session(ctx)
    if session is not None and flow is not None:
        flow.handle(ctx, session)
        return
    if isinstance(event, CommandReceived):
        if event.command in ("help", "start"):
            ctx.reply("staff.help" if ctx.role else "common.help_unknown")
        elif _candidate_word(registry, event.command):
            # /mydata, /resume … from someone with no interview: staff get their own help
            ctx.reply("staff.help" if ctx.role else "common.help_unknown")
        elif ctx.role is None and registry.command(event.command) is not None:
            ctx.reply("common.no_access")
        else:
            ctx.reply("common.unknown_command")
        return
    ctx.reply("staff.help" if ctx.role else "common.help_unknown")
