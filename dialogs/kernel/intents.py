"""Intents: what the engine asks a channel to do.

The engine never calls a platform. It returns intents, which are written to the
outbox in the same transaction as the state change that caused them; the
dispatcher then delivers them through the channel adapter.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Button(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    data: str = Field(max_length=64)  # Telegram callback_data limit


class _IntentBase(BaseModel):
    model_config = ConfigDict(frozen=True)

    platform: str
    chat_id: str
    # A name for the sent message so a later Edit can find it (e.g. "decide:17").
    ref: str | None = None


class GroupTag(BaseModel):
    """Marks a Send as an HR-group post of a job: the group scheduler releases it within
    the group's budget instead of the outbox sending it at once (dialogs/kernel/groupposts.py)."""

    model_config = ConfigDict(frozen=True)

    job_id: int
    klass: Literal["result", "progress"]
    key: str  # the catalogue key (what the digest counts it as)
    candidate_id: int | None = None
    score: float | None = None


class Send(_IntentBase):
    kind: Literal["send"] = "send"
    text: str
    buttons: list[list[Button]] = Field(default_factory=list)
    post: GroupTag | None = None


class SendFile(_IntentBase):
    """Send a file (PDF, PNG, ICS, ZIP). ``path`` is in the media store if ``encrypted``."""

    kind: Literal["file"] = "file"
    path: str
    filename: str
    caption: str = ""
    mime_type: str = "application/octet-stream"
    encrypted: bool = False
    buttons: list[list[Button]] = Field(default_factory=list)


class Edit(_IntentBase):
    """Edit a message sent earlier under ``ref``."""

    kind: Literal["edit"] = "edit"
    text: str
    buttons: list[list[Button]] = Field(default_factory=list)


class AnswerButton(_IntentBase):
    """Answer a button press (Telegram callback query); ``alert`` shows a pop-up."""

    kind: Literal["answer_button"] = "answer_button"
    callback_id: str
    text: str = ""
    alert: bool = False


Intent = Annotated[Send | SendFile | Edit | AnswerButton, Field(discriminator="kind")]
INTENT_ADAPTER: TypeAdapter[Intent] = TypeAdapter(Intent)


def parse_intent(data: str | bytes) -> Intent:
    return INTENT_ADAPTER.validate_json(data)


class JobRequest(BaseModel):
    """Slow work for the background queue (transcribe, score, render...)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    payload: dict[str, Any] = Field(default_factory=dict)
    # Same key twice -> one job (idempotent enqueue).
    key: str | None = None
