"""``main.py run`` with no chat channel enabled still serves the web app: the HR console
answers, and a link from ``console link`` signs in."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import httpx

from app.runner import run
from app.runtime import Runtime
from app.wiring import App, build_app
from core.settings import Settings
from dialogs.console.links import create_link
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from tests.conftest import make_settings
from tests.fakes.speech import ScriptedTranscriber


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build(settings: Settings) -> App:
    evaluator = StarEvaluator(FakeBackend())
    transcriber = ScriptedTranscriber()
    return build_app(
        settings, pipeline=Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator)
    )


async def test_run_serves_the_console_without_any_chat_channel(tmp_path: Path) -> None:
    port = _free_port()
    settings = make_settings(tmp_path, web={"port": port})
    stop = asyncio.Event()
    ready = asyncio.Event()
    seen: list[Runtime] = []

    def on_ready(rt: Runtime) -> None:
        seen.append(rt)
        ready.set()

    task = asyncio.create_task(
        run(settings, stop=stop, handle_signals=False, on_ready=on_ready, build=_build)
    )
    try:
        await asyncio.wait_for(ready.wait(), timeout=60)
        assert seen[0].app.channels == {}
        app = seen[0].app
        with app.db.transaction() as session:
            token = create_link(session, "console", "hr", "en", app.services.clock.now())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(200):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            assert (await http.get("/console")).status_code == 401
            form = await http.get(f"/console/login/{token}")
            pre = re.search(r'name="pre" value="([^"]+)"', form.text)
            assert pre is not None
            done = await http.post(f"/console/login/{token}", data={"pre": pre.group(1)})
            assert done.status_code == 303
            jobs = await http.get("/console")
            assert jobs.status_code == 200 and "Jobs" in jobs.text
    finally:
        stop.set()
        assert await asyncio.wait_for(task, timeout=60) == 0
