"""When a failed delivery is tried again, and when it is given up: the one retry policy.

The default schedule is the one webhook services users trust (Svix): at once, then after
5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h — about a day and a quarter in all, so an
outage of minutes or hours costs time, never a notice. A notice with a deadline (a
confirmation) is never given up before its deadline: past the end of the schedule it keeps
trying at the last interval, and the last wait is cut short so one attempt lands right at
the deadline. A receiver's ``Retry-After`` (429 / 503) replaces the scheduled wait.

The next attempt's time is kept in the database (``deliveries.next_attempt_at``); the
broker's countdown only wakes the worker, and the relay finds anything it lost.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

# Waits before retry 1, 2, … in seconds (the first attempt is immediate).
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    """The retry schedule, its jitter and the attempt budget of a delivery without deadline."""

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    max_attempts: int = len(DEFAULT_SCHEDULE) + 1
    # Each wait is scaled by a random factor in [1 - jitter, 1], so deliveries that failed
    # together (one receiver's outage) do not all come back in the same second.
    jitter: float = 0.2

    def delay(self, attempts_made: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``attempts_made`` attempts; the receiver's wish wins."""
        if retry_after is not None:
            # Honoured as asked, but a receiver cannot park a delivery for more than a day.
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        scheduled = self.schedule[min(max(attempts_made, 1), len(self.schedule)) - 1]
        return float(scheduled * (1 - self.jitter * random.random()))

    def exhausted(self, attempts_made: int, now: datetime, deadline: datetime | None) -> bool:
        """True when no attempt is left: the budget is spent and the deadline (if any) passed."""
        return self.spent(attempts_made, self.max_attempts, now, deadline)

    @staticmethod
    def spent(attempts_made: int, budget: int, now: datetime, deadline: datetime | None) -> bool:
        """Like :meth:`exhausted`, for a delivery with a budget of its own (a redelivery)."""
        return attempts_made >= budget and (deadline is None or now >= deadline)

    def next_attempt_at(
        self,
        attempts_made: int,
        now: datetime,
        deadline: datetime | None,
        retry_after: float | None = None,
    ) -> datetime:
        """When to try next; never past a deadline still ahead (one last try lands on it)."""
        due = now + timedelta(seconds=self.delay(attempts_made, retry_after))
        if deadline is not None and now < deadline < due:
            return deadline
        return due


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Read ``Retry-After`` (RFC 9110: delay-seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        return None
    return max((when - now).total_seconds(), 0.0)
