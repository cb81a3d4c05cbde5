"""The ``code`` job: judge a coding answer in the sandbox (outside any transaction),
time the reference solution on the large tests, ask the model for its advisory
readability review, then store the score and tell HR, in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from coding.judge import Spec, judge
from coding.question import CodingSpec
from coding.sandbox import Sandbox
from core.errors import EvaluationError, InterviewerError
from dialogs.kernel.catalog import t
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.notify import hr_group_chats
from dialogs.kernel.worker import JobContext
from scoring.code_review import review_code
from scoring.code_score import CodeResult, code_result
from scoring.evaluator import ChatBackend
from storage.models import Answer, BackgroundJob, Evaluation, InterviewSession, Question

SCORER = "sandbox"
SCORE_VERSION = "code-v1"
MAX_TEST_LINES = 12


# pipeline.maybe_finalize: roll the scores up once every answer is final
Finalize = Callable[[Session, JobContext, InterviewSession], None]


def judge_code(
    job: BackgroundJob,
    ctx: JobContext,
    *,
    sandbox: Sandbox,
    reviewer: Callable[[], ChatBackend | None] | None,
    finalize: Finalize,
) -> None:
    answer_id = int(job.payload["answer_id"])
    with ctx.db.session() as session:
        answer = session.get(Answer, answer_id)
        if answer is None or answer.status != "received" or answer.kind != "code":
            return
        question = session.get(Question, answer.question_id) if answer.question_id else None
        if question is None or not question.coding:
            raise EvaluationError(f"answer {answer_id}: its question is not a coding question")
        s = session.get(InterviewSession, answer.session_id)
        assert s is not None
        spec = CodingSpec.model_validate(question.coding)
        statement = question.text_zh if s.language == "zh" else question.text_en
        code, lang = answer.text or "", s.language
    report = judge(sandbox, code, spec.suite())
    reference = None
    large = [c for c in spec.tests if c.large]
    if spec.reference and large and report.verdict != "compile_error":
        reference = judge(
            sandbox,
            spec.reference,
            Spec(
                language=spec.language,
                time_limit_s=spec.time_limit_s,
                memory_mb=spec.memory_mb,
                tests=large,
            ),
        )
    result = code_result(report, reference, spec.language)
    if reviewer is not None:
        try:
            backend = reviewer()
        except InterviewerError as exc:  # advisory: the score stands without it
            backend = None
            result.review_error = f"no model for the review: {type(exc).__name__}"
        if backend is not None:
            review = review_code(backend, statement, code, lang)
            result.readability = review.readability
            result.review = review.comment
            result.review_model = review.model
            result.review_error = review.error
    with ctx.db.transaction() as session:
        fresh = session.get(Answer, answer_id)
        if fresh is None or fresh.status != "received":
            return
        s = session.get(InterviewSession, fresh.session_id)
        assert s is not None
        _store(session, fresh, result, now=ctx.services.clock.now())
        fresh.status = "scored"
        session.add(fresh)
        intents = hr_messages(session, s.job_id, s.candidate_id, fresh.position + 1, result)
        ctx.emit(session, intents, source=f"job:code:{answer_id}")
        finalize(session, ctx, s)


def _store(session: Any, answer: Answer, result: CodeResult, *, now: Any) -> None:
    common = {
        "answer_id": answer.id or 0,
        "model": SCORER,
        "prompt_version": SCORE_VERSION,
        "created_at": now,
    }
    session.add(Evaluation(dimension="correctness", score=result.correctness, **common))
    if result.efficiency is not None:
        session.add(Evaluation(dimension="efficiency", score=result.efficiency, **common))
    if result.readability is not None:
        session.add(
            Evaluation(
                dimension="readability",
                score=float(result.readability),
                scale=5.0,
                rationale=result.review,
                **{**common, "model": result.review_model},
            )
        )
    session.add(
        Evaluation(
            dimension="total",
            score=result.score,
            details={"coding": result.model_dump(mode="json")},
            **common,
        )
    )


def verdict_text(lang: str, verdict: str) -> str:
    return t(lang, f"coding.verdict_{verdict}")


def judged_text(lang: str, candidate_id: int, n: int, result: CodeResult) -> str:
    """The HR group's message: the verdict, the score and each test's verdict and time."""
    lines = [
        t(
            lang,
            "coding.hr_test",
            name=test["name"],
            hidden=t(lang, "coding.hidden") if test.get("hidden") else "",
            verdict=verdict_text(lang, str(test["verdict"])),
            seconds=f"{float(test['seconds']):.2f}",
        )
        for test in result.tests[:MAX_TEST_LINES]
    ]
    if len(result.tests) > MAX_TEST_LINES:
        lines.append("…")
    review = ""
    if result.readability is not None:
        review = t(lang, "coding.hr_review", readability=result.readability, comment=result.review)
    return t(
        lang,
        "coding.hr_judged",
        id=candidate_id,
        n=n,
        verdict=verdict_text(lang, result.verdict),
        passed=result.passed,
        total=result.total,
        score=f"{result.score:.0f}",
        correctness=f"{result.correctness:.0f}",
        efficiency=t(lang, "coding.not_measured")
        if result.efficiency is None
        else f"{result.efficiency:.0f}",
        tests="\n".join(lines),
        review=review,
    )


def hr_messages(
    session: Any, job_id: int, candidate_id: int, n: int, result: CodeResult
) -> list[Intent]:
    return [
        Send(
            platform=group.platform,
            chat_id=group.chat_id,
            text=judged_text(group.lang, candidate_id, n, result),
        )
        for group in hr_group_chats(session, job_id)
    ]
