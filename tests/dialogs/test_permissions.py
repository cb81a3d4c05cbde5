"""Every staff command and button, pressed by every role below what it needs.

The registries are iterated, so commands and buttons other modules register later are
covered automatically: a command missing from ``COMMANDS`` is tested with the role its
registration declares; a button prefix missing from ``BUTTONS`` must at least refuse
strangers. Each refused attempt must answer with a refusal in the user's language and
change nothing in the database or the media store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import select

from core.clock import FakeClock
from core.settings import Settings
from core.wiring import App
from dialogs import staff
from dialogs.catalog import t
from dialogs.roles import REQUIRED
from storage.models import Decision, HumanScore, InterviewSession
from storage.tables import metadata
from tests.dialogs.hr_helpers import GROUP, WEAK, begin, interview, pipeline_app, setup_job
from tests.harness import Chat, Delivered, RecordingMessenger

VIEWER, MANAGER, ADMIN = "hr_viewer", "hr_manager", "admin"
# Users of each role (conftest's config lists); None: a stranger.
USERS = {None: "stranger", VIEWER: "viewer", MANAGER: "hr", ADMIN: "admin"}
ORDER = [None, VIEWER, MANAGER, ADMIN]

# command -> (the least role that may use it, arguments that would change or reveal something)
COMMANDS: dict[str, tuple[str, str]] = {
    "help": (VIEWER, ""),
    "cancel": (VIEWER, ""),
    "newjob": (ADMIN, ""),
    "jobs": (VIEWER, ""),
    "questions": (VIEWER, "communication"),
    "addquestion": (MANAGER, "communication | 测试问题 | A test question | rubric"),
    "importquestions": (MANAGER, ""),
    "invite": (MANAGER, "sales Eve Stone"),
    "progress": (VIEWER, "sales"),
    "bind": (ADMIN, "sales"),
    "grant": (ADMIN, "console:mallory admin"),
    "decide": (MANAGER, "{done} approve"),
    "ranking": (VIEWER, "sales"),
    "report": (VIEWER, "{done}"),
    "terms": (MANAGER, "{done} monthly_wage=15000"),
    "sendcontract": (MANAGER, "{done}"),
    "contractdefaults": (ADMIN, "sales monthly_wage=15000"),
    "employee": (VIEWER, "{done}"),
    "slots": (VIEWER, ""),
    "importcandidates": (MANAGER, ""),
    "invitesheet": (MANAGER, "sales"),
    "ask": (MANAGER, "{live} What did you learn from it?"),
    "score": (MANAGER, "{done} communication 4 fine"),
    "agreement": (VIEWER, "sales"),
    "stats": (VIEWER, "sales"),
    "itemstats": (VIEWER, "sales"),
}
# button data -> the least role that may press it
BUTTONS: dict[str, str] = {
    "dec:{done}:a": MANAGER,
    "dec:{done}:n": MANAGER,
    "dec:{done}:r": MANAGER,
    "dec:{done}:d": VIEWER,
    "ask:{live}": MANAGER,
    "hs:{done}:0:4": MANAGER,
    "ct:{done}:send": MANAGER,
}
REFUSALS = ("common.no_access", "decision.not_allowed", "followup.not_allowed", "human.not_allowed")
# Tables that record attempts rather than state.
LOG_TABLES = {"inboxevent", "outboxmessage", "auditevent", "keyvalue"}


def all_commands() -> dict[str, tuple[str, str]]:
    """The table, plus anything registered that the table does not know yet."""
    registered = {**staff._COMMANDS, **staff.COMMAND_HANDLERS}
    cases = dict(COMMANDS)
    for name, (action, _handler) in registered.items():
        if name not in cases:
            cases[name] = (REQUIRED[action] if action else VIEWER, "")
    return {name: case for name, case in cases.items() if name in registered}


def all_buttons() -> dict[str, str | None]:
    """Button data per registered prefix; None: unknown prefix, strangers must be refused."""
    cases: dict[str, str | None] = {
        data: role for data, role in BUTTONS.items() if data.split(":")[0] in staff.BUTTON_HANDLERS
    }
    known = {data.split(":")[0] for data in BUTTONS}
    for prefix in staff.BUTTON_HANDLERS:
        if prefix not in known:
            cases[f"{prefix}:{{done}}:x"] = None
    return cases


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    application = pipeline_app(settings, clock, messenger)
    yield application
    application.db.engine.dispose()


@pytest.fixture
def world(chat: Chat) -> tuple[Chat, dict[str, int]]:
    """A job bound to the HR group, one finished candidate (decision pending), one mid-interview."""
    setup_job(chat)
    done = interview(chat, "ann", "Ann Lee", [WEAK, WEAK, WEAK])
    live = begin(chat, "bob", "Bob Ray")
    chat.run_jobs = False  # a refused attempt must not even leave a job behind
    return chat, {"done": done, "live": live}


def snapshot(app: App) -> dict[str, object]:
    """Every row of every state table, and the media files."""
    state: dict[str, object] = {}
    with app.db.session() as session:
        for table in metadata.sorted_tables:
            if table.name in LOG_TABLES:
                continue
            rows = session.execute(sa_select(table)).all()
            state[table.name] = sorted(repr(tuple(row)) for row in rows)
    root = Path(app.db.media.root)
    state["media"] = sorted(str(p) for p in root.rglob("*") if p.is_file())
    return state


def refusal_texts(lang: str) -> set[str]:
    return {t(lang, key) for key in REFUSALS}


def below(role: str | None) -> list[str | None]:
    return ORDER[: ORDER.index(role)] if role is not None else [None]


def assert_refused(
    replies: list[Delivered], lang: str, *, button: bool, private_ok: set[str]
) -> None:
    allowed_texts = refusal_texts(lang) | private_ok
    assert len(replies) == 1, [r.text for r in replies]
    reply = replies[0]
    if button:
        assert reply.kind == "answer" and reply.alert
    else:
        assert reply.kind == "send" and not reply.buttons
    assert reply.text in allowed_texts, reply.text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_command_refuses_lower_roles_and_changes_nothing(
    world: tuple[Chat, dict[str, int]], lang: str
) -> None:
    chat, ids = world
    for name, (least, args) in all_commands().items():
        line = f"/{name} {args.format(**ids)}".strip()
        for role in below(least):
            user = USERS[role]
            before = snapshot(chat.app)
            replies = chat.send(user, line, group=GROUP, lang=lang)
            assert_refused(replies, lang, button=False, private_ok=set())
            assert snapshot(chat.app) == before, f"{line} by {user} changed something"
            if role is None:  # strangers in a private chat too
                replies = chat.send(user, line, lang=lang)
                candidate_help = {t(lang, "common.help_unknown")}
                assert_refused(replies, lang, button=False, private_ok=candidate_help)
                assert snapshot(chat.app) == before, (
                    f"{line} by a stranger (private) changed something"
                )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_button_refuses_lower_roles_and_changes_nothing(
    world: tuple[Chat, dict[str, int]], lang: str
) -> None:
    chat, ids = world
    for template, least in all_buttons().items():
        data = template.format(**ids)
        for role in below(least):
            user = USERS[role]
            before = snapshot(chat.app)
            replies = chat.send(user, f"/press {data}", group=GROUP, lang=lang)
            if least is None and not any(r.text for r in replies):
                pass  # an unknown prefix may just acknowledge silently
            else:
                assert_refused(replies, lang, button=True, private_ok=set())
            assert snapshot(chat.app) == before, f"{data} by {user} changed something"


def test_table_matches_what_the_registrations_declare() -> None:
    registered = {**staff._COMMANDS, **staff.COMMAND_HANDLERS}
    for name, (least, _args) in COMMANDS.items():
        if name in registered:
            action = registered[name][0]
            assert REQUIRED[action] == least, f"/{name} declares {action}"
    assert {"ask", "hs", "dec"} <= set(staff.BUTTON_HANDLERS)
    assert {"ask", "score", "agreement", "stats", "itemstats"} <= set(staff.COMMAND_HANDLERS)


def test_the_least_role_is_not_refused(world: tuple[Chat, dict[str, int]]) -> None:
    chat, ids = world
    for name, (least, args) in all_commands().items():
        replies = chat.send(USERS[least], f"/{name} {args.format(**ids)}".strip(), group=GROUP)
        assert not any(r.text in refusal_texts("en") for r in replies), f"/{name} by {least}"
    for template, least in BUTTONS.items():
        if template.split(":")[0] not in staff.BUTTON_HANDLERS:
            continue
        if template.startswith("dec:") and template != "dec:{done}:d":
            continue  # deciding is covered by the conversation tests; it ends the case
        replies = chat.send(USERS[least], f"/press {template.format(**ids)}", group=GROUP)
        assert not any(r.text in refusal_texts("en") for r in replies), template


def test_a_stranger_learns_nothing_about_candidates(world: tuple[Chat, dict[str, int]]) -> None:
    chat, ids = world
    seen: list[Delivered] = []
    for chat_id in (GROUP, None):
        for name, (_least, args) in all_commands().items():
            line = f"/{name} {args.format(**ids)}".strip()
            kwargs = {"group": chat_id} if chat_id else {}
            seen += chat.send("stranger", line, lang="en", **kwargs)
    for template in all_buttons():
        seen += chat.send("stranger", f"/press {template.format(**ids)}", group=GROUP, lang="en")
    assert not any(d.kind == "file" for d in seen)
    for d in seen:
        assert "Ann" not in d.text and "Bob" not in d.text and "#" not in d.text
    # whether a candidate exists is not revealed either
    for template in ("dec:{id}:a", "dec:{id}:d", "ask:{id}", "hs:{id}:0:4"):
        real = chat.send("stranger", "/press " + template.format(id=ids["done"]), group=GROUP)
        missing = chat.send("stranger", "/press " + template.format(id=9999), group=GROUP)
        assert [r.text for r in real] == [r.text for r in missing], template


def test_a_viewer_trying_to_decide(world: tuple[Chat, dict[str, int]]) -> None:
    chat, ids = world
    done = ids["done"]
    pressed = chat.send("viewer", f"/press dec:{done}:r", group=GROUP, lang="zh")
    assert pressed[-1].alert and pressed[-1].text == t("zh", "decision.not_allowed")
    typed = chat.send("viewer", f"/decide {done} reject", group=GROUP)
    assert typed[-1].text == t("en", "common.no_access")
    with chat.app.db.session() as session:
        decision = session.exec(select(Decision).where(Decision.candidate_id == done)).one()
        assert decision.status == "pending"
        assert session.exec(select(HumanScore)).all() == []
        live = session.exec(
            select(InterviewSession).where(InterviewSession.candidate_id == ids["live"])
        ).one()
        assert live.extra_questions == []
    assert not any("Thank you for your time" in d.text for d in chat.messenger.to("ann"))
