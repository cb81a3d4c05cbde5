"""Calendar arithmetic the Labour Contract Law's periods need.

Two conventions meet here and the rules must not mix them up:

* A contract *term* is stated with an inclusive last day: 2026-01-05 to 2027-01-04 is
  exactly one year. A term "reaches" N months when its last day is on or after
  ``add_months(start, N) - 1 day``. The law's "以上" includes the bound and "不满"
  excludes it, so a term of exactly one year is "一年以上" and not "不满一年".
* A *deadline* counted from an event follows Civil Code Art. 201-202: the first day is
  not counted and the period ends on the corresponding day of the final month (the
  month's last day when there is none). One month after 2026-01-05 is 2026-02-05.
"""

from __future__ import annotations

import calendar
import datetime as dt

ONE_DAY = dt.timedelta(days=1)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months, clipped to the month's end."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def term_reaches(start: dt.date, end: dt.date, months: int) -> bool:
    """True when the inclusive term ``start``..``end`` lasts at least ``months`` months."""
    return end >= add_months(start, months) - ONE_DAY


def last_day_of_months(start: dt.date, months: int) -> dt.date:
    """Inclusive last day of a period of ``months`` months beginning on ``start``."""
    return add_months(start, months) - ONE_DAY


def deadline(event: dt.date, months: int) -> dt.date:
    """Last day of a period of ``months`` months counted from ``event`` (Civil Code 201-202)."""
    return add_months(event, months)
