"""``python main.py console link PLATFORM:USER``: a one-time link for staff only, that the
console then accepts once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.wiring import build_app
from main import main
from tests.conftest import make_settings
from web.app import create_app
from web.console.routes import console_routes


def test_console_link_prints_a_link_that_signs_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    build_app(make_settings(tmp_path)).db.engine.dispose()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[app]\ndata_dir = "{data}"\npublic_base_url = "https://hr.example.com"\n'
        f'[database]\nurl = "sqlite:///{data / "test.sqlite3"}"\n'
        f'[security]\nkey_file = "{data / "keys" / "data.key"}"\n'
        '[roles]\nhr_managers = ["console:hr"]\n',
        encoding="utf-8",
    )
    c = ["--config", str(cfg)]
    assert main([*c, "console", "link", "console:nobody"]) == 1
    assert "holds no role" in capsys.readouterr().out
    assert main([*c, "console", "link", "bogus"]) == 2
    capsys.readouterr()
    assert main([*c, "console", "link", "console:hr"]) == 0
    url = capsys.readouterr().out.strip()
    found = re.fullmatch(r"https://hr\.example\.com(/console/login/[A-Za-z0-9_-]{40,})", url)
    assert found is not None

    from starlette.testclient import TestClient

    from core.settings import load_settings

    app = build_app(load_settings(cfg, env={}))
    try:
        client = TestClient(
            create_app(app, extra_routes=console_routes(app)), base_url="https://testserver"
        )
        form = client.get(found.group(1))
        assert "Secure" in form.headers["set-cookie"]  # the public URL is https
        pre = re.search(r'name="pre" value="([^"]+)"', form.text)
        assert pre is not None
        done = client.post(found.group(1), data={"pre": pre.group(1)}, follow_redirects=False)
        assert done.status_code == 303 and "Secure" in done.headers["set-cookie"]
        assert client.get("/console").status_code == 200
    finally:
        app.db.engine.dispose()


def test_console_link_for_the_demo_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.settings import demo_settings, load_settings

    data = tmp_path / "data"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[app]\ndata_dir = "{data}"\n[security]\nkey_file = "{data / "keys" / "data.key"}"\n',
        encoding="utf-8",
    )
    demo = demo_settings(load_settings(cfg, env={}))
    assert demo.app.data_dir == data / "demo"
    build_app(demo).db.engine.dispose()  # what 'main.py demo' leaves behind
    assert main(["--config", str(cfg), "console", "link", "console:hr", "--demo"]) == 0
    path = capsys.readouterr().out.strip().split("8080", 1)[1]
    app = build_app(demo)
    try:
        from starlette.testclient import TestClient

        client = TestClient(create_app(app, extra_routes=console_routes(app)))
        form = client.get(path)
        pre = re.search(r'name="pre" value="([^"]+)"', form.text)
        assert pre is not None
        client.post(path, data={"pre": pre.group(1)})
        assert client.get("/console").status_code == 200
    finally:
        app.db.engine.dispose()
