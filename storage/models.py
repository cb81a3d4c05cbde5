"""Core tables. Alembic owns the schema (``python main.py db upgrade``).

Personal fields use :class:`EncryptedText`; equality lookups use a keyed hash column
(``*_hash``). Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from storage.types import EncryptedText, UTCDateTime


def _now_field(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


def _json_field(default: Any) -> Any:
    if callable(default):
        return Field(default_factory=default, sa_column=Column(JSON, nullable=False))
    return Field(default=default, sa_column=Column(JSON, nullable=False))


# --------------------------------------------------------------------------- jobs
class Job(SQLModel, table=True):
    """An open position: competencies with weights summing to 100, a pass line."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=40)
    title_zh: str
    title_en: str
    # [{"name": "communication", "weight": 30}, ...]
    competencies: list[dict[str, Any]] = _json_field(list)
    pass_line: float = 70.0
    default_language: str = "zh"
    practice_question: bool = True
    auto_reject: bool = False
    # Default contract terms (field names of contracts.terms.ContractTerms).
    contract_defaults: dict[str, Any] = _json_field(dict)
    active: bool = True
    created_at: dt.datetime = _now_field()


class Question(SQLModel, table=True):
    """A question of the bank (built-in or the company's own)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=80)
    owner: str = "builtin"  # builtin | company
    competency: str = Field(index=True, max_length=60)
    text_zh: str
    text_en: str
    rubric_zh: str = ""
    rubric_en: str = ""
    modes: str = "voice,video,text"
    time_limit_s: int = 120
    # a coding question (modes "code"): coding.question.CodingSpec as JSON; {} otherwise
    coding: dict[str, Any] = _json_field(dict)
    active: bool = True
    created_at: dt.datetime = _now_field()


class JobQuestion(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("job_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    question_id: int = Field(foreign_key="question.id")
    position: int


# ---------------------------------------------------------------------- people
class Candidate(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    name: str = Field(sa_type=EncryptedText)
    phone: str | None = Field(default=None, sa_type=EncryptedText)
    phone_hash: str | None = Field(default=None, index=True, max_length=64)
    email: str | None = Field(default=None, sa_type=EncryptedText)
    email_hash: str | None = Field(default=None, index=True, max_length=64)
    id_number: str | None = Field(default=None, sa_type=EncryptedText)
    address: str | None = Field(default=None, sa_type=EncryptedText)
    resume_text: str | None = Field(default=None, sa_type=EncryptedText)
    preferred_channel: str | None = None
    language: str | None = None
    # invited | started | completed | rejected | approved | next_round | withdrawn | deleted
    status: str = Field(default="invited", index=True)
    batch: str = "default"
    created_at: dt.datetime = _now_field()
    deleted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChannelIdentity(SQLModel, table=True):
    """Who a chat user is: a candidate, or staff, on a platform."""

    __table_args__ = (UniqueConstraint("platform", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    user_id: str = Field(max_length=100)
    chat_id: str = Field(max_length=100)
    candidate_id: int | None = Field(default=None, foreign_key="candidate.id", index=True)
    language: str | None = None
    last_seen_at: dt.datetime = _now_field()


class Staff(SQLModel, table=True):
    """Roles granted by command (config lists grant them too)."""

    __table_args__ = (UniqueConstraint("platform", "user_id", "job_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    user_id: str
    role: str  # admin | hr_manager | hr_viewer
    job_id: int | None = Field(default=None, foreign_key="job.id")
    created_at: dt.datetime = _now_field()


class GroupBinding(SQLModel, table=True):
    """An HR group chat bound to a job: it receives progress and rankings."""

    __table_args__ = (UniqueConstraint("platform", "chat_id", "job_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    chat_id: str
    job_id: int = Field(foreign_key="job.id", index=True)
    language: str = "zh"  # the language of the admin who bound it
    created_at: dt.datetime = _now_field()
    # /notify: all | digest | results | off, or auto (all until the job's progress
    # outgrows the group's budget, then digest); dialogs/kernel/groupposts.py
    notify: str = Field(default="auto", max_length=10)
    digest_cursor: int = 0  # the last GroupPost id a digest reported
    digest_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    status_sent: bool = False  # the live status message (Telegram) exists: edit it


class GroupPost(SQLModel, table=True):
    """An HR-group post waiting for the group's budget (dialogs/kernel/groupposts.py).

    ``pending`` posts are released into the outbox (``released``) within the platform's
    per-group limit, results first; progress that became stale is ``folded`` (its digest
    reports it); ``digest`` rows were never meant to be posted one by one (digest mode);
    results that waited together are ``merged`` into one post.
    """

    __table_args__ = (
        Index("ix_grouppost_chat_status", "platform", "chat_id", "status"),
        Index("ix_grouppost_job_created", "job_id", "created_at"),  # a job's last minute
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(index=True)
    platform: str
    chat_id: str
    klass: str = Field(max_length=10)  # result | progress
    kind: str = Field(max_length=60)  # the catalogue key (hr.answered ...)
    candidate_id: int | None = None
    score: float | None = None
    ref: str | None = Field(default=None, index=True, max_length=120)
    payload: str = Field(sa_type=EncryptedText)  # the Send intent as JSON
    status: str = Field(default="pending", max_length=10)
    created_at: dt.datetime = _now_field()
    released_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    outbox_id: int | None = None


class Invitation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # SHA-256 of the link's token: the token itself is only in the link handed out
    # (dialogs/invitations/invites.py), like contract signing links.
    token_hash: str = Field(index=True, unique=True, max_length=64)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    job_id: int = Field(foreign_key="job.id")
    code: str = Field(sa_type=EncryptedText)  # identity check code told to the candidate
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    status: str = "pending"  # pending | opened | used | expired | revoked
    opened_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = _now_field()


# ------------------------------------------------------------------- interview
class InterviewSession(SQLModel, table=True):
    """One candidate's interview: the state machine lives in ``dialogs/interview/flow.py``."""

    # Every candidate message looks up the sender's latest session by platform and user.
    __table_args__ = (Index("ix_session_platform_user", "platform", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True, unique=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    invitation_id: int = Field(foreign_key="invitation.id")
    platform: str
    chat_id: str
    user_id: str
    language: str = "zh"
    # language | consent | identity | practice | question | done | declined | locked
    state: str = "language"
    question_index: int = 0
    # Follow-up questions added by HR: [{"text": ..., "after": index, "by": ...}]
    extra_questions: list[dict[str, Any]] = _json_field(list)
    identity_tries: int = 0
    consent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    consent_version: str | None = None
    sensitive_consent: bool = False
    started_at: dt.datetime = _now_field()
    completed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: dt.datetime = _now_field()


class CodingLink(SQLModel, table=True):
    """A phone coding page for one coding question of one interview: the link's token
    (its SHA-256 only), the draft as the candidate types, until submitted or expired."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    session_id: int = Field(foreign_key="interviewsession.id", index=True)
    position: int
    question_id: int = Field(foreign_key="question.id")
    draft: str | None = Field(default=None, sa_type=EncryptedText)
    runs: int = 0
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    submitted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = _now_field()


class Answer(SQLModel, table=True):
    __table_args__ = (Index("ix_answer_session_position", "session_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="interviewsession.id")
    question_id: int | None = Field(default=None, foreign_key="question.id")
    question_text: str = ""  # for follow-up questions that are not in the bank
    competency: str = ""
    position: int  # question index in the interview; -1 practice
    attempt: int = 1
    kind: str  # text | voice | video
    text: str | None = Field(default=None, sa_type=EncryptedText)  # answer or transcript
    # The transcript's timed segments, JSON [{"start", "end", "text"}] (seconds): the
    # verbatim text with its pauses, for the sentence splitter and for HR.
    segments: str | None = Field(default=None, sa_type=EncryptedText)
    speech_backend: str | None = None  # which recogniser made the transcript
    media_path: str | None = None
    media_sha256: str | None = None
    duration_s: float | None = None
    # received | transcribing | transcribed | unclear | failed | scored | needs_review | superseded
    status: str = Field(default="received", index=True)
    quality_reason: str | None = None
    error: str | None = None
    practice: bool = False
    created_at: dt.datetime = _now_field()


class Evaluation(SQLModel, table=True):
    """One dimension of one answer's evaluation, with its evidence."""

    id: int | None = Field(default=None, primary_key=True)
    answer_id: int = Field(foreign_key="answer.id", index=True)
    # situation | task | action | result | logic | competency | total
    dimension: str
    score: float
    scale: float = 100.0
    evidence: list[str] = _json_field(list)
    rationale: str = ""
    details: dict[str, Any] = _json_field(dict)
    model: str
    prompt_version: str
    created_at: dt.datetime = _now_field()


class HumanScore(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("candidate_id", "competency", "scorer"),)

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    competency: str
    score: int  # 1-5
    comment: str = ""
    scorer: str  # platform:user_id
    created_at: dt.datetime = _now_field()


class CandidateNote(SQLModel, table=True):
    """A note HR wrote about a candidate in the console: who, when, the text (encrypted)."""

    __table_args__ = (Index("ix_candidatenote_candidate_created", "candidate_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidate.id")
    author: str = Field(max_length=120)  # platform:user_id
    text: str = Field(sa_type=EncryptedText)
    created_at: dt.datetime = _now_field()


class Decision(SQLModel, table=True):
    """A hiring decision; ``status`` moves pending -> decided exactly once."""

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True, unique=True)
    proposed: str | None = None  # what the system proposes (e.g. reject below the pass line)
    outcome: str | None = None  # approve | next_round | reject
    status: str = "pending"  # pending | decided
    decided_by: str | None = None
    decided_in_chat: str | None = None
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    automatic: bool = False
    # Contract terms HR set for this candidate on top of the job's defaults.
    contract_terms: dict[str, Any] = _json_field(dict)
    contract_requested: bool = False
    created_at: dt.datetime = _now_field()


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = _now_field(index=True)
    actor: str  # platform:user_id or "system"
    action: str
    subject: str = ""  # e.g. candidate:12
    details: dict[str, Any] = _json_field(dict)


class ConversationState(SQLModel, table=True):
    """Step of a guided staff dialog (create a job ...), per chat and user."""

    __table_args__ = (UniqueConstraint("platform", "chat_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    chat_id: str
    user_id: str
    flow: str
    step: str
    data: dict[str, Any] = _json_field(dict)
    updated_at: dt.datetime = _now_field()


# ------------------------------------------------------------ delivery & jobs
class InboxEvent(SQLModel, table=True):
    """Every incoming event, stored before the platform is told it was received."""

    # The payload is bound to ``event_id`` (known before the insert): no id allocation
    # on the per-event hot path (see storage/types.py).
    __table_args__ = {"info": {"row_key": "event_id"}}

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=240)  # "<platform>:<platform id>"
    platform: str
    chat_id: str
    payload: str = Field(sa_type=EncryptedText)  # the event as JSON
    status: str = Field(default="received", index=True)  # received | processed | failed
    received_at: dt.datetime = _now_field()
    processed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = None


class OutboxMessage(SQLModel, table=True):
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        # A chat's last minute (the HR-group budget, dialogs/kernel/groupposts.py).
        Index("ix_outbox_chat_created", "chat_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_event: str | None = Field(default=None, max_length=240)
    platform: str
    chat_id: str
    payload: str = Field(sa_type=EncryptedText)  # the intent as JSON
    status: str = "pending"  # pending | sending | sent | failed
    attempts: int = 0
    next_attempt_at: dt.datetime = _now_field()
    last_error: str | None = None
    platform_message_id: str | None = None
    # A ``sending`` row is leased: the process that claimed it (dialogs/kernel/dispatcher.py)
    # and until when; an expired lease may be claimed by any process.
    claimed_by: str | None = Field(default=None, max_length=80)
    lease_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ref: str | None = Field(default=None, index=True, max_length=120)
    created_at: dt.datetime = _now_field()
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class BackgroundJob(SQLModel, table=True):
    """Slow work (transcribe, score, render); lives in the DB so restarts resume it."""

    # Due jobs by (status, run_after); the relay's republish pass finds stale queued
    # jobs by (status, locked_at).
    __table_args__ = (
        Index("ix_job_status_run", "status", "run_after"),
        Index("ix_job_status_locked", "status", "locked_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    key: str | None = Field(default=None, unique=True, max_length=200)
    payload: dict[str, Any] = _json_field(dict)
    status: str = "pending"  # pending | running | done | failed
    attempts: int = 0
    max_attempts: int = 3
    run_after: dt.datetime = _now_field()
    locked_by: str | None = None
    locked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = None
    created_at: dt.datetime = _now_field()
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class FunnelEvent(SQLModel, table=True):
    """Funnel facts with timestamps: invited, opened, scheduled, started, completed ..."""

    __table_args__ = (UniqueConstraint("candidate_id", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    stage: str
    at: dt.datetime = _now_field()


class KeyValue(SQLModel, table=True):
    """Small shared state (access tokens, scheduler leases)."""

    key: str = Field(primary_key=True, max_length=120)
    value: str = Field(sa_type=EncryptedText)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class CandidateScore(SQLModel, table=True):
    """A candidate's rolled-up AI scores (advisory) and the report made from them."""

    # The console's candidates table sorts a job's candidates by total, a page at a time.
    __table_args__ = (Index("ix_candidatescore_job_total", "job_id", "total"),)

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="candidate.id", unique=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    total: float | None = None
    provisional: bool = False
    passed: bool | None = None
    per_competency: dict[str, Any] = _json_field(dict)
    report_path: str | None = None
    computed_at: dt.datetime = _now_field()
