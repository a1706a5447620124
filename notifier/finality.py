"""Business-day arithmetic for finality: the T+N badge and confirmation deadlines."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo


class BusinessCalendar:
    """Weekdays minus a configured holiday list."""

    def __init__(self, holidays: Iterable[date] = ()) -> None:
        self.holidays = frozenset(holidays)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def next_business_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def business_days_between(self, start: datetime, end: datetime) -> Decimal:
        """Count business days from ``start`` to ``end``, fractional days included."""
        if end <= start:
            return Decimal(0)
        total = Decimal(0)
        cursor = start
        while cursor < end:
            midnight = datetime.combine(cursor.date() + timedelta(days=1), time(0), cursor.tzinfo)
            step_end = min(midnight, end)
            if self.is_business_day(cursor.date()):
                total += Decimal((step_end - cursor).total_seconds()) / Decimal(86400)
            cursor = step_end
        return total


def cycle_label(executed_at: datetime, final_at: datetime, calendar: BusinessCalendar) -> str:
    """Return ``T+N`` with N in business days rounded to the nearest 0.5."""
    days = calendar.business_days_between(executed_at, final_at)
    halves = (days * 2).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    n = halves / 2
    text = f"{n:.1f}".rstrip("0").rstrip(".") if n % 1 else str(int(n))
    return f"T+{text}"


def confirmation_deadline(
    regime: str,
    executed_at: datetime,
    settlement_date: date,
    calendar: BusinessCalendar,
    market_tz: str = "UTC",
) -> datetime:
    """Return when a confirmation must have reached the client.

    US (SEC 10b-10): by the end of the settlement date. EU (MiFID II Art. 59(4)): by the
    end of the first business day after execution. Both in the market's timezone.
    """
    zone = ZoneInfo(market_tz)
    if regime == "EU":
        day = calendar.next_business_day(executed_at.astimezone(zone).date())
    else:
        day = settlement_date
    return datetime.combine(day + timedelta(days=1), time(0), zone)
