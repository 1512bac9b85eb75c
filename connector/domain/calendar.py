"""Business days and the touch points of PRODUCT.md §6.

Touch points are counted in *calendar* days from the episode's start date and moved forward
(never back) to the next business day of the installation's country and region, using the
`holidays` package. Dates are calendar dates in the installation's time zone; only task due
times become instants (the working hour in that zone, as UTC), so DST changes are handled by
`zoneinfo` when the local time is turned into UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

TOUCH_POINT_DAYS: tuple[int, ...] = (0, 3, 7, 14)
PRE_DUE_DAYS = 5
PRE_DUE = "pre_due"
_WEEKEND = frozenset({5, 6})  # Saturday, Sunday: used when the package names no weekend
_MAX_SKIP = 60  # no real calendar has two months without a business day; guards a bad table


class CalendarError(ValueError):
    """The country or region is not one the holidays package knows."""


@dataclass(frozen=True)
class BusinessCalendar:
    """Where an installation works: country (ISO 3166 alpha-2), optional region, time zone."""

    country: str
    region: str | None = None  # holidays "subdiv", e.g. "CA", "ENG", "BY"
    timezone: str = "UTC"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, now: datetime) -> date:
        """The installation's calendar date at instant `now`."""
        return now.astimezone(self.tz).date()


@dataclass(frozen=True)
class TouchPoint:
    """One touch point: its name ("day_0", "day_3", …) and the business day it runs on."""

    name: str
    offset: int  # calendar days from the episode start (the earliest offset for merged ones)
    on: date


@lru_cache(maxsize=256)
def _holidays(country: str, region: str | None, year: int) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country, subdiv=region, years=year)
    except NotImplementedError as exc:
        where = f"{country}/{region}" if region else country
        raise CalendarError(f"no holiday calendar for {where}") from exc


def check_calendar(country: str, region: str | None = None) -> None:
    """Raise CalendarError when the holidays package has no calendar for country/region."""
    _holidays(country, region, 2026)


def is_business_day(day: date, country: str, region: str | None = None) -> bool:
    """A weekday of the country's working week that is not a public holiday there."""
    table = _holidays(country, region, day.year)
    weekend = getattr(table, "weekend", None) or _WEEKEND
    return day.weekday() not in weekend and day not in table


def on_or_after(day: date, country: str, region: str | None = None) -> date:
    """`day` itself when it is a business day, else the next business day (never earlier)."""
    for skip in range(_MAX_SKIP):
        candidate = day + timedelta(days=skip)
        if is_business_day(candidate, country, region):
            return candidate
    raise CalendarError(f"no business day within {_MAX_SKIP} days of {day} in {country}")


def next_business_day(after: date, country: str, region: str | None = None) -> date:
    """The first business day strictly after `after`."""
    return on_or_after(after + timedelta(days=1), country, region)


def touch_points(start: date, cal: BusinessCalendar,
                 days: tuple[int, ...] = TOUCH_POINT_DAYS) -> tuple[TouchPoint, ...]:
    """The episode's touch points; two that land on the same business day become one (the first)."""
    seen: dict[date, TouchPoint] = {}
    for offset in sorted(set(days)):
        on = on_or_after(start + timedelta(days=offset), cal.country, cal.region)
        seen.setdefault(on, TouchPoint(f"day_{offset}", offset, on))
    return tuple(seen.values())


def due_touch_point(start: date, today: date, cal: BusinessCalendar,
                    days: tuple[int, ...] = TOUCH_POINT_DAYS) -> TouchPoint | None:
    """The latest touch point whose business day has come (None before the first).

    A tick that missed a day runs the latest due touch point once, not each one it missed:
    the actions of a touch point depend on the state *now*, so running the older ones adds nothing.
    """
    due = [tp for tp in touch_points(start, cal, days) if tp.on <= today]
    return due[-1] if due else None


def pre_due_day(due_date: date, cal: BusinessCalendar, days_before: int = PRE_DUE_DAYS) -> date:
    """When to send the pre-due reminder of a send_invoice invoice.

    `days_before` calendar days before the due date, moved forward to a business day like every
    touch point, but never onto or past the due date itself (then it is the last business day
    before it, or the due date minus `days_before` when none is left).
    """
    wanted = due_date - timedelta(days=days_before)
    moved = on_or_after(wanted, cal.country, cal.region)
    if moved < due_date:
        return moved
    back = due_date - timedelta(days=1)
    while back > wanted and not is_business_day(back, cal.country, cal.region):
        back -= timedelta(days=1)
    return back


def task_due_at(today: date, cal: BusinessCalendar, working_hour: int) -> datetime:
    """Next business day after `today` at the working hour in the installation's zone, in UTC."""
    day = next_business_day(today, cal.country, cal.region)
    return local_time_to_utc(day, time(working_hour), cal.tz)


def local_time_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A wall-clock time in `tz` as a UTC instant.

    In a spring-forward gap the time does not exist; zoneinfo (fold=0) reads it with the offset
    before the change, which lands the same distance *after* the gap — forward, like every move here.
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
