"""API keys with names: who is calling, in which role, and whether the key still counts.

The one check every entrance uses (the JSON API, the console): :func:`authenticate`.
Bootstrap keys come from ``NOTIFIER_API_KEYS``; the rest live hashed in ``api_keys``.
A revoked key is refused on the next request in every process because the table is read
per request (one indexed lookup by hash), not cached.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from notifier.models import ApiKey
from notifier.runtime import Runtime
from notifier.secrets import hash_api_key, new_api_key

ROLES = ("producer", "support", "admin")
MIN_KEY_LENGTH = 32
PREFIX_LENGTH = 8


@dataclass(frozen=True)
class KeyIdentity:
    """Who a valid key belongs to: ``name`` goes into audit entries, ``role`` decides access."""

    name: str
    role: str

    def allows(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


@dataclass(frozen=True)
class KeyRecord:
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    source: str  # "bootstrap" (environment) or "database"


class KeyError_(ValueError):  # KeyError is a builtin with another meaning
    """A key operation the CLI refuses (unknown name, name taken, bootstrap key)."""


def key_prefix(key: str) -> str:
    """The first characters of a key: enough to tell keys apart in logs, too few to use."""
    return key[:PREFIX_LENGTH]


def authenticate(runtime: Runtime, key: str) -> KeyIdentity | None:
    """Return who ``key`` belongs to, or None when it is unknown or revoked."""
    if not key:
        return None
    return authenticate_digest(runtime, hash_api_key(key))


def authenticate_digest(runtime: Runtime, digest: str) -> KeyIdentity | None:
    """Return who the key with this hash belongs to (a console session keeps the hash, not
    the key, and is checked on every page, so a revoked or rotated key ends it at once)."""
    for role, name, bootstrap_key in runtime.settings.api_keys:
        if hmac.compare_digest(hash_api_key(bootstrap_key), digest):
            return KeyIdentity(name=name, role=role)
    with runtime.db.session() as session:
        row = session.execute(
            select(ApiKey.name, ApiKey.role).where(
                ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)
            )
        ).first()
    return KeyIdentity(name=row.name, role=row.role) if row else None


def create_key(runtime: Runtime, name: str, role: str) -> str:
    """Store a new key under ``name`` and return it (the only time it is seen)."""
    if role not in ROLES:
        raise KeyError_(f"role must be one of {', '.join(ROLES)}")
    if any(n == name for _r, n, _k in runtime.settings.api_keys):
        raise KeyError_(f"{name!r} is a bootstrap key name (NOTIFIER_API_KEYS)")
    key = new_api_key()
    with runtime.db.session() as session:
        taken = session.scalar(
            select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
        )
        if taken is not None:
            raise KeyError_(f"an active key is already named {name!r}")
        session.add(
            ApiKey(name=name, role=role, key_hash=hash_api_key(key), key_prefix=key_prefix(key))
        )
    return key


def revoke_key(runtime: Runtime, name: str) -> str:
    """Revoke the active key called ``name``; return its role."""
    with runtime.db.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
        if row is None:
            raise _not_found(runtime, name)
        row.revoked_at = runtime.clock()
        return row.role


def rotate_key(runtime: Runtime, name: str) -> str:
    """Revoke the key called ``name`` and issue a new one with the same name and role."""
    with runtime.db.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
        if row is None:
            raise _not_found(runtime, name)
        key = new_api_key()
        row.revoked_at = runtime.clock()
        session.flush()
        session.add(
            ApiKey(name=name, role=row.role, key_hash=hash_api_key(key), key_prefix=key_prefix(key))
        )
    return key


def list_keys(runtime: Runtime, include_revoked: bool = False) -> list[KeyRecord]:
    """Every key by name and role (bootstrap ones first); never the key itself."""
    records = [
        KeyRecord(name, role, key_prefix(key), runtime.clock(), None, "bootstrap")
        for role, name, key in runtime.settings.api_keys
    ]
    with runtime.db.session() as session:
        query = select(ApiKey).order_by(ApiKey.name, ApiKey.id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        records.extend(
            KeyRecord(r.name, r.role, r.key_prefix or "", r.created_at, r.revoked_at, "database")
            for r in session.scalars(query)
        )
    return records


def _not_found(runtime: Runtime, name: str) -> KeyError_:
    if any(n == name for _r, n, _k in runtime.settings.api_keys):
        return KeyError_(
            f"{name!r} is a bootstrap key: remove it from NOTIFIER_API_KEYS and restart"
        )
    return KeyError_(f"no active key named {name!r}")
