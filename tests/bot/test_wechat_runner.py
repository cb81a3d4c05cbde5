"""``main.py run`` with WeChat enabled: uvicorn on 127.0.0.1, a signed callback in, the
reply out through the outbox to the fake WeChat API."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.runner import run
from app.runtime import Runtime
from tests.fakes.wechat_api import Callbacks, FakeWeChat, wechat_settings

OPENID = "oRunner000000000000000000001"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_run_serves_wechat_and_wecom_callbacks(tmp_path: Path, fake: FakeWeChat) -> None:
    port = _free_port()
    settings = wechat_settings(tmp_path, fake, port=port)
    stop = asyncio.Event()
    ready = asyncio.Event()
    seen: list[Runtime] = []

    def on_ready(rt: Runtime) -> None:
        seen.append(rt)
        ready.set()

    task = asyncio.create_task(run(settings, stop=stop, handle_signals=False, on_ready=on_ready))
    try:
        await asyncio.wait_for(ready.wait(), timeout=60)
        assert {"wechat", "wecom"} <= set(seen[0].app.channels)
        cb = Callbacks(now=time.time())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(100):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            params, body = cb.request(cb.text(OPENID, "hello"))
            response = await http.post("/wechat/callback", params=params, content=body)
            assert response.status_code == 200
            assert response.text == "success"
            params, body = cb.work_request(
                cb.xml(
                    {
                        "ToUserName": "corp",
                        "FromUserName": "hr_li",
                        "CreateTime": int(cb.now),
                        "MsgType": "text",
                        "Content": "/jobs",
                        "MsgId": 5550001,
                        "AgentID": 1000002,
                    }
                )
            )
            assert (
                await http.post("/wecom/callback", params=params, content=body)
            ).status_code == 200
            too_big = await http.post("/wechat/callback", params=params, content=b"x" * 2_000_000)
            assert too_big.status_code == 413
        for _ in range(200):
            if fake.texts_to(OPENID) and fake.of("message/send"):
                break
            await asyncio.sleep(0.05)
        assert len(fake.texts_to(OPENID)) == 1
        assert fake.of("message/send")[0].json["touser"] == "hr_li"
    finally:
        stop.set()
        assert await asyncio.wait_for(task, timeout=60) == 0
