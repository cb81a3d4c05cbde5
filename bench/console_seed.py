"""A job with many candidates for the console's tests and bench, written straight to the
database (no interviews run): names, statuses, languages, AI totals, decisions, and for
the first ``with_answers`` candidates a scored voice answer with STAR evidence."""

from __future__ import annotations

import datetime as dt
import random

from sqlmodel import Session

from scoring.star import Evaluation as StarEvaluation
from scoring.star import StarElement
from storage.crypto import token_hash
from storage.media import MediaStore
from storage.models import (
    Answer,
    Candidate,
    CandidateScore,
    Decision,
    Evaluation,
    FunnelEvent,
    InterviewSession,
    Invitation,
    Job,
)

TRANSCRIPT = (
    "Last year a key customer was about to cancel because our deliveries were late. "
    "My task was to keep the account within two weeks. "
    "I called the client every day and arranged weekend shifts. "
    "As a result they renewed the contract worth 1.2 million."
)
QUOTES = {
    "situation": "a key customer was about to cancel because our deliveries were late",
    "task": "My task was to keep the account within two weeks",
    "action": "I called the client every day and arranged weekend shifts",
    "result": "they renewed the contract worth 1.2 million",
}
STATUSES = ("invited", "started", "completed", "completed", "completed", "rejected", "approved")


def seed_job(
    session: Session,
    code: str,
    candidates: int,
    now: dt.datetime,
    *,
    with_answers: int = 1,
    names: list[str] | None = None,
    seed: int = 7,
) -> Job:
    """Job ``code`` and its candidates; returns the job (ids assigned)."""
    rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
    job = Job(
        code=code,
        title_zh="销售代表",
        title_en="Sales rep",
        competencies=[
            {"name": "customer_focus", "weight": 40},
            {"name": "communication", "weight": 30},
            {"name": "problem_solving", "weight": 30},
        ],
        pass_line=70.0,
        created_at=now,
    )
    session.add(job)
    session.flush()
    jid = job.id or 0
    rows: list[object] = []
    people = []
    for i in range(candidates):
        name = names[i] if names and i < len(names) else f"Candidate {i + 1}"
        status = STATUSES[i % len(STATUSES)] if i >= with_answers else "completed"
        c = Candidate(
            job_id=jid,
            name=name,
            status=status,
            language="zh" if i % 3 == 0 else "en",
            created_at=now,
        )
        people.append(c)
    session.add_all(people)
    session.flush()
    for i, c in enumerate(people):
        cid = c.id or 0
        rows.append(FunnelEvent(candidate_id=cid, job_id=jid, stage="invited", at=now))
        if c.status == "invited":
            continue
        rows.append(FunnelEvent(candidate_id=cid, job_id=jid, stage="started", at=now))
        if c.status == "started":
            continue
        rows.append(FunnelEvent(candidate_id=cid, job_id=jid, stage="completed", at=now))
        total = round(rnd.uniform(35, 95), 1)
        rows.append(
            CandidateScore(
                candidate_id=cid,
                job_id=jid,
                total=total,
                passed=total >= job.pass_line,
                per_competency={
                    "customer_focus": total,
                    "communication": max(0.0, total - 5),
                    "problem_solving": min(100.0, total + 3),
                },
                computed_at=now,
            )
        )
        decided = c.status in ("rejected", "approved")
        rows.append(
            Decision(
                candidate_id=cid,
                status="decided" if decided else "pending",
                outcome={"rejected": "reject", "approved": "approve"}.get(c.status),
                decided_by="console:hr" if decided else None,
                decided_at=now if decided else None,
                created_at=now,
            )
        )
        if i < with_answers:
            _answers(session, job, c, now)
    session.add_all(rows)
    session.flush()
    return job


def _answers(session: Session, job: Job, c: Candidate, now: dt.datetime) -> None:
    inv = Invitation(
        token_hash=token_hash(f"seed-{job.code}-{c.id}"),
        candidate_id=c.id or 0,
        job_id=job.id or 0,
        code="000000",
        expires_at=now + dt.timedelta(days=7),
        status="used",
        created_at=now,
    )
    session.add(inv)
    session.flush()
    s = InterviewSession(
        candidate_id=c.id or 0,
        job_id=job.id or 0,
        invitation_id=inv.id or 0,
        platform="console",
        chat_id=f"cand{c.id}",
        user_id=f"cand{c.id}",
        language="en",
        state="done",
        started_at=now,
        completed_at=now,
        updated_at=now,
    )
    session.add(s)
    session.flush()
    answer = Answer(
        session_id=s.id or 0,
        question_text="Tell me about a time you kept an unhappy customer.",
        competency="customer_focus",
        position=0,
        kind="voice",
        text=TRANSCRIPT,
        status="scored",
        created_at=now,
    )
    session.add(answer)
    session.flush()
    ev = StarEvaluation(
        lang="en",
        star={
            name: StarElement(score=4, evidence=[quote], rationale=f"{name}: clear and specific")
            for name, quote in QUOTES.items()
        },
        total=82.0,
        model="seed",
    )
    session.add(
        Evaluation(
            answer_id=answer.id or 0,
            dimension="total",
            score=82.0,
            details={"full": ev.model_dump(mode="json")},
            model="seed",
            prompt_version="seed",
            created_at=now,
        )
    )


def tone_wav(seconds: float = 1.5, rate: int = 16_000) -> bytes:
    """A short 440 Hz tone as 16-bit mono WAV (something a browser can play)."""
    import io
    import math
    import struct
    import wave

    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


def attach_recording(session: Session, media: MediaStore, candidate_id: int, data: bytes) -> int:
    """Store ``data`` (encrypted) as the recording of the candidate's first answer."""
    from sqlmodel import select

    answer = session.exec(
        select(Answer)
        .join(InterviewSession, InterviewSession.id == Answer.session_id)  # type: ignore[arg-type]
        .where(InterviewSession.candidate_id == candidate_id)
    ).first()
    assert answer is not None
    answer.media_path, answer.media_sha256 = media.put(data, ".wav")
    session.add(answer)
    session.flush()
    return answer.id or 0
