"""Per-user rate limits: a flood gets one polite reply, is stored, and crashes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from app.wiring import App, build_app
from core.clock import FakeClock
from dialogs.kernel.events import ButtonPressed, CommandReceived, Event, TextReceived
from dialogs.kernel.ratelimit import RateLimiter, Verdict
from storage.models import InboxEvent, OutboxMessage
from tests.conftest import make_settings
from tests.harness import Chat, RecordingMessenger

LIMITS: dict[str, object] = {
    "enabled": True,
    "burst": 5,
    "per_minute": 6,  # one token every 10 s
    "command_burst": 3,
    "command_per_minute": 3,
    "notice_seconds": 60,
}


def text(user: str, n: int, platform: str = "console") -> TextReceived:
    return TextReceived(
        event_id=f"{platform}:{user}:{n}",
        platform=platform,
        chat_id=user,
        user_id=user,
        text=f"message {n}",
    )


def test_bucket_allows_a_burst_then_warns_once_then_drops(tmp_path: Path) -> None:
    clock = FakeClock()
    limiter = RateLimiter(make_settings(tmp_path, ratelimit=LIMITS), clock)
    verdicts = [limiter.check(text("u", i)) for i in range(12)]
    assert verdicts[:5] == [Verdict.ALLOW] * 5
    assert verdicts[5] == Verdict.WARN
    assert verdicts[6:] == [Verdict.DROP] * 6
    clock.advance(seconds=10)  # one token back, still inside the warning window
    assert limiter.check(text("u", 12)) == Verdict.ALLOW
    assert limiter.check(text("u", 13)) == Verdict.DROP
    clock.advance(seconds=61)  # a new window: a new flood is told again
    assert [limiter.check(text("u", 20 + i)) for i in range(6)] == [Verdict.ALLOW] * 5 + [
        Verdict.WARN
    ]  # the bucket holds at most the burst
    assert limiter.check(text("other", 1)) == Verdict.ALLOW  # buckets are per user
    assert limiter.check(text("u", 1, platform="wechat")) == Verdict.ALLOW  # and per platform


def test_commands_and_buttons_have_a_smaller_bucket(tmp_path: Path) -> None:
    limiter = RateLimiter(make_settings(tmp_path, ratelimit=LIMITS), FakeClock())
    base = {"platform": "console", "chat_id": "u", "user_id": "u"}
    cmds: list[Event] = [
        CommandReceived(event_id=f"c{i}", command="resume", **base) for i in range(2)
    ]
    cmds.append(ButtonPressed(event_id="b", data="lang:en", **base))
    assert [limiter.check(e) for e in cmds] == [Verdict.ALLOW] * 3
    assert limiter.check(CommandReceived(event_id="c9", command="mydata", **base)) == Verdict.WARN
    assert limiter.check(text("u", 1)) == Verdict.ALLOW  # plain messages still pass


def test_operators_from_the_config_and_disabled_limits_are_not_limited(tmp_path: Path) -> None:
    limiter = RateLimiter(make_settings(tmp_path, ratelimit=LIMITS), FakeClock())
    assert all(limiter.check(text("admin", i)) == Verdict.ALLOW for i in range(50))
    off = RateLimiter(make_settings(tmp_path, ratelimit={**LIMITS, "enabled": False}), FakeClock())
    assert all(off.check(text("u", i)) == Verdict.ALLOW for i in range(50))


def test_idle_buckets_are_forgotten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dialogs.kernel.ratelimit as rl

    monkeypatch.setattr(rl, "_PRUNE_AT", 10)
    clock = FakeClock()
    limiter = RateLimiter(make_settings(tmp_path, ratelimit=LIMITS), clock)
    for i in range(10):
        limiter.check(text(f"user{i}", 0))
    clock.advance(minutes=5)
    limiter.check(text("late", 0))
    assert len(limiter._buckets) == 1


@pytest.fixture
def flood_app(tmp_path: Path) -> Iterator[tuple[App, Chat, FakeClock, RecordingMessenger]]:
    clock = FakeClock()
    app = build_app(make_settings(tmp_path, ratelimit=LIMITS), clock=clock)
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    yield app, Chat(app, messenger), clock, messenger
    app.db.engine.dispose()


def statuses(app: App) -> dict[str, int]:
    with app.db.session() as session:
        rows = session.exec(
            select(InboxEvent.status, func.count()).group_by(col(InboxEvent.status))
        ).all()
    return {status: int(n) for status, n in rows}


def test_a_flood_through_the_engine_gets_one_reply_and_is_stored(
    flood_app: tuple[App, Chat, FakeClock, RecordingMessenger],
) -> None:
    app, chat, clock, messenger = flood_app
    replies = []
    for i in range(300):
        replies.extend(chat.send("spammer", f"spam {i}", lang="en"))
    slow = [d for d in replies if "very fast" in d.text]
    assert len(slow) == 1
    assert len(replies) == 5 + 1  # five normal answers, one slow-down
    assert statuses(app) == {"processed": 5, "throttled": 295}
    with app.db.session() as session:
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 6
    # After a pause the user is served again.
    clock.advance(seconds=30)
    assert chat.send("spammer", "hello again", lang="en")[-1].text


def test_receive_then_process_path_and_language(
    flood_app: tuple[App, Chat, FakeClock, RecordingMessenger],
) -> None:
    app, chat, _clock, messenger = flood_app
    engine = app.engine
    for i in range(8):
        event = TextReceived(
            event_id=f"console:zh:{i}",
            platform="console",
            chat_id="zh",
            user_id="zh",
            text="你好",
            language_hint="zh-hans",
        )
        assert engine.receive(event) is True  # stored, even when throttled
        engine.process(event.event_id)
    assert engine.receive(event) is False  # duplicates are still duplicates
    assert engine.process_pending() == 0  # throttled events are not replayed
    chat.flush()
    texts = [d.text for d in messenger.to("zh")]
    assert texts.count("您发送消息太快了，请稍等片刻再试。") == 1
    assert statuses(app)["throttled"] == 3


def test_a_throttled_button_press_is_answered(
    flood_app: tuple[App, Chat, FakeClock, RecordingMessenger],
) -> None:
    _app, chat, _clock, _messenger = flood_app
    for _ in range(3):
        chat.send("u", "/press nothing:here", lang="en")
    replies = chat.send("u", "/press nothing:here", lang="en")
    assert [d.kind for d in replies] == ["answer", "send"]
    assert "very fast" in replies[1].text


def test_limits_are_on_in_the_shipped_config() -> None:
    from core.settings import load_settings
    from tests.conftest import ROOT

    limits = load_settings(ROOT / "config.toml", env={}).ratelimit
    assert limits.enabled and limits.burst <= 60 and limits.command_burst <= limits.burst
