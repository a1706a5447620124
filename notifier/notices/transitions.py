"""The per-trade state machine: what each signal does to a trade and what it sends.

Every trade event (and every batch event, per trade in the batch) becomes a *signal*.
One table maps (current trade status, signal) to the next status and the notice to
send, so the outcome depends on where the trade stands, not on the order events arrive
in or on whether they carry a ``sequence``. A pair missing from the table sends nothing
and says why (e.g. a provisional event arriving after the trade is already final).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from notifier.states import TradeStatus


class Signal(StrEnum):
    EXECUTED = "executed"  # trade.executed, or the first sign of life of a trade
    PROVISIONAL = "provisional"
    FINAL = "final"
    REVERTED = "reverted"  # trade reverted / failed, or its batch failed
    DELAYED = "delayed"
    CORRECTED = "corrected"
    CANCELLED = "cancelled"


class Send(StrEnum):
    EXECUTION = "execution_confirmation"
    CONFIRMATION = "confirmation"  # the L1 / L2 settlement-status confirmation
    REVERSAL = "reversal"
    REVOCATION = "finality_revoked"
    DELAY = "delay"
    CORRECTION = "correction"
    CANCELLATION = "cancellation"


@dataclass(frozen=True)
class Step:
    status: TradeStatus | None  # None: unchanged
    send: Send | None = None
    why_not: str | None = None  # when nothing is sent


_T = TradeStatus
_S = Signal
_NEW = None  # a trade no event has placed yet
_LIVE = (_NEW, _T.EXECUTED, _T.PROVISIONAL, _T.FINAL, _T.REVERTED, _T.REVOKED)
_PENDING = (_NEW, _T.EXECUTED, _T.PROVISIONAL)
_REVERSED = (_T.REVERTED, _T.REVOKED)

TRANSITIONS: dict[tuple[TradeStatus | None, Signal], Step] = {
    (_NEW, _S.EXECUTED): Step(_T.EXECUTED, Send.EXECUTION),
    **{(s, _S.PROVISIONAL): Step(_T.PROVISIONAL, Send.CONFIRMATION) for s in _PENDING},
    **{(s, _S.FINAL): Step(_T.FINAL, Send.CONFIRMATION) for s in (*_PENDING, _T.FINAL)},
    # After a reversal a trade may still settle, on Layer-1 (outcome fallback_l1).
    **{(s, _S.FINAL): Step(_T.FINAL, Send.CONFIRMATION) for s in _REVERSED},
    **{(s, _S.REVERTED): Step(_T.REVERTED, Send.REVERSAL) for s in _PENDING},
    # Finality already confirmed and then taken back is its own, louder notice.
    (_T.FINAL, _S.REVERTED): Step(_T.REVOKED, Send.REVOCATION),
    **{(s, _S.DELAYED): Step(None, Send.DELAY) for s in _PENDING},
    **{(s, _S.CORRECTED): Step(None, Send.CORRECTION) for s in _LIVE},
    **{(s, _S.CANCELLED): Step(_T.CANCELLED, Send.CANCELLATION) for s in _LIVE},
}

_WHY_NOT: dict[Signal, str] = {
    _S.EXECUTED: "the trade was confirmed already",
    _S.PROVISIONAL: "the trade is already {status}; a provisional notice would mislead",
    _S.FINAL: "the trade is {status}",
    _S.REVERTED: "the trade is already {status}",
    _S.DELAYED: "the trade is already {status}; a delay notice would mislead",
    _S.CORRECTED: "the trade is {status}",
    _S.CANCELLED: "the trade is {status}",
}


def step(status: str | None, signal: Signal) -> Step:
    """Return what ``signal`` does to a trade in ``status``."""
    current = TradeStatus(status) if status else None
    found = TRANSITIONS.get((current, signal))
    if found is not None:
        return found
    return Step(None, None, _WHY_NOT[signal].format(status=status or "unknown"))
