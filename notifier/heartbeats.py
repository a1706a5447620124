"""Heartbeats: the worker and beat's relay say when they last ran, /readyz reads it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from notifier.db import Database
from notifier.models import Heartbeat

WORKER = "worker"
RELAY = "relay"


def beat(db: Database, name: str, now: datetime) -> None:
    """Record that ``name`` is alive at ``now`` (one row per name, overwritten)."""
    try:
        with db.session() as session:
            row = session.get(Heartbeat, name)
            if row is None:
                session.add(Heartbeat(name=name, seen_at=now))
            else:
                row.seen_at = now
    except IntegrityError:
        # Another process inserted the first row at the same moment: it is alive too.
        pass


def last_seen(db: Database) -> dict[str, datetime]:
    with db.session() as session:
        return {row.name: row.seen_at for row in session.scalars(select(Heartbeat))}
