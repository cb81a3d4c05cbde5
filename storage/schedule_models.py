"""Scheduling tables: slots, bookings, preferences, reminders, the scheduler lease.

Every table name starts with ``schedule_``. A seat of a slot is never double-booked:
``(slot_id, seat)`` is unique and a cancelled booking gives its seat back by setting
``seat`` to NULL (NULLs never collide in a unique constraint, on SQLite or PostgreSQL).
A reminder fires at most once: its ``dedupe_key`` is unique and firing is a conditional
``UPDATE ... WHERE status = 'pending'`` in the same transaction as its outbox rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Float, Index, LargeBinary, Table, Unicode, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from storage.types import EncryptedText, UTCDateTime

# Who runs an AI-only interview slot (no human interviewer, no calendar conflicts).
AI_INTERVIEWER = "ai"


class Slot(SQLModel, table=True):
    """A time an interview can take place, with a number of seats."""

    __tablename__ = "schedule_slot"
    __table_args__ = (
        UniqueConstraint(
            "job_id", "interviewer", "start_at", name="uq_schedule_slot_job_who_start"
        ),
        Index("ix_schedule_slot_job_start", "job_id", "start_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id")
    # "<platform>:<user id>" of a human interviewer, or "ai" for AI interview capacity.
    interviewer: str = Field(max_length=120, index=True)
    start_at: dt.datetime = Field(sa_type=UTCDateTime)
    end_at: dt.datetime = Field(sa_type=UTCDateTime)
    capacity: int = 1
    status: str = "open"  # open | cancelled
    source: str = "command"  # command | ics
    source_uid: str | None = Field(default=None, max_length=255)
    created_by: str = ""
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Booking(SQLModel, table=True):
    """One candidate's seat in a slot."""

    __tablename__ = "schedule_booking"
    __table_args__ = (UniqueConstraint("slot_id", "seat", name="uq_schedule_booking_seat"),)

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int = Field(foreign_key="schedule_slot.id", index=True)
    seat: int | None = None  # NULL once cancelled, so the seat can be taken again
    candidate_id: int = Field(foreign_key="candidate.id", index=True)
    session_id: int | None = Field(default=None, foreign_key="interviewsession.id")
    # booked | started | cancelled | rescheduled | no_show
    status: str = Field(default="booked", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Preference(SQLModel, table=True):
    """What the candidate said about good times, and the time zone they read times in."""

    __tablename__ = "schedule_preference"

    candidate_id: int = Field(foreign_key="candidate.id", primary_key=True)
    day_kind: str | None = None  # weekday | weekend | any
    part: str | None = None  # morning | afternoon | evening | any
    tz: str | None = Field(default=None, max_length=64)
    waiting: bool = False  # told no slot was free: offered again when slots are added
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class JobPolicy(SQLModel, table=True):
    """Per-job scheduling options (defaults come from ``settings.schedule``)."""

    __tablename__ = "schedule_job_policy"

    job_id: int = Field(foreign_key="job.id", primary_key=True)
    allow_start_now: bool = True
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Reminder(SQLModel, table=True):
    """A reminder or timed action; the database, not the scheduler, says whether it fired."""

    __tablename__ = "schedule_reminder"
    __table_args__ = (Index("ix_schedule_reminder_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # slot_before | slot_start | no_show | invite_expiring | invite_expired | nudge | contract_expiry
    kind: str = Field(max_length=40)
    dedupe_key: str = Field(max_length=200, unique=True)
    due_at: dt.datetime = Field(sa_type=UTCDateTime)
    # pending | sent | stale | skipped | cancelled
    status: str = Field(default="pending", max_length=20)
    fired_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    candidate_id: int | None = Field(default=None, foreign_key="candidate.id", index=True)
    booking_id: int | None = Field(default=None, foreign_key="schedule_booking.id", index=True)
    job_id: int | None = Field(default=None, foreign_key="job.id")
    payload: str = Field(default="{}", sa_type=EncryptedText)  # JSON, may hold names
    note: str = ""  # why it was skipped or dropped
    registered: bool = False  # handed to APScheduler's job store
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Lease(SQLModel, table=True):
    """Who runs the one scheduler of the deployment, until when."""

    __tablename__ = "schedule_lease"

    name: str = Field(primary_key=True, max_length=60)
    owner: str = Field(default="", max_length=120)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    renewed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class MailLog(SQLModel, table=True):
    """One invitation e-mail: sent at most once (a second attempt checks this row)."""

    __tablename__ = "schedule_mail"

    invitation_id: int = Field(foreign_key="invitation.id", primary_key=True)
    status: str = "pending"  # pending | sent | failed | skipped
    attempts: int = 0
    error: str | None = None
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


# APScheduler's SQLAlchemyJobStore table, declared here too so the Alembic migration
# creates it with everything else (the job store's own ``create(checkfirst=True)`` is then a
# no-op). Same columns as apscheduler.jobstores.sqlalchemy 3.x.
APSCHEDULER_TABLE = "schedule_apscheduler_jobs"
apscheduler_jobs = Table(
    APSCHEDULER_TABLE,
    SQLModel.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
