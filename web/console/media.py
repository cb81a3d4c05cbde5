"""Recordings in the console: found through the answer, decrypted in memory, served with
HTTP range requests (browsers' audio and video elements ask for ranges)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session

from storage.models import Answer, Candidate, InterviewSession, Job

TYPES = {
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".wav": "audio/wav",
    ".amr": "audio/amr",
    ".webm": "video/webm",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
}
_RANGE = re.compile(r"bytes=(\d{0,15})-(\d{0,15})")


def media_type(path: str) -> str:
    name = path.removesuffix(".enc").lower()
    dot = name.rfind(".")
    return TYPES.get(name[dot:] if dot >= 0 else "", "application/octet-stream")


@dataclass(frozen=True)
class Recording:
    answer: Answer
    candidate: Candidate
    job: Job


def find_recording(session: Session, answer_id: int) -> tuple[Recording | None, Job | None]:
    """The answer's recording and its job; (None, job) when the answer has no media,
    (None, None) when there is no such answer (or its candidate was deleted)."""
    answer = session.get(Answer, answer_id)
    s = session.get(InterviewSession, answer.session_id) if answer is not None else None
    candidate = session.get(Candidate, s.candidate_id) if s is not None else None
    if answer is None or candidate is None or candidate.status == "deleted":
        return None, None
    job = session.get(Job, candidate.job_id)
    if job is None or not answer.media_path:
        return None, job
    return Recording(answer, candidate, job), job


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """``(first, last)`` for one satisfiable range; None without a header; False when the
    range cannot be served (416)."""
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None or size == 0:
        return False
    start, end = found.groups()
    if start == "":
        if end == "":
            return False
        length = int(end)  # the last N bytes
        return (max(0, size - length), size - 1) if length > 0 else False
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    if first >= size or last < first:
        return False
    return first, last
