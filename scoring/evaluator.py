"""The ``Evaluator`` protocol, the STAR evaluator and its model providers.

Providers (``[llm] provider`` in ``config.toml``):

* ``local`` (default): a GGUF model run in-process by llama.cpp (``xllamacpp``), whose
  built-in OpenAI-style server listens on 127.0.0.1; langchain's ``ChatOpenAI`` talks to
  it with a JSON-schema ``response_format``, which llama.cpp turns into a grammar.
* ``openai_compatible``: any OpenAI-compatible endpoint (OpenAI, DeepSeek, Qwen's
  compatible mode, vLLM, Ollama) through ``ChatOpenAI(base_url, model, api_key)``.
* ``fake``: a deterministic stand-in for unit tests and ``demo --fake-llm``; refused
  unless the caller passes ``allow_fake=True``.

Whatever the provider, its output is validated by pydantic (``scoring.star``); invalid
output is retried ``llm.max_retries`` times and then the answer is marked
``needs_review`` - never given a default score.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from pydantic import SecretStr

from core.errors import ConfigError, EvaluationError
from core.settings import Settings
from scoring import star
from scoring import star_features as ft
from scoring.star import AnswerInput, Evaluation

log = logging.getLogger(__name__)

Messages = Sequence[tuple[str, str]]


class Evaluator(Protocol):
    """Scores one answer. Never raises for bad model output: returns ``needs_review``."""

    @property
    def model_id(self) -> str: ...

    def evaluate(self, item: AnswerInput) -> Evaluation:
        """Score ``item``.

        Raises:
            EvaluationError: the model could not be reached at all (network, crash).
        """
        ...


class ChatBackend(Protocol):
    """Something that completes chat messages into a JSON string following ``schema``."""

    @property
    def model_id(self) -> str: ...

    def complete(self, messages: Messages, schema: dict[str, Any]) -> str:
        """Return the raw text of the model's reply.

        Raises:
            EvaluationError: the backend failed (not: the reply is invalid).
        """
        ...


class StarEvaluator:
    """Evaluator that asks a backend for evidence and scores it with ``scoring.star``."""

    def __init__(
        self,
        backend: ChatBackend,
        *,
        max_retries: int = 2,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._backend = backend
        self._max_retries = max_retries
        self._timer = timer

    @property
    def model_id(self) -> str:
        return self._backend.model_id

    def evaluate(self, item: AnswerInput) -> Evaluation:
        prepared = star.prepare(item)
        messages = star.build_messages(item, prepared)
        schema = star.extraction_schema()
        started = self._timer()
        errors: list[str] = []
        attempts = 0
        for attempt in range(1, self._max_retries + 2):
            attempts = attempt
            raw = self._backend.complete(messages, schema)
            try:
                extraction = star.parse_extraction(raw)
            except ValueError as exc:
                errors.append(f"attempt {attempt}: {str(exc).splitlines()[0][:200]}")
                log.warning("invalid evaluator output (attempt %d): %s", attempt, errors[-1])
                continue
            return star.score_answer(
                item,
                prepared,
                extraction,
                model=self.model_id,
                latency_s=self._timer() - started,
                attempts=attempt,
            )
        return star.needs_review(
            prepared,
            model=self.model_id,
            latency_s=self._timer() - started,
            attempts=attempts,
            error="; ".join(errors),
        )


# ---------------------------------------------------------------- langchain backends


class LangChainBackend:
    """A langchain chat model asked for JSON.

    ``json_schema`` (default): the server constrains decoding to the schema.
    ``json_object``: for endpoints that only promise valid JSON (DeepSeek); the schema is
    appended to the system message instead. Either way the reply is validated by pydantic.
    """

    def __init__(
        self,
        chat: Any,
        model_id: str,
        *,
        max_tokens: int = 700,
        response_format: Literal["json_schema", "json_object"] = "json_schema",
        max_concurrency: int | None = None,
    ) -> None:
        self._chat = chat
        self._model_id = model_id
        self._max_tokens = max_tokens
        self._format = response_format
        # Calls in flight from this process at most (None: as many as callers).
        self._slots: contextlib.AbstractContextManager[object] = (
            threading.BoundedSemaphore(max_concurrency)
            if max_concurrency
            else contextlib.nullcontext()
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    def complete(self, messages: Messages, schema: dict[str, Any]) -> str:
        sent = list(messages)
        response_format: dict[str, Any]
        if self._format == "json_object":
            response_format = {"type": "json_object"}
            role, content = sent[0]
            rules = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
            sent[0] = (role, f"{content}\n\nThe reply is one JSON object with this schema: {rules}")
        else:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": "star_evidence", "schema": schema, "strict": False},
            }
        try:
            with self._slots:
                reply = self._chat.invoke(
                    sent, response_format=response_format, max_tokens=self._max_tokens
                )
        except Exception as exc:  # vendor errors are many; wrap them at the boundary
            raise EvaluationError(f"{self._model_id}: model call failed: {exc}") from exc
        content = reply.content
        if isinstance(content, list):
            content = "".join(
                str(c.get("text", "")) if isinstance(c, dict) else str(c) for c in content
            )
        return str(content)


def openai_compatible_backend(settings: Settings) -> LangChainBackend:
    """``ChatOpenAI`` pointed at ``llm.base_url`` with ``llm.model`` and ``LLM_API_KEY``."""
    from langchain_openai import ChatOpenAI

    cfg = settings.llm
    if not cfg.base_url:
        raise ConfigError("llm.base_url: required when llm.provider = 'openai_compatible'")
    # Self-hosted endpoints (vLLM, Ollama) need no key, but the client insists on one.
    api_key = cfg.api_key or SecretStr("not-needed")
    chat = ChatOpenAI(
        base_url=cfg.base_url,
        model=cfg.model,
        api_key=api_key,
        temperature=cfg.temperature,
        timeout=cfg.timeout_seconds,
        max_retries=1,
    )
    return LangChainBackend(
        chat, cfg.model, response_format=cfg.response_format, max_concurrency=cfg.max_concurrency
    )


class LocalLlamaServer:
    """llama.cpp (xllamacpp) serving one GGUF file on 127.0.0.1, started once per process."""

    _lock = threading.Lock()
    _servers: dict[str, Any] = {}

    def __init__(self, model_path: str, *, threads: int = 1, n_ctx: int = 6144) -> None:
        self.model_path = model_path
        self.threads = threads
        self.n_ctx = n_ctx

    def base_url(self) -> str:
        """Start the server if needed; its OpenAI-style base URL."""
        with self._lock:
            server = self._servers.get(self.model_path)
            if server is None:
                server = self._start()
                self._servers[self.model_path] = server
        address = str(server.listening_address).rstrip("/")
        if not address.startswith("http"):
            address = "http://" + address
        return address + "/v1"

    def _start(self) -> Any:
        try:
            import xllamacpp
        except ImportError as exc:  # pragma: no cover - it is a declared dependency
            raise EvaluationError("xllamacpp is not installed") from exc
        params = xllamacpp.CommonParams()
        params.model.path = self.model_path
        params.n_ctx = self.n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        if not log.isEnabledFor(logging.DEBUG):
            params.verbosity = -1  # llama.cpp logs every token batch to stderr otherwise
        try:
            return xllamacpp.Server(params)
        except Exception as exc:
            raise EvaluationError(f"llama.cpp could not load {self.model_path}: {exc}") from exc

    @classmethod
    def stop_all(cls) -> None:
        """Drop the servers (their destructors stop llama.cpp's loop)."""
        with cls._lock:
            cls._servers.clear()


def local_backend(settings: Settings, *, threads: int = 1) -> LangChainBackend:
    """The default: the installed GGUF model, served in-process by llama.cpp.

    ``threads``: llama.cpp threads. One by default: on the 2-core target the model
    shares the machine with Whisper and the bot, and measured on a busy machine two
    threads waited on each other until calls timed out (120 s) while one thread took
    ~25 s per answer; on an idle machine two threads are faster (~2x).
    """
    from langchain_openai import ChatOpenAI

    from scoring.llm_install import require_model

    path = require_model(settings)
    server = LocalLlamaServer(str(path), threads=threads)
    chat = ChatOpenAI(
        base_url=server.base_url(),
        model=settings.llm.model,
        api_key="local-no-key",
        temperature=settings.llm.temperature,
        timeout=settings.llm.timeout_seconds,
        max_retries=0,
        seed=42,
    )
    return LangChainBackend(chat, f"local:{settings.llm.model}")


# ---------------------------------------------------------------- fake (tests and demo only)


class FakeBackend:
    """Deterministic stand-in for a model: **tests and ``demo --fake-llm`` only.

    With ``replies`` it returns them in turn (then repeats the last one), which lets a
    test script invalid output or invented sentence numbers. Without, it imitates an extractor:
    the numbered sentences that carry STAR cues become its evidence, and it
    gives every element ``model_score``.
    """

    def __init__(
        self,
        replies: Sequence[str] | None = None,
        *,
        model_score: int = 3,
        on_topic: bool = True,
        addresses_grader: bool = False,
    ) -> None:
        self.replies = list(replies or [])
        self.calls: list[list[tuple[str, str]]] = []
        self.model_score = model_score
        self.on_topic = on_topic
        self.addresses_grader = addresses_grader

    @property
    def model_id(self) -> str:
        return "fake"

    def complete(self, messages: Messages, schema: dict[str, Any]) -> str:
        self.calls.append(list(messages))
        if self.replies:
            index = min(len(self.calls) - 1, len(self.replies) - 1)
            return self.replies[index]
        return json.dumps(self._imitate(messages[-1][1]), ensure_ascii=False)

    def _imitate(self, user: str) -> dict[str, Any]:
        match = re.search(r"<answer>\n(.*)\n</answer>", user, re.DOTALL)
        numbered = match.group(1).splitlines() if match else []
        sents = [re.sub(r"^\[\d+\] ", "", line) for line in numbered]
        answer = " ".join(sents)
        lang = ft.detect_lang(answer)
        found = star.rule_sentences(answer, lang)
        out: dict[str, Any] = {}
        for name in star.ELEMENTS:
            ids = [sents.index(q) + 1 for q in found[name] if q in sents][: star.MAX_QUOTES]
            out[name] = {"sentences": ids, "score": self.model_score if ids else 0}
        out["events"] = [q[: star.EVENT_MAX_CHARS] for q in found["result"][:1]]
        out["on_topic"] = self.on_topic
        out["addresses_grader"] = self.addresses_grader
        return out


def build_backend(settings: Settings, *, allow_fake: bool = False, threads: int = 1) -> ChatBackend:
    """The model backend chosen by ``llm.provider``.

    Raises:
        ConfigError: ``fake`` without ``allow_fake``, or a missing setting.
        ModelNotInstalledError: ``local`` and the model is not installed.
    """
    provider = settings.llm.provider
    if provider == "fake":
        if not allow_fake:
            raise ConfigError("llm.provider = 'fake' is for tests and demo --fake-llm only")
        return FakeBackend()
    if provider == "openai_compatible":
        return openai_compatible_backend(settings)
    return local_backend(settings, threads=threads)


def build_evaluator(settings: Settings, *, allow_fake: bool = False) -> Evaluator:
    """The STAR evaluator over the backend chosen by ``llm.provider`` (see ``build_backend``)."""
    backend = build_backend(settings, allow_fake=allow_fake)
    return StarEvaluator(backend, max_retries=settings.llm.max_retries)
