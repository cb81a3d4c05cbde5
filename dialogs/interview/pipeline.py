"""Background jobs that turn stored answers into transcripts, evaluations and results.

``transcribe`` (voice/video) -> ``evaluate`` -> ``finalize`` (per candidate, once every
answer is final) -> ``rank`` (per batch, once every candidate is done). Each job
writes its results and the messages they cause in one transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from coding.sandbox import Sandbox, SandboxUnavailable
from core.errors import ConfigError, EvaluationError, MediaError, ModelNotInstalledError
from dialogs.interview.coding_job import judge_code
from dialogs.interview.plan import interview_plan
from dialogs.kernel.catalog import t
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.notify import group_tag, hr_group_chats
from dialogs.kernel.worker import JobContext, JobHandler
from scoring.evaluator import ChatBackend, Evaluator
from scoring.hypothesis_choice import HypothesisChooser
from scoring.star import AnswerInput
from scoring.transcribe import Transcriber, transcribe_answer
from storage.models import Answer, BackgroundJob, Evaluation, InterviewSession, Job, Question

log = logging.getLogger(__name__)

FINAL_ANSWER_STATES = {"scored", "needs_review", "unclear", "failed", "superseded"}


@dataclass
class Pipeline:
    """Job handlers with their models, loaded lazily once per worker process."""

    transcriber: Callable[[], Transcriber]
    evaluator: Callable[[], Evaluator]
    # the code sandbox and the model that reviews code (None: no review), for ``code``
    sandbox: Callable[[], Sandbox] | None = None
    reviewer: Callable[[], ChatBackend | None] | None = None
    # chooses among the recogniser's N-best hypotheses (``[speech] nbest``); None: off
    chooser: Callable[[], HypothesisChooser | None] | None = None

    def handlers(self) -> dict[str, JobHandler]:
        """The jobs that need the models (the features declare the others)."""
        return {
            "transcribe": self.transcribe,
            "evaluate": self.evaluate,
            "interview_completed": self.completed,
            "code": self.code,
        }

    # ------------------------------------------------------------ code
    def code(self, job: BackgroundJob, ctx: JobContext) -> None:
        """A coding answer, judged in the sandbox (``coding_job``)."""
        if self.sandbox is None:
            raise SandboxUnavailable("no code sandbox is configured in this worker")
        judge_code(
            job, ctx, sandbox=self.sandbox(), reviewer=self.reviewer, finalize=maybe_finalize
        )

    # ------------------------------------------------------------ transcribe
    def transcribe(self, job: BackgroundJob, ctx: JobContext) -> None:
        answer_id = int(job.payload["answer_id"])
        with ctx.db.session() as session:
            answer = session.get(Answer, answer_id)
            if answer is None or answer.status != "received" or not answer.media_path:
                return
            s = session.get(InterviewSession, answer.session_id)
            assert s is not None
            language = s.language
            speech = ctx.services.settings.speech
            wanted = speech.vocabulary_prompt or (speech.nbest > 0 and self.chooser is not None)
            context = _vocabulary(session, answer, s) if wanted else []
            vocabulary = context if speech.vocabulary_prompt else []
        data = ctx.db.media.get(answer.media_path)
        settings = ctx.services.settings
        try:
            result = transcribe_answer(
                self.transcriber(),
                data,
                language=language if language in ("zh", "en") else None,  # type: ignore[arg-type]
                max_seconds=settings.interview.max_answer_seconds + 1,
                max_bytes=settings.interview.max_media_bytes,
                decode_timeout_s=settings.speech.decode_timeout_seconds,
                vocabulary=vocabulary,
                chooser=self._chooser() if speech.nbest else None,
                context=context,
            )
        except MediaError as exc:
            self._unusable(ctx, answer_id, "failed", exc.reason, str(exc))
            return
        if result.quality != "ok":
            self._unusable(ctx, answer_id, "unclear", result.reason or "unknown", "")
            return
        with ctx.db.transaction() as session:
            fresh = session.get(Answer, answer_id)
            if fresh is None or fresh.status != "received":
                return
            fresh.text = result.text
            fresh.segments = json.dumps(
                [s.model_dump() for s in result.segments], ensure_ascii=False
            )
            fresh.speech_backend = result.backend or None
            fresh.duration_s = result.duration_s
            fresh.status = "transcribed"
            fresh.error = None
            session.add(fresh)
            ctx.enqueue(session, "evaluate", {"answer_id": answer_id}, key=f"evaluate:{answer_id}")

    def _chooser(self) -> HypothesisChooser | None:
        """The N-best chooser, or None when it cannot be had (the top beam is kept)."""
        if self.chooser is None:
            return None
        try:
            return self.chooser()
        except (ConfigError, ModelNotInstalledError, EvaluationError) as exc:
            log.warning("N-best: no language model to choose, keeping the top beam: %s", exc)
            return None

    def _unusable(
        self, ctx: JobContext, answer_id: int, status: str, reason: str, detail: str
    ) -> None:
        """Mark an answer unusable, ask for a re-record if one is left, tell HR."""
        with ctx.db.transaction() as session:
            answer = session.get(Answer, answer_id)
            if answer is None or answer.status != "received":
                return
            s = session.get(InterviewSession, answer.session_id)
            assert s is not None
            answer.status = status
            answer.quality_reason = reason
            answer.error = detail[:500] or None
            session.add(answer)
            lang = s.language
            n = answer.position + 1
            intents: list[Intent] = [
                Send(
                    platform=s.platform,
                    chat_id=s.chat_id,
                    text=t(lang, "pipeline.media_failed", n=n, reason=reason_text(lang, reason)),
                )
            ]
            if _may_rerecord(session, s, answer, ctx):
                _insert_redo(session, s, answer)
                intents.append(
                    Send(
                        platform=s.platform,
                        chat_id=s.chat_id,
                        text=t(lang, "pipeline.rerecord_now", n=n),
                    )
                )
                intents.extend(_prompt_if_waiting(session, s, ctx))
            else:
                intents.append(
                    Send(
                        platform=s.platform, chat_id=s.chat_id, text=t(lang, "pipeline.no_rerecord")
                    )
                )
            key = "pipeline.hr_unclear" if status == "unclear" else "pipeline.hr_failed"
            intents.extend(
                _to_hr(
                    session, ctx, s.job_id, key, id=s.candidate_id, n=n, reason=("reason", reason)
                )
            )
            ctx.emit(session, intents, source=f"job:transcribe:{answer_id}")
            maybe_finalize(session, ctx, s)

    # ------------------------------------------------------------ evaluate
    def evaluate(self, job: BackgroundJob, ctx: JobContext) -> None:
        answer_id = int(job.payload["answer_id"])
        with ctx.db.session() as session:
            answer = session.get(Answer, answer_id)
            if (
                answer is None
                or answer.status not in ("received", "transcribed")
                or not answer.text
            ):
                return
            s = session.get(InterviewSession, answer.session_id)
            assert s is not None
            question = session.get(Question, answer.question_id) if answer.question_id else None
            rubric = ""
            if question is not None:
                rubric = question.rubric_zh if s.language == "zh" else question.rubric_en
            item = AnswerInput(
                question=answer.question_text or (question.text_en if question else "") or "-",
                answer=answer.text,
                lang=s.language if s.language in ("zh", "en") else None,
                competency=answer.competency,
                rubric=rubric,
                segments=_segments(answer.segments),
            )
        evaluation = self.evaluator().evaluate(item)
        with ctx.db.transaction() as session:
            fresh = session.get(Answer, answer_id)
            if fresh is None or fresh.status not in ("received", "transcribed"):
                return
            s = session.get(InterviewSession, fresh.session_id)
            assert s is not None
            store_evaluation(
                session, fresh, evaluation.model_dump(mode="json"), now=ctx.services.clock.now()
            )
            fresh.status = "scored" if evaluation.status == "ok" else "needs_review"
            session.add(fresh)
            n = fresh.position + 1
            if evaluation.status == "ok" and evaluation.total is not None:
                flags = ", ".join(evaluation.flags)
                intents = _to_hr(
                    session,
                    ctx,
                    s.job_id,
                    "pipeline.hr_scored",
                    id=s.candidate_id,
                    n=n,
                    total=round(evaluation.total),
                    flags=("flags", flags) if flags else "",
                )
            else:
                intents = _to_hr(
                    session, ctx, s.job_id, "pipeline.hr_needs_review", id=s.candidate_id, n=n
                )
            ctx.emit(session, intents, source=f"job:evaluate:{answer_id}")
            maybe_finalize(session, ctx, s)

    # ------------------------------------------------------------ completed
    def completed(self, job: BackgroundJob, ctx: JobContext) -> None:
        with ctx.db.transaction() as session:
            s = session.get(InterviewSession, int(job.payload["session_id"]))
            if s is not None:
                maybe_finalize(session, ctx, s)


def store_evaluation(session: Session, answer: Answer, ev: dict[str, Any], *, now: Any) -> None:
    """One Evaluation row per STAR element and dimension, plus the answer total."""
    model = str(ev.get("model", ""))
    version = str(ev.get("prompt_version", ""))
    common = {
        "answer_id": answer.id or 0,
        "model": model,
        "prompt_version": version,
        "created_at": now,
    }
    for name, element in (ev.get("star") or {}).items():
        if element.get("score") is None:
            continue
        session.add(
            Evaluation(
                dimension=name,
                score=float(element["score"]),
                scale=5.0,
                evidence=list(element.get("evidence") or []),
                rationale=str(element.get("rationale") or ""),
                **common,
            )
        )
    for name, value in (ev.get("dimensions") or {}).items():
        session.add(Evaluation(dimension=name, score=float(value), scale=100.0, **common))
    details = {"full": ev}
    total = ev.get("total")
    session.add(
        Evaluation(
            dimension="total",
            score=float(total) if total is not None else -1.0,
            scale=100.0,
            details=details,
            **common,
        )
    )


def maybe_finalize(session: Session, ctx: JobContext, s: InterviewSession) -> None:
    """Once the interview is submitted and every answer is final, roll the scores up."""
    if s.state != "done":
        return
    states = session.exec(
        select(Answer.status).where(Answer.session_id == s.id, col(Answer.practice).is_(False))
    ).all()
    if all(state in FINAL_ANSWER_STATES for state in states):
        ctx.enqueue(
            session, "finalize", {"candidate_id": s.candidate_id}, key=f"finalize:{s.candidate_id}"
        )


def _may_rerecord(session: Session, s: InterviewSession, answer: Answer, ctx: JobContext) -> bool:
    if s.state not in ("question", "review", "practice"):
        return False
    attempts = session.exec(
        select(Answer.id).where(Answer.session_id == s.id, Answer.position == answer.position)
    ).all()
    return len(attempts) < ctx.services.settings.interview.rerecords_per_question + 1


def _insert_redo(session: Session, s: InterviewSession, answer: Answer) -> None:
    items = interview_plan(session, s)
    item = items[answer.position]
    extras = list(s.extra_questions)
    extras.append(
        {
            "at": s.question_index,
            "question_id": item.question_id,
            "competency": item.competency,
            "text_zh": item.text_zh,
            "text_en": item.text_en,
            "time_limit_s": item.time_limit_s,
            "modes": list(item.modes),
            "redo_of": answer.id,
        }
    )
    s.extra_questions = extras
    if s.state == "review":
        s.state = "question"
    session.add(s)


def _prompt_if_waiting(session: Session, s: InterviewSession, ctx: JobContext) -> list[Intent]:
    """Re-send the question the candidate should answer now."""
    from dialogs.interview import flow as interview

    return interview.prompt_intents(session, ctx.services, s)


def _to_hr(
    session: Session, ctx: JobContext, job_id: int, key: str, /, **kwargs: Any
) -> list[Intent]:
    """A catalogue message to every HR group, each in its own language.

    A keyword given as ``("reason", code)`` or ``("flags", text)`` is translated per group.
    """
    intents: list[Intent] = []
    tag = group_tag(job_id, key, candidate_id=kwargs.get("id"))
    for group in hr_group_chats(session, job_id):
        values = {name: _localize(group.lang, value) for name, value in kwargs.items()}
        intents.append(
            Send(
                platform=group.platform,
                chat_id=group.chat_id,
                text=t(group.lang, key, **values),
                post=tag,
            )
        )
    return intents


def _localize(lang: str, value: Any) -> Any:
    if isinstance(value, tuple) and value[0] == "reason":
        return reason_text(lang, value[1])
    if isinstance(value, tuple) and value[0] == "flags":
        return t(lang, "pipeline.flags", flags=value[1])
    return value


def reason_text(lang: str, reason: str) -> str:
    key = f"reason.{reason}"
    return t(lang, key) if key in _reason_keys(lang) else t(lang, "reason.unknown")


def _reason_keys(lang: str) -> set[str]:
    from dialogs.kernel.catalog import keys

    return keys(lang)


def _vocabulary(session: Session, answer: Answer, s: InterviewSession) -> list[str]:
    """The question and the job title, in the interview's language: what the answer
    likely talks about, to bias speech recognition (never added to the transcript)."""
    zh = s.language != "en"
    terms = [answer.question_text]
    question = session.get(Question, answer.question_id) if answer.question_id else None
    if question is not None:
        terms.append(question.text_zh if zh else question.text_en)
    job = session.get(Job, s.job_id) if s.job_id else None
    if job is not None:
        terms.append(job.title_zh if zh else job.title_en)
    return [t for t in dict.fromkeys(terms) if t and t.strip()]


def _segments(stored: str | None) -> list[dict[str, Any]] | None:
    """The recogniser's timed segments stored with a transcript (their pauses end
    sentences for the evaluator); None for typed answers and older transcripts."""
    if not stored:
        return None
    try:
        loaded = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(loaded, list):
        return None
    return [s for s in loaded if isinstance(s, dict)] or None
