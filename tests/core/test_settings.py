from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.logging import redact, register_secret
from core.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_run_without_credentials() -> None:
    settings = load_settings(ROOT / "config.toml", env={})
    assert settings.database.url.startswith("sqlite:///")
    assert settings.llm.provider == "local"
    assert not settings.telegram.enabled
    # the bot's Telegram name comes from getMe: no made-up default for invitation links
    assert settings.app.bot_username is None


def test_a_configured_bot_username_may_be_written_with_an_at() -> None:
    settings = load_settings(
        ROOT / "config.toml", env={}, overrides={"app": {"bot_username": "@HrBot "}}
    )
    assert settings.app.bot_username == "HrBot"
    blank = load_settings(ROOT / "config.toml", env={}, overrides={"app": {"bot_username": ""}})
    assert blank.app.bot_username is None


def test_environment_overrides_secrets() -> None:
    settings = load_settings(
        ROOT / "config.toml",
        env={"DATABASE_URL": "postgresql://u@h/db", "LLM_API_KEY": "sk-real-key-123"},
    )
    assert settings.database.url == "postgresql+psycopg://u@h/db"
    assert settings.llm.api_key is not None
    assert "sk-real-key-123" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        ({"DATABASE_URL": "mysql://x"}, {}, "database.url"),
        ({}, {"interview": {"max_answer_seconds": -5}}, "interview.max_answer_seconds"),
        ({}, {"app": {"timezone": "Mars/Olympus"}}, "app.timezone"),
        ({}, {"app": {"colour": "blue"}}, "app.colour"),
        ({}, {"roles": {"admins": ["12345"]}}, "roles.admins"),
        ({"LLM_API_KEY": "changeme"}, {}, "llm.api_key"),
        ({}, {"telegram": {"enabled": True}}, "TELEGRAM_TOKEN"),
        ({}, {"llm": {"provider": "openai_compatible"}}, "llm.base_url"),
    ],
)
def test_a_wrong_value_fails_with_the_key_name(
    env: dict[str, str], overrides: dict[str, dict[str, object]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_settings(ROOT / "config.toml", env=env, overrides=overrides)


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[app\nx=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, env={})


def test_logs_never_show_secrets_or_personal_fields() -> None:
    register_secret("s3cr3t-value-xyz")
    line = "token 123456789:AAEhBP0av28fakeTOKENvalue1234567890abc phone 13812345678 mail a.b@c.com id 110101199003071234 s3cr3t-value-xyz"
    cleaned = redact(line)
    for leaked in (
        "AAEhBP0av28",
        "13812345678",
        "a.b@c.com",
        "110101199003071234",
        "s3cr3t-value-xyz",
    ):
        assert leaked not in cleaned
