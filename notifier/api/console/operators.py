"""Who is at the console: the one place a console key is checked.

The console calls :func:`identify` at login and :func:`still_valid` on every page, and
nothing else of the key machinery (``notifier/keys.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.keys import authenticate_digest
from notifier.runtime import Runtime
from notifier.secrets import hash_api_key

# The roles that may use the console; a producer key only sends events.
CONSOLE_ROLES = frozenset({"support", "admin"})


@dataclass(frozen=True)
class Operator:
    name: str  # how the audit trail names them: the key's name
    role: str
    key_digest: str  # the key's hash, kept in the session to re-check it on every page


def identify(runtime: Runtime, key: str) -> Operator | None:
    """Return the operator a support or admin key belongs to; None for any other key."""
    key = key.strip()
    return still_valid(runtime, hash_api_key(key)) if key else None


def still_valid(runtime: Runtime, digest: str) -> Operator | None:
    """The operator whose key has this hash, if the key is still a support or admin key."""
    identity = authenticate_digest(runtime, digest)
    if identity is None or identity.role not in CONSOLE_ROLES:
        return None
    return Operator(name=identity.name, role=identity.role, key_digest=digest)
