"""kill -9 at any moment loses no answer and sends nothing twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from app.wiring import build_app
from core.clock import FakeClock
from core.settings import Settings
from storage.models import Answer
from tests.dialogs.crash_child import FileMessenger
from tests.harness import Chat

ROOT = Path(__file__).resolve().parents[3]


def script(chat: Chat, token: str, code: str) -> list[dict[str, object]]:
    lines = [
        f"/start {token}",
        "/press lang:en",
        "/press consent:yes",
        "/press sens:no",
        f"Alex Chen {code}",
        "/press practice:skip",
        "Answer one about a customer.",
        "Answer two about talking.",
        "Answer three about a problem.",
        "/press submit",
    ]
    return [
        json.loads(
            chat.event("alex", line, event_id=f"console:crash-{i}", lang="en").model_dump_json()
        )
        for i, line in enumerate(lines)
    ]


@pytest.mark.parametrize("point", ["after_receive", "mid_transaction", "before_delivery"])
@pytest.mark.parametrize("kill_at", [4, 7])
def test_second_instance_resumes_after_sigkill(
    chat: Chat, settings: Settings, clock: FakeClock, tmp_path: Path, point: str, kill_at: int
) -> None:
    clock.set(dt.datetime.now(dt.UTC))  # the child process runs on the real clock
    chat.create_job()
    token, code = chat.invite("Alex Chen")
    events = script(chat, token, code)
    chat.app.db.engine.dispose()
    (tmp_path / "settings.json").write_text(settings.model_dump_json())
    (tmp_path / "events.json").write_text(json.dumps(events))
    log = tmp_path / "delivered.jsonl"
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.dialogs.crash_child",
            str(tmp_path / "settings.json"),
            str(tmp_path / "events.json"),
            str(log),
            point,
            str(kill_at),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr[-2000:]

    # A second instance on the same database: finish what was received, deliver what is due,
    # then the chat app re-delivers every update it is not sure about (all of them).
    second = build_app(settings)
    second.channels["console"] = FileMessenger(log)
    second.engine.process_pending()
    second.dispatcher().recover()
    asyncio.run(second.dispatcher().drain())
    for raw in events:
        from dialogs.kernel.events import parse_event

        second.engine.handle(parse_event(json.dumps(raw)))
        asyncio.run(second.dispatcher().drain())

    texts = [
        json.loads(line)["text"]
        for line in log.read_text().splitlines()
        if json.loads(line)["chat"] == "alex"
    ]
    counts = Counter(texts)
    assert [t for t, n in counts.items() if n > 1] == []
    for n in (1, 2, 3):
        assert sum(1 for t in texts if t.startswith(f"Answer {n} received. ✅")) == 1
    assert any("That was the last question" in t for t in texts)
    with second.db.session() as session:
        answers = session.exec(select(Answer).where(Answer.practice == False)).all()  # noqa: E712
    assert sorted(a.text or "" for a in answers) == [
        "Answer one about a customer.",
        "Answer three about a problem.",
        "Answer two about talking.",
    ]
    second.db.engine.dispose()
