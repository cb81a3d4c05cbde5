"""What a flow handler gets: the event, the open transaction, and ways to answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select
from sqlmodel import Session

from core.clock import Clock
from core.settings import Settings
from dialogs.kernel.catalog import t
from dialogs.kernel.channel import CandidateChannels
from dialogs.kernel.events import Event
from dialogs.kernel.intents import AnswerButton, Button, Edit, Intent, JobRequest, Send, SendFile
from dialogs.kernel.timing import Planner, ReminderRule
from storage.db import Database, table_of
from storage.media import MediaStore
from storage.models import AuditEvent, Candidate, FunnelEvent, InterviewSession, Invitation, Job

# Prebuilt Core statements (the audit trail and funnel are written on most events).
_AUDIT = table_of(AuditEvent)
_FUNNEL = table_of(FunnelEvent)
_INSERT_AUDIT = insert(_AUDIT)
_INSERT_FUNNEL = insert(_FUNNEL)
_FUNNEL_EXISTS = select(_FUNNEL.c.id).where(
    _FUNNEL.c.candidate_id == bindparam("candidate_id"), _FUNNEL.c.stage == bindparam("stage")
)


# Buttons a feature adds to an HR-group post: (group language, the post's values) -> rows.
PostButtons = Callable[[str, dict[str, Any]], list[list[Button]]]
# The step that handles a candidate's event while their interview is in a given state.
CandidateStep = Callable[["Ctx", InterviewSession], None]
# The open invitation a start link's token names, if any (tokens are stored hashed).
InvitationFinder = Callable[[Session, str], Invitation | None]
# Between identity and the questions: True when the step took the candidate over.
QuestionsGate = Callable[["Ctx", InterviewSession], bool]
# Called when HR approves a candidate, in the decision's transaction (the contract offer).
ApproveHook = Callable[["Ctx", Candidate], None]
# Run by the reminder scheduler's leader on every tick (e.g. the daily retention sweep).
Periodic = Callable[[Database, "Services"], object]


class FeatureHooks(Protocol):
    """What one feature's handler may ask of the others (``dialogs.kernel.registry``)."""

    def post_buttons(self, key: str, lang: str, values: dict[str, Any]) -> list[list[Button]]:
        """Rows other features add to an HR-group post of catalogue ``key``."""
        ...

    def candidate_step(self, state: str) -> CandidateStep | None:
        """The step of the feature that owns interview-session state ``state``, if any."""
        ...

    def periodic_tasks(self) -> tuple[Periodic, ...]:
        """What the scheduler's leader runs on every tick."""
        ...

    def candidate_prompt(self, state: str) -> CandidateStep | None:
        """What (re-)sends the current step of a state another feature owns, if any."""
        ...

    def before_questions(self, ctx: Ctx, s: InterviewSession) -> bool:
        """Identity is confirmed: True when a feature took the candidate over (a booking)."""
        ...

    def begin_questions(self, ctx: Ctx, s: InterviewSession) -> None:
        """Hand the candidate (back) to the interview's questions."""
        ...

    def candidate_command(self, command: str) -> CandidateStep | None:
        """Another feature's answer to a candidate's command during an interview."""
        ...

    def find_invitation(self, session: Session, token: str) -> Invitation | None:
        """The invitation a start link's token opens (the invitations feature)."""
        ...

    def approved(self, ctx: Ctx, candidate: Candidate) -> None:
        """HR approved ``candidate``: what features do then, in the same transaction."""
        ...

    def reminder_rule(self, kind: str) -> ReminderRule | None:
        """The rule of the feature that owns reminder kind ``kind``, if any."""
        ...

    def planners(self) -> tuple[Planner, ...]:
        """What plans reminders nobody planned at creation (the scheduler's leader)."""
        ...


@dataclass
class Services:
    """Everything the engine needs from outside, wired once in ``app/wiring.py``."""

    settings: Settings
    clock: Clock
    media: MediaStore
    features: FeatureHooks
    # What start-up learned about the candidates' channels (Telegram username, WeChat QR).
    channels: CandidateChannels = field(default_factory=CandidateChannels)


@dataclass
class Target:
    """What a staff command or button acts on, found and checked before its handler runs
    (``dialogs/kernel/access.py``)."""

    job: Job | None = None
    candidate: Candidate | None = None
    raw: str = ""  # the identifier as given; "" when none was given
    action: str | None = None  # set by resolvers that pick the action from the arguments

    @property
    def named(self) -> bool:
        return bool(self.raw)

    @property
    def job_id(self) -> int | None:
        if self.candidate is not None:
            return self.candidate.job_id
        return self.job.id if self.job is not None else None


@dataclass
class Ctx:
    """One event being handled inside one transaction."""

    session: Session
    event: Event
    services: Services
    lang: str = "zh"
    role: str | None = None
    target: Target = field(default_factory=Target)
    intents: list[Intent] = field(default_factory=list)
    jobs: list[JobRequest] = field(default_factory=list)
    # Per-event memo for things read more than once (e.g. the interview plan).
    memo: dict[object, Any] = field(default_factory=dict)

    @property
    def now(self) -> dt.datetime:
        return self.services.clock.now()

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def actor(self) -> str:
        return f"{self.event.platform}:{self.event.user_id}"

    # -- replies to the event's chat ---------------------------------------
    def text(self, key: str, /, **kwargs: Any) -> str:
        return t(self.lang, key, **kwargs)

    def reply(
        self,
        key: str,
        /,
        *,
        buttons: list[list[Button]] | None = None,
        ref: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.say(self.text(key, **kwargs), buttons=buttons, ref=ref)

    def say(
        self, text: str, *, buttons: list[list[Button]] | None = None, ref: str | None = None
    ) -> None:
        self.send_to(self.event.platform, self.event.chat_id, text, buttons=buttons, ref=ref)

    def send_to(
        self,
        platform: str,
        chat_id: str,
        text: str,
        *,
        buttons: list[list[Button]] | None = None,
        ref: str | None = None,
    ) -> None:
        self.intents.append(
            Send(platform=platform, chat_id=chat_id, text=text, buttons=buttons or [], ref=ref)
        )

    def send_file(
        self,
        path: str,
        filename: str,
        *,
        caption: str = "",
        mime_type: str = "application/octet-stream",
        encrypted: bool = True,
        platform: str | None = None,
        chat_id: str | None = None,
        buttons: list[list[Button]] | None = None,
        ref: str | None = None,
    ) -> None:
        self.intents.append(
            SendFile(
                platform=platform or self.event.platform,
                chat_id=chat_id or self.event.chat_id,
                path=path,
                filename=filename,
                caption=caption,
                mime_type=mime_type,
                encrypted=encrypted,
                buttons=buttons or [],
                ref=ref,
            )
        )

    def edit(
        self,
        platform: str,
        chat_id: str,
        ref: str,
        text: str,
        buttons: list[list[Button]] | None = None,
    ) -> None:
        self.intents.append(
            Edit(platform=platform, chat_id=chat_id, ref=ref, text=text, buttons=buttons or [])
        )

    def answer_button(self, text: str = "", *, alert: bool = False) -> None:
        callback_id = getattr(self.event, "callback_id", None)
        if callback_id:
            self.intents.append(
                AnswerButton(
                    platform=self.event.platform,
                    chat_id=self.event.chat_id,
                    callback_id=callback_id,
                    text=text,
                    alert=alert,
                )
            )

    # -- side effects in the same transaction ------------------------------
    def enqueue(self, kind: str, payload: dict[str, Any], *, key: str | None = None) -> None:
        self.jobs.append(JobRequest(kind=kind, payload=payload, key=key))

    def audit(self, action: str, subject: str = "", /, **details: Any) -> None:
        self.session.execute(
            _INSERT_AUDIT,
            {
                "at": self.now,
                "actor": self.actor,
                "action": action,
                "subject": subject,
                "details": details,
            },
        )

    def funnel(self, candidate_id: int, job_id: int, stage: str) -> None:
        """Record a funnel fact once per candidate and stage."""
        key = {"candidate_id": candidate_id, "stage": stage}
        if self.session.execute(_FUNNEL_EXISTS, key).first() is None:
            self.session.execute(_INSERT_FUNNEL, {**key, "job_id": job_id, "at": self.now})
