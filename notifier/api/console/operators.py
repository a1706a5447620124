"""Who is at the console: the one place a console key is checked.

The console calls :func:`identify` and nothing else of the key machinery, so when keys
get names the switch is this function alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.api.auth import _role_for

# The roles that may use the console; a producer key only sends events.
CONSOLE_ROLES = frozenset({"support", "admin"})


@dataclass(frozen=True)
class Operator:
    name: str  # how the audit trail names them
    role: str


def identify(key: str) -> Operator | None:
    """Return the operator a support or admin key belongs to; None for any other key."""
    role = _role_for(key.strip()) if key.strip() else None
    if role not in CONSOLE_ROLES:
        return None
    # Keys have no names yet: the audit says which role's key, as the API does.
    return Operator(name=f"{role}-key", role=role)
