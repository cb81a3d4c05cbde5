"""SIGTERM drains ``python main.py run``: readiness goes first, sends in flight finish,
no outbox claim is left behind and the process exits 0 (a real subprocess)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from aiohttp import web
from sqlmodel import select

from app.wiring import build_app
from core.settings import load_settings
from dialogs.kernel.intents import Send
from dialogs.kernel.outbox import write_intents
from storage.models import OutboxMessage
from testkit.telegram_api import FakeBotAPI, free_port

ROOT = Path(__file__).resolve().parents[2]
CHATS = [9001, 9002, 9003, 9004]
PER_CHAT = 6
GRACE = 1.5

CONFIG = """
[app]
data_dir = "{data}"
default_language = "en"
bot_username = "{username}"
log_level = "INFO"

[security]
key_file = "{data}/keys/data.key"

[telegram]
enabled = true
mode = "polling"

[web]
port = {port}
drain_grace_seconds = {grace}

[outbox]
poll_seconds = 0.05

[llm]
provider = "fake"
"""


class SlowBotAPI(FakeBotAPI):
    """Each sendMessage takes a while: SIGTERM arrives with sends in flight."""

    async def _api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["method"] == "sendMessage":
            await asyncio.sleep(0.6)
        return await super()._api(request)


async def test_sigterm_drains_and_exits_zero_leaving_no_claim(tmp_path: Path) -> None:
    fake = SlowBotAPI()
    await fake.start()
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.format(data=tmp_path / "data", username=fake.username, port=port, grace=GRACE),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_BASE_URL": fake.base_url,
        "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'bot.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    settings = load_settings(config, env=env)
    seed = build_app(settings)
    with seed.db.transaction() as session:
        write_intents(
            session,
            [
                Send(platform="telegram", chat_id=str(chat), text=f"{chat}-{i}")
                for i in range(PER_CHAT)
                for chat in CHATS
            ],
            source_event="test",
            now=seed.services.clock.now(),
        )
    seed.db.engine.dispose()

    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "main.py", "--config", str(config), "run"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            await fake.wait_for(
                lambda: bool(fake.sent) or proc.poll() is not None,
                timeout=60,
                what="the first message delivered",
            )
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert await answer(http, "/readyz") == 200
            proc.send_signal(signal.SIGTERM)
            # Readiness goes first; the process keeps answering during the grace.
            for _ in range(50):
                if (await http.get("/readyz")).status_code == 503:
                    break
                await asyncio.sleep(0.05)
            readyz = await http.get("/readyz")
            assert readyz.status_code == 503 and readyz.json()["reason"] == "shutting down"
            assert (await http.get("/healthz")).status_code == 200
        started = time.monotonic()
        code = await asyncio.to_thread(proc.wait, 40)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        await fake.stop()
    out = log_path.read_text(errors="replace")
    assert code == 0, out[-3000:]
    assert took < GRACE + 10, out[-3000:]

    after = build_app(load_settings(config, env=env), migrate_db=False)
    with after.db.session() as session:
        rows = list(session.exec(select(OutboxMessage)).all())
    after.db.engine.dispose()
    statuses = Counter(r.status for r in rows)
    assert statuses["sending"] == 0, statuses
    assert statuses["sent"] >= 1 and statuses["pending"] >= 1, statuses  # it stopped midway
    delivered = Counter(m.text for m in fake.sent)
    assert max(delivered.values()) == 1  # nothing twice
    # Every message the platform accepted is recorded sent; the rest wait, in order.
    assert {m.text for m in fake.sent} == {parse_text(r) for r in rows if r.status == "sent"}
    for chat in CHATS:
        sent = [m.text for m in fake.sent if m.chat_id == chat]
        assert sent == [f"{chat}-{i}" for i in range(len(sent))]


async def answer(http: httpx.AsyncClient, path: str) -> int:
    """The status of ``path`` once the web server listens."""
    for _ in range(300):
        try:
            return (await http.get(path)).status_code
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    raise AssertionError("the web server never answered")


def parse_text(row: OutboxMessage) -> str:
    from dialogs.kernel.intents import parse_intent

    intent = parse_intent(row.payload)
    assert isinstance(intent, Send)
    return intent.text
