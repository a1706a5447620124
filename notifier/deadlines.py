"""Confirmation deadlines: escalate to support before one is missed."""

from __future__ import annotations

from notifier.runtime import Runtime


def escalate_at_risk(runtime: Runtime) -> list[int]:
    """Create escalation notices for confirmations near their deadline; return their ids."""
    return []
