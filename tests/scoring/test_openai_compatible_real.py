"""The OpenAI-compatible provider against a real OpenAI-compatible server on 127.0.0.1.

The server is llama.cpp's own (the ``xllamacpp`` wheel, the same one the local provider
starts in-process) serving the installed GGUF model; the evaluator reaches it only
through ``provider = "openai_compatible"`` and ``base_url``, as it would reach vLLM or
DeepSeek. Same rubric, same schema, same validation.
"""

from __future__ import annotations

import pytest

from core.settings import Settings, load_settings
from scoring import llm_install
from scoring.evaluator import LocalLlamaServer, build_evaluator
from scoring.star import PROMPT_VERSION, AnswerInput

QUESTION = "Tell me about a time you handled a difficult customer."
STRONG = (
    "Last March at my previous company, a key client complained that our billing software kept "
    "crashing before their quarterly audit. I was responsible for the account, so my goal was to "
    "fix it within one week. I called their finance lead the same day, collected the crash logs "
    "and reproduced the bug with our developers. As a result the crashes dropped from 20 a day "
    "to zero, and they renewed their contract worth 300,000 dollars."
)
TEMPLATE = (
    "Situation: In my previous role, I faced a challenging customer situation. Task: My task was "
    "to resolve the issue and ensure customer satisfaction. Action: I proactively listened, I "
    "proactively communicated, and I leveraged best practices to streamline the resolution "
    "process. Result: Customer satisfaction increased by 30% and efficiency improved by 25%."
)


@pytest.mark.slow
def test_openai_compatible_provider_against_a_real_llama_cpp_server() -> None:
    local = load_settings()
    if not llm_install.is_installed(local):
        pytest.skip("local LLM not installed: run `python main.py models install`")
    server = LocalLlamaServer(str(llm_install.model_path(local)), threads=1)
    base_url = server.base_url()
    assert base_url.startswith("http://127.0.0.1")
    settings = Settings.model_validate(
        {
            **local.model_dump(),
            "llm": {
                **local.llm.model_dump(),
                "provider": "openai_compatible",
                "base_url": base_url,
                "timeout_seconds": 600,
            },
        }
    )
    evaluator = build_evaluator(settings)
    assert not evaluator.model_id.startswith("local:")
    strong = evaluator.evaluate(
        AnswerInput(question=QUESTION, answer=STRONG, competency="customer")
    )
    template = evaluator.evaluate(
        AnswerInput(question=QUESTION, answer=TEMPLATE, competency="customer")
    )
    for result in (strong, template):
        assert result.status == "ok", result.error
        assert result.prompt_version == PROMPT_VERSION
        for element in result.star.values():
            assert all(quote in STRONG or quote in TEMPLATE for quote in element.evidence)
            assert element.rationale and "\n" not in element.rationale
    assert "template_answer" in template.flags
    assert (strong.total or 0) > (template.total or 0)
