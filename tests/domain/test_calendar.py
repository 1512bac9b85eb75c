"""Business days and touch points (PRODUCT.md §6): holidays, weekends, year ends, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from connector.domain.calendar import (
    BusinessCalendar,
    CalendarError,
    due_touch_point,
    local_time_to_utc,
    next_business_day,
    pre_due_day,
    task_due_at,
    touch_points,
)

US = BusinessCalendar("US", None, "America/New_York")
UK = BusinessCalendar("GB", "ENG", "Europe/London")
DE = BusinessCalendar("DE", None, "Europe/Berlin")
BY = BusinessCalendar("DE", "BY", "Europe/Berlin")


@pytest.mark.parametrize(("after", "country", "region", "expected"), [
    (date(2026, 12, 3), "US", None, date(2026, 12, 4)),  # Thursday -> Friday
    (date(2026, 12, 4), "US", None, date(2026, 12, 7)),  # Friday -> Monday
    (date(2026, 11, 25), "US", None, date(2026, 11, 27)),  # Thanksgiving skipped
    (date(2026, 12, 31), "US", None, date(2027, 1, 4)),  # New Year (Friday) + weekend
    (date(2026, 12, 24), "GB", "ENG", date(2026, 12, 29)),  # Christmas, Boxing Day substitute Monday
    (date(2026, 12, 31), "DE", None, date(2027, 1, 4)),
    (date(2027, 1, 5), "DE", None, date(2027, 1, 6)),  # Epiphany is no holiday nationally
    (date(2027, 1, 5), "DE", "BY", date(2027, 1, 7)),  # …but it is in Bavaria
    (date(2026, 12, 3), "IL", None, date(2026, 12, 6)),  # Friday-Saturday weekend: Thu -> Sun
], ids=["weekday", "friday", "thanksgiving", "us-new-year", "uk-christmas", "de-new-year",
        "de-epiphany-national", "de-epiphany-bavaria", "il-weekend"])
def test_next_business_day(after, country, region, expected):
    assert next_business_day(after, country, region) == expected


def test_unknown_country_or_region_is_refused():
    with pytest.raises(CalendarError, match="XX"):
        next_business_day(date(2026, 12, 3), "XX")
    with pytest.raises(CalendarError, match="GB/ZZZ"):
        next_business_day(date(2026, 12, 3), "GB", "ZZZ")


def _points(start, cal, days=(0, 3, 7, 14)):
    return [(tp.name, tp.on) for tp in touch_points(start, cal, days)]


@pytest.mark.parametrize(("start", "cal", "expected"), [
    # A Friday start: +3 is a Monday, +7 and +14 Fridays.
    (date(2026, 12, 4), US, [("day_0", date(2026, 12, 4)), ("day_3", date(2026, 12, 7)),
                             ("day_7", date(2026, 12, 11)), ("day_14", date(2026, 12, 18))]),
    # A Saturday start: day 0 moves forward to Monday, never back to Friday.
    (date(2026, 12, 5), US, [("day_0", date(2026, 12, 7)), ("day_3", date(2026, 12, 8)),
                             ("day_7", date(2026, 12, 14)), ("day_14", date(2026, 12, 21))]),
    # Christmas Day start in England: day 0 and day 3 land on the same business day: run once.
    (date(2026, 12, 25), UK, [("day_0", date(2026, 12, 29)), ("day_7", date(2027, 1, 4)),
                              ("day_14", date(2027, 1, 8))]),
    # Across the year end in Germany.
    (date(2026, 12, 28), DE, [("day_0", date(2026, 12, 28)), ("day_3", date(2026, 12, 31)),
                              ("day_7", date(2027, 1, 4)), ("day_14", date(2027, 1, 11))]),
], ids=["friday-start", "saturday-start", "uk-christmas-merge", "de-year-end"])
def test_touch_points(start, cal, expected):
    assert _points(start, cal) == expected


def test_touch_points_on_the_same_day_keep_the_first():
    # Saturday start with days (0, 1): both move to Monday.
    assert _points(date(2026, 12, 5), US, (0, 1, 3)) == [
        ("day_0", date(2026, 12, 7)), ("day_3", date(2026, 12, 8))]


@pytest.mark.parametrize(("today", "expected"), [
    (date(2026, 12, 4), None),  # Friday: the Saturday start's day 0 has not come
    (date(2026, 12, 6), None),
    (date(2026, 12, 7), "day_0"),
    (date(2026, 12, 8), "day_3"),
    (date(2026, 12, 13), "day_3"),  # until day 7's business day, day 3 is the latest due
    (date(2026, 12, 14), "day_7"),
    (date(2027, 2, 1), "day_14"),  # a long-missed tick runs only the latest one
])
def test_due_touch_point(today, expected):
    point = due_touch_point(date(2026, 12, 5), today, US)
    assert (point.name if point else None) == expected


@pytest.mark.parametrize(("today", "cal", "expected_utc"), [
    (date(2026, 12, 4), US, datetime(2026, 12, 7, 14, 0, tzinfo=UTC)),  # Friday -> Mon 09:00 EST
    # US DST starts Sunday 14 March 2027: Friday's task is due Monday 09:00 EDT = 13:00 UTC.
    (date(2027, 3, 12), US, datetime(2027, 3, 15, 13, 0, tzinfo=UTC)),
    # UK clocks go back Sunday 25 October 2026.
    (date(2026, 10, 22), UK, datetime(2026, 10, 23, 8, 0, tzinfo=UTC)),  # Fri 09:00 BST
    (date(2026, 10, 23), UK, datetime(2026, 10, 26, 9, 0, tzinfo=UTC)),  # Mon 09:00 GMT
    (date(2026, 12, 31), BY, datetime(2027, 1, 4, 8, 0, tzinfo=UTC)),  # New Year, CET
], ids=["us-friday", "us-dst-start", "uk-bst", "uk-dst-end", "de-new-year"])
def test_task_due_at(today, cal, expected_utc):
    assert task_due_at(today, cal, 9) == expected_utc


def test_wall_time_in_a_spring_forward_gap_moves_forward():
    at = local_time_to_utc(date(2027, 3, 14), time(2, 30), ZoneInfo("America/New_York"))
    assert at == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)  # 03:30 EDT


def test_today_is_the_installations_calendar_day():
    late_evening_utc = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)  # still Thursday in New York
    assert US.today(late_evening_utc) == date(2026, 12, 3)
    assert UK.today(late_evening_utc) == date(2026, 12, 4)


@pytest.mark.parametrize(("due", "days", "cal", "expected"), [
    (date(2026, 12, 14), 5, US, date(2026, 12, 9)),  # Wednesday, a business day
    (date(2026, 12, 10), 5, US, date(2026, 12, 7)),  # Saturday -> Monday
    (date(2026, 12, 30), 5, UK, date(2026, 12, 29)),  # Christmas Day -> after the holidays
    (date(2026, 12, 7), 1, US, date(2026, 12, 6)),  # forward would reach the due date: stays before
    (date(2026, 12, 8), 3, US, date(2026, 12, 7)),  # Sat -> Mon is still before Tuesday's due date
], ids=["weekday", "weekend", "uk-christmas", "never-on-due-date", "weekend-before-due"])
def test_pre_due_day(due, days, cal, expected):
    assert pre_due_day(due, cal, days) == expected
