"""Events: what a channel adapter tells the engine.

Every event carries the platform's stable id (Telegram ``update_id`` or callback id,
WeChat ``MsgId`` or ``FromUserName+CreateTime``), so the inbox can drop duplicates.
Events are pydantic models so they can be stored in the inbox as JSON and replayed
after a crash.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class MediaRef(BaseModel):
    """A media file as the platform describes it, and where we stored it.

    ``path`` is set once the adapter has downloaded the file into the media store
    (encrypted at rest); ``sha256`` is the digest of the plaintext bytes.
    """

    model_config = ConfigDict(frozen=True)

    platform_file_id: str = ""
    size_bytes: int | None = None
    duration_s: float | None = None
    mime_type: str | None = None
    path: str | None = None
    sha256: str | None = None
    file_name: str | None = None


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str = Field(min_length=1, max_length=200)
    platform: str = Field(min_length=1, max_length=20)
    chat_id: str = Field(min_length=1, max_length=100)
    user_id: str = Field(min_length=1, max_length=100)
    user_name: str = ""
    language_hint: str | None = None  # e.g. Telegram's language_code
    is_group: bool = False
    # Set only by an adapter that asked the platform (Telegram getChatMember) and only when
    # the operator allows it (``[telegram] group_admins_decide``): the sender owns or
    # administers this group chat.
    group_admin: bool = False


class TextReceived(_EventBase):
    type: Literal["text"] = "text"
    text: str


class VoiceReceived(_EventBase):
    type: Literal["voice"] = "voice"
    media: MediaRef


class VideoReceived(_EventBase):
    type: Literal["video"] = "video"
    media: MediaRef


class FileReceived(_EventBase):
    """A document (CSV/XLSX/YAML import, .ics availability)."""

    type: Literal["file"] = "file"
    media: MediaRef
    caption: str = ""


class ButtonPressed(_EventBase):
    type: Literal["button"] = "button"
    data: str = Field(max_length=64)
    callback_id: str | None = None
    message_id: str | None = None


class CommandReceived(_EventBase):
    type: Literal["command"] = "command"
    command: str  # without the slash, lower case
    args: str = ""


class UnsupportedReceived(_EventBase):
    """A sticker, location, contact ... something the interview cannot use."""

    type: Literal["unsupported"] = "unsupported"
    kind: str = "unknown"


class MediaRejected(_EventBase):
    """The adapter refused media before download (size/duration over a limit)."""

    type: Literal["media_rejected"] = "media_rejected"
    reason: Literal["too_large", "too_long", "wrong_type", "download_failed"]
    media: MediaRef


class SubscribeReceived(_EventBase):
    """WeChat subscribe/SCAN with a scene parameter, Telegram /start <token>."""

    type: Literal["subscribe"] = "subscribe"
    scene: str = ""


Event = Annotated[
    TextReceived
    | VoiceReceived
    | VideoReceived
    | FileReceived
    | ButtonPressed
    | CommandReceived
    | UnsupportedReceived
    | MediaRejected
    | SubscribeReceived,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes) -> Event:
    """Rebuild an event stored in the inbox."""
    return EVENT_ADAPTER.validate_json(data)
