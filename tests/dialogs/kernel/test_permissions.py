"""Every staff command and button × every role × a role for this job, another job, or all jobs.

The world: job "sales" bound to the HR group, with one finished candidate (decision
pending) and one mid-interview; a second job "ops". Users hold each role globally (config
lists), for "sales" only, or for "ops" only; a stranger holds none. Every command and
button acts on "sales" or one of its candidates. Who may do what is written down here,
independently of the registrations (which must match the table): a refused attempt must
answer with the refusal for its reason, in the user's language, and change nothing in the
database or the media store; a permitted one must not be refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import select

from app.features import FEATURES
from app.wiring import App
from core.clock import FakeClock
from core.settings import Settings
from dialogs.kernel.catalog import t
from dialogs.kernel.registry import Registry
from dialogs.kernel.roles import REQUIRED
from storage.models import Decision, HumanScore, InterviewSession, Job, Staff
from storage.tables import metadata
from tests.dialogs.hr_helpers import GROUP, WEAK, begin, interview, pipeline_app, setup_job
from tests.harness import Chat, Delivered, RecordingMessenger

VIEWER, MANAGER, ADMIN = "hr_viewer", "hr_manager", "admin"
RANK = {None: 0, VIEWER: 1, MANAGER: 2, ADMIN: 3}
ROLE_NAMES = {
    "en": {VIEWER: "HR viewer", MANAGER: "HR manager", ADMIN: "admin"},
    "zh": {VIEWER: "人事查看员", MANAGER: "人事经理", ADMIN: "管理员"},
}
# user -> (role, where): "all" from the config lists, or a job code (a staff row).
USERS: dict[str, tuple[str | None, str | None]] = {
    "stranger": (None, None),
    "viewer": (VIEWER, "all"),
    "hr": (MANAGER, "all"),
    "admin": (ADMIN, "all"),
    "sv": (VIEWER, "sales"),
    "sm": (MANAGER, "sales"),
    "sa": (ADMIN, "sales"),
    "ov": (VIEWER, "ops"),
    "om": (MANAGER, "ops"),
    "oa": (ADMIN, "ops"),
}

# command -> (the least role, what it acts on, arguments). "job" and "candidate" act on
# sales; "global" on every job; "any" shows only what the user may see.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "help": (VIEWER, "any", ""),
    "cancel": (VIEWER, "any", ""),
    "newjob": (ADMIN, "global", ""),
    "jobs": (VIEWER, "any", ""),
    "questions": (VIEWER, "any", "communication"),
    "addquestion": (MANAGER, "global", "communication | 测试问题一二 | A test question | r"),
    "importquestions": (MANAGER, "global", ""),
    "invite": (MANAGER, "job", "sales Eve Stone"),
    "progress": (VIEWER, "job", "sales"),
    "bind": (ADMIN, "job", "sales"),
    "notify": (MANAGER, "job", "sales digest"),
    "grant": (ADMIN, "job", "console:mallory hr_viewer sales"),
    "revoke": (ADMIN, "job", "console:mallory sales"),
    "decide": (MANAGER, "job", "{done} approve"),
    "ranking": (VIEWER, "job", "sales"),
    "report": (VIEWER, "job", "{done}"),
    "terms": (MANAGER, "job", "{done} monthly_wage=15000"),
    "sendcontract": (MANAGER, "job", "{done}"),
    "contractdefaults": (ADMIN, "job", "sales monthly_wage=15000"),
    "employee": (VIEWER, "any", "{done}"),
    "console": (VIEWER, "any", ""),
    "slots": (VIEWER, "job", "sales"),
    "importcandidates": (MANAGER, "job", "sales"),
    "invitesheet": (MANAGER, "job", "sales"),
    "ask": (MANAGER, "job", "{live} What did you learn from it?"),
    "score": (MANAGER, "job", "{done} communication 4 fine"),
    "agreement": (VIEWER, "job", "sales"),
    "stats": (VIEWER, "job", "sales"),
    "itemstats": (VIEWER, "job", "sales"),
    "audit": (VIEWER, "job", "sales"),
}
# Forms of a command that need more than its registration's least role.
VARIANTS: dict[str, tuple[str, str, str]] = {
    "slots add": (MANAGER, "job", "add sales 2030-01-02 10:00-11:00"),
    "slots policy": (MANAGER, "job", "policy sales startnow on"),
    "grant global": (ADMIN, "global", "console:mallory hr_viewer"),
    "revoke global": (ADMIN, "global", "console:mallory"),
    "progress bound": (VIEWER, "job", ""),  # in the group: the bound job
    "stats bound": (VIEWER, "job", ""),
    "notify bound": (MANAGER, "job", "results"),  # in the group: the bound job
}
# button data -> the least role; all act on a candidate of sales.
BUTTONS: dict[str, str] = {
    "dec:{done}:a": MANAGER,
    "dec:{done}:n": MANAGER,
    "dec:{done}:r": MANAGER,
    "dec:{done}:d": VIEWER,
    "ask:{live}": MANAGER,
    "hs:{done}:0:4": MANAGER,
    "ct:{done}:send": MANAGER,
}
# Buttons that are not staff buttons (the candidate's own), with why.
NOT_STAFF = {"del": "a candidate confirms deleting their own data"}
# Tables that record attempts rather than state.
LOG_TABLES = {"inboxevent", "outboxmessage", "auditevent", "keyvalue"}


def expected_reason(user: str, least: str, scope: str) -> str | None:
    """None when the user may; else why not — written out apart from the product's rules."""
    role, where = USERS[user]
    if role is None:
        return "no_role"
    enough = RANK[role] >= RANK[least]
    if scope == "any":
        return None if enough else "too_low_global"
    if scope == "global":
        if where == "all":
            return None if enough else "too_low_global"
        return "global_needed"
    if where in ("all", "sales"):
        return None if enough else "too_low"
    return "other_job"


def refusal(lang: str, user: str, least: str, reason: str) -> str:
    role, where = USERS[user]
    names = ROLE_NAMES[lang]
    if reason == "no_role":
        return t(lang, "common.no_access")
    if reason == "other_job":
        return t(lang, "access.other_job", jobs=where)
    if reason == "global_needed":
        return t(lang, "access.global_needed", needed=names[least], jobs=where)
    assert role is not None
    return t(lang, f"access.{reason}", needed=names[least], role=names[role])


def is_refusal(text: str) -> bool:
    """Any access refusal, whatever its reason and values."""
    heads = [t("en", "common.no_access")] + [
        t("en", f"access.{key}", jobs="", needed="", role="").split("{")[0][:20]
        for key in ("other_job", "global_needed", "too_low", "too_low_global")
    ]
    return any(text.startswith(head) for head in heads)


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    application = pipeline_app(settings, clock, messenger)
    yield application
    application.db.engine.dispose()


@pytest.fixture
def world(chat: Chat) -> tuple[Chat, dict[str, int]]:
    setup_job(chat)
    chat.create_job("ops")
    done = interview(chat, "ann", "Ann Lee", [WEAK, WEAK, WEAK])
    live = begin(chat, "bob", "Bob Ray")
    with chat.app.db.transaction() as session:
        jobs = {j.code: j.id for j in session.exec(select(Job)).all()}
        for user, (role, where) in USERS.items():
            if role is not None and where is not None and where != "all":
                session.add(Staff(platform="console", user_id=user, role=role, job_id=jobs[where]))
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


def command_cases() -> dict[str, tuple[str, str, str, str]]:
    """name -> (command, least role, scope, arguments)."""
    cases = {name: (name, *case) for name, case in COMMANDS.items()}
    for name, case in VARIANTS.items():
        cases[name] = (name.split()[0], *case)
    return cases


def english_only(params: dict[str, object]) -> bool:
    """On PostgreSQL the matrix runs in English: the language picks the catalogue the
    refusal is read from, not what the database is asked."""
    return params["lang"] == "en"


def test_the_table_covers_every_registration() -> None:
    registered = Registry(FEATURES).commands
    assert set(registered) == set(COMMANDS), "add new commands to COMMANDS (and VARIANTS)"
    scopes = {"any": "any", "global": "global", "job": "job", "candidate": "job"}
    for name, entry in registered.items():
        least, scope, _args = COMMANDS[name]
        assert REQUIRED[entry.access.action] == least, f"/{name} declares {entry.access.action}"
        declared = entry.access.scope
        assert scopes.get(declared, "job") == scope, f"/{name} declares {declared}"
    prefixes = {data.split(":")[0] for data in BUTTONS}
    assert set(Registry(FEATURES).buttons) == prefixes | set(NOT_STAFF)


@pytest.mark.postgres_subset.with_args(english_only)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_command_by_every_role_for_this_job_another_job_or_all(
    world: tuple[Chat, dict[str, int]], lang: str
) -> None:
    chat, ids = world
    for label, (command, least, scope, args) in command_cases().items():
        line = f"/{command} {args.format(**ids)}".strip()
        for user in USERS:
            reason = expected_reason(user, least, scope)
            if reason is None:
                continue  # permitted: see the test below
            before = snapshot(chat.app)
            replies = chat.send(user, line, group=GROUP, lang=lang)
            texts = [r.text for r in replies]
            assert texts == [refusal(lang, user, least, reason)], (label, user, texts)
            assert not replies[0].buttons
            assert snapshot(chat.app) == before, f"{line} by {user} changed something"


def test_every_permitted_command_is_not_refused(world: tuple[Chat, dict[str, int]]) -> None:
    chat, ids = world
    for label, (command, least, scope, args) in command_cases().items():
        if command in ("decide", "revoke", "grant"):
            continue  # they end the case or change roles: covered by the conversation tests
        line = f"/{command} {args.format(**ids)}".strip()
        for user in USERS:
            if expected_reason(user, least, scope) is None:
                replies = chat.send(user, line, group=GROUP, lang="en")
                assert replies, (label, user)
                assert not any(is_refusal(r.text) for r in replies), (label, user, replies)


@pytest.mark.postgres_subset.with_args(english_only)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_button_by_every_role(world: tuple[Chat, dict[str, int]], lang: str) -> None:
    chat, ids = world
    for template, least in BUTTONS.items():
        data = template.format(**ids)
        for user in USERS:
            reason = expected_reason(user, least, "job")
            before = snapshot(chat.app)
            replies = chat.send(user, f"/press {data}", group=GROUP, lang=lang)
            if reason is None:
                if not template.startswith("dec:") or template.endswith(":d"):
                    assert not any(is_refusal(r.text) for r in replies), (data, user)
                continue
            answers = [r for r in replies if r.kind == "answer"]
            assert len(replies) == 1 and answers and answers[0].alert, (data, user, replies)
            assert answers[0].text == refusal(lang, user, least, reason), (data, user)
            assert snapshot(chat.app) == before, f"{data} by {user} changed something"


def test_a_stranger_learns_nothing_about_candidates(world: tuple[Chat, dict[str, int]]) -> None:
    chat, ids = world
    seen: list[Delivered] = []
    for chat_id in (GROUP, None):
        for _label, (command, _least, _scope, args) in command_cases().items():
            line = f"/{command} {args.format(**ids)}".strip()
            kwargs = {"group": chat_id} if chat_id else {}
            seen += chat.send("stranger", line, lang="en", **kwargs)
    for template in BUTTONS:
        seen += chat.send("stranger", f"/press {template.format(**ids)}", group=GROUP, lang="en")
    assert not any(d.kind == "file" for d in seen)
    for d in seen:
        assert "Ann" not in d.text and "Bob" not in d.text and "#" not in d.text


def test_staff_of_another_job_cannot_tell_which_candidates_exist(
    world: tuple[Chat, dict[str, int]],
) -> None:
    chat, ids = world
    for user in ("stranger", "ov", "om", "oa"):
        for template in ("dec:{id}:a", "dec:{id}:d", "ask:{id}", "hs:{id}:0:4", "ct:{id}:send"):
            real = chat.send(user, "/press " + template.format(id=ids["done"]), group=GROUP)
            missing = chat.send(user, "/press " + template.format(id=9999), group=GROUP)
            huge = chat.send(user, "/press " + template.format(id="9" * 25), group=GROUP)
            assert [r.text for r in real] == [r.text for r in missing] == [r.text for r in huge]
        for line in ("/report {id}", "/decide {id} approve", "/score {id}", "/sendcontract {id}"):
            real = chat.send(user, line.format(id=ids["done"]), group=GROUP)
            missing = chat.send(user, line.format(id=9999), group=GROUP)
            assert [r.text for r in real] == [r.text for r in missing], line


def test_huge_and_odd_ids_get_a_clear_answer(world: tuple[Chat, dict[str, int]]) -> None:
    chat, _ids = world
    for raw in ("9" * 25, "#" + "1" * 40, "²", "１２", "-3", "0", "1.5"):
        for line, says in [
            (f"/report {raw}", "No candidate"),
            (f"/decide {raw} approve", "No candidate"),
            (f"/sendcontract {raw}", "No candidate"),
            (f"/score {raw}", "No candidate"),
            (f"/ask {raw} Why?", "No candidate"),
        ]:
            replies = chat.send("admin", line, group=GROUP, lang="en")
            assert len(replies) == 1 and says.lower() in replies[0].text.lower(), (line, replies)
        for data in (f"dec:{raw}:a", f"ask:{raw}", f"hs:{raw}:0:4", f"ct:{raw}:send"):
            replies = chat.send("admin", f"/press {data}", group=GROUP, lang="en")
            assert [r.kind for r in replies] == ["answer"] and replies[0].alert, (data, replies)
            assert "no candidate" in replies[0].text.lower(), (data, replies)


def test_a_viewer_trying_to_decide(world: tuple[Chat, dict[str, int]]) -> None:
    chat, ids = world
    done = ids["done"]
    pressed = chat.send("viewer", f"/press dec:{done}:r", group=GROUP, lang="zh")
    assert pressed[-1].alert and "人事经理" in pressed[-1].text
    typed = chat.send("sv", f"/decide {done} reject", group=GROUP, lang="en")
    assert "HR manager role for this job" in typed[-1].text
    with chat.app.db.session() as session:
        decision = session.exec(select(Decision).where(Decision.candidate_id == done)).one()
        assert decision.status == "pending"
        assert session.exec(select(HumanScore)).all() == []
        live = session.exec(
            select(InterviewSession).where(InterviewSession.candidate_id == ids["live"])
        ).one()
        assert live.extra_questions == []
    assert not any("Thank you for your time" in d.text for d in chat.messenger.to("ann"))
