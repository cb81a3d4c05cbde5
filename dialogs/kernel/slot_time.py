"""Time zones, parts of the day and slot labels: pure functions shared by scheduling and reminders."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialogs.kernel.catalog import t

DAY_KINDS = ("weekday", "weekend", "any")
PARTS = ("morning", "afternoon", "evening", "any")
# Local hours [start, end) of each part of the day.
PART_HOURS = {"morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}


def zone(name: str | None, default: str) -> ZoneInfo:
    """The named time zone, or ``default`` when the name is empty or unknown."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones
                continue
    return ZoneInfo("UTC")


def parse_zone(text: str) -> str | None:
    """A time zone a candidate typed ("Europe/London", "UTC"), or None if it is not one."""
    name = text.strip()
    if not name or len(name) > 64 or " " in name:
        return None
    if "/" not in name and name.upper() != "UTC":
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones
        return None
    return "UTC" if name.upper() == "UTC" else name


def part_of_day(local: dt.datetime) -> str:
    """morning, afternoon or evening for a local time (night counts as evening)."""
    for part, (start, end) in PART_HOURS.items():
        if start <= local.hour < end:
            return part
    return "evening"


def matches(start_utc: dt.datetime, tz: ZoneInfo, day_kind: str | None, part: str | None) -> bool:
    """Does a slot start fit the candidate's stated preference (read in their time zone)?"""
    local = start_utc.astimezone(tz)
    if day_kind == "weekday" and local.weekday() >= 5:
        return False
    if day_kind == "weekend" and local.weekday() < 5:
        return False
    return not (part in PART_HOURS and part_of_day(local) != part)


def weekday_name(lang: str, local: dt.datetime) -> str:
    names = t(lang, "schedule.weekdays").split(",")
    return names[local.weekday()].strip()


def slot_label(lang: str, start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> str:
    """A short button label: ``Tue 12-01 09:00``."""
    local = start.astimezone(tz)
    return f"{weekday_name(lang, local)} {local:%m-%d %H:%M}"


def slot_text(lang: str, start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> str:
    """A full description: ``Tue 2026-12-01 09:00-09:30 (Asia/Shanghai)``."""
    local_start = start.astimezone(tz)
    local_end = end.astimezone(tz)
    return f"{weekday_name(lang, local_start)} {local_start:%Y-%m-%d %H:%M}-{local_end:%H:%M} ({tz.key})"


def duration_text(lang: str, delta: dt.timedelta) -> str:
    """ "3 hours" / "45 minutes" in the catalogue's words, rounded to what matters."""
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes >= 120:
        return t(lang, "schedule.in_hours", n=round(minutes / 60))
    return t(lang, "schedule.in_minutes", n=minutes)
