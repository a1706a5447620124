"""Business-day arithmetic for finality: the T+N badge and confirmation deadlines.

Business days come from the venue's market calendar in the ``holidays`` package
(``holidays.financial_holidays(MIC)``), in the venue's timezone, plus the operator's extra
closed days (``NOTIFIER_HOLIDAYS``). The rule is written out in docs/events.md ("T+N").
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

# Venue MIC → (the ``holidays`` financial calendar, the venue's timezone). ``holidays``
# names calendars by MIC but knows no timezones, and the day of an instant depends on them.
VENUES: dict[str, tuple[str, str]] = {
    "XNYS": ("XNYS", "America/New_York"),
    "XNAS": ("XNAS", "America/New_York"),
    "XLON": ("XLON", "Europe/London"),
    "XETR": ("XETR", "Europe/Berlin"),
    "XFRA": ("XFRA", "Europe/Berlin"),
    "XECB": ("XECB", "Europe/Berlin"),  # TARGET (T2 / T2S) closing days: EUR settlement
    "XPAR": ("XPAR", "Europe/Paris"),
    "XAMS": ("XAMS", "Europe/Amsterdam"),
    "XBRU": ("XBRU", "Europe/Brussels"),
    "XLIS": ("XLIS", "Europe/Lisbon"),
    "XDUB": ("XDUB", "Europe/Dublin"),
    "XMIL": ("XMIL", "Europe/Rome"),
    "XMAD": ("XMAD", "Europe/Madrid"),
    "XOSL": ("XOSL", "Europe/Oslo"),
    "XSWX": ("XSWX", "Europe/Zurich"),
    "XTKS": ("XJPX", "Asia/Tokyo"),  # the Tokyo Stock Exchange trades on the JPX calendar
    "XJPX": ("XJPX", "Asia/Tokyo"),
    "XHKG": ("XHKG", "Asia/Hong_Kong"),
    "XASX": ("XASX", "Australia/Sydney"),
    "XTSE": ("XTSE", "America/Toronto"),
}
DEFAULT_VENUE = "XNYS"
MAX_LOOKAHEAD_DAYS = 366  # no market is closed for a year; stops a bad calendar looping


@dataclass(frozen=True)
class MarketCalendar:
    """One venue's business days, in its own timezone."""

    code: str  # the MIC whose calendar this is
    zone: ZoneInfo
    closed: holidays.HolidayBase
    extra: frozenset[date]

    def is_business_day(self, day: date) -> bool:
        if day.weekday() in self.closed.weekend:
            return False
        return day not in self.extra and day not in self.closed

    def on_or_after(self, day: date) -> date:
        """Return ``day`` if it is a business day, else the next one."""
        for _ in range(MAX_LOOKAHEAD_DAYS):
            if self.is_business_day(day):
                return day
            day += timedelta(days=1)
        raise ValueError(f"{self.code}: no business day within a year of {day}")

    def next_business_day(self, day: date) -> date:
        return self.on_or_after(day + timedelta(days=1))

    def business_days_after(self, start: date, end: date) -> int:
        """Count the business days ``d`` with ``start < d <= end`` (0 when end <= start)."""
        count, day = 0, start + timedelta(days=1)
        while day <= end:
            count += self.is_business_day(day)
            day += timedelta(days=1)
        return count

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def end_of(self, day: date) -> datetime:
        """Return the first instant after ``day`` in the venue's timezone."""
        return datetime.combine(day + timedelta(days=1), time(0), self.zone)


class MarketCalendars:
    """The calendar of every venue, built once per process and shared by threads."""

    def __init__(self, extra_holidays: Iterable[date] = (), default_venue: str = DEFAULT_VENUE):
        if default_venue not in VENUES:
            raise ValueError(f"no market calendar for venue {default_venue!r}")
        self.extra = frozenset(extra_holidays)
        self.default_venue = default_venue
        self._built: dict[str, MarketCalendar] = {}
        self._lock = threading.Lock()

    def for_venue(self, mic: str | None) -> MarketCalendar:
        """Return the venue's calendar; the default venue's for none or an unknown MIC."""
        code = mic if mic in VENUES else self.default_venue
        calendar = self._built.get(code)
        if calendar is None:
            with self._lock:
                calendar = self._built.get(code)
                if calendar is None:
                    name, zone = VENUES[code]
                    calendar = MarketCalendar(
                        code, ZoneInfo(zone), holidays.financial_holidays(name), self.extra
                    )
                    self._built[code] = calendar
        return calendar


def cycle_days(trade_date: date, final_at: datetime, calendar: MarketCalendar) -> int:
    """Return N of T+N: business days after the trade date up to the day finality fell on.

    The day of finality is ``final_at``'s date in the venue's timezone (whatever offset
    the producer wrote), moved to the next business day when the market was closed then.
    """
    finality_day = calendar.on_or_after(calendar.local_date(final_at))
    return calendar.business_days_after(trade_date, finality_day)


def cycle_label(trade_date: date, final_at: datetime, calendar: MarketCalendar) -> str:
    """Return the badge's ``T+N`` (whole business days; see :func:`cycle_days`)."""
    return f"T+{cycle_days(trade_date, final_at, calendar)}"


def confirmation_deadline(
    regime: str, executed_at: datetime, settlement_date: date, calendar: MarketCalendar
) -> datetime:
    """Return when a confirmation must have reached the client.

    US (SEC 10b-10): by the end of the settlement date. EU (MiFID II Art. 59(4)): by the
    end of the first business day after execution. Both in the venue's calendar and zone.
    """
    if regime == "EU":
        day = calendar.next_business_day(calendar.local_date(executed_at))
    else:
        day = settlement_date
    return calendar.end_of(day)
