"""Readiness checks for /readyz: each says ok, degraded (works, but look) or failing.

Other parts register their own with :func:`register` (e.g. "support channels configured").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import text

from notifier import heartbeats
from notifier.runtime import Runtime

OK, DEGRADED, FAILING = "ok", "degraded", "failing"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def failing(self) -> list[str]:
        return [c.name for c in self.checks if c.status == FAILING]

    def as_json(self) -> dict[str, Any]:
        worst = FAILING if self.failing else DEGRADED if self._degraded else OK
        return {
            "status": worst,
            "failing": self.failing,
            "checks": {c.name: {"status": c.status, "detail": c.detail} for c in self.checks},
        }

    @property
    def _degraded(self) -> bool:
        return any(c.status == DEGRADED for c in self.checks)


CheckFn = Callable[[Runtime], Check]
_EXTRA: list[CheckFn] = []


def register(check: CheckFn) -> CheckFn:
    """Add a readiness check (usable as a decorator); it runs after the built-in ones."""
    if check not in _EXTRA:
        _EXTRA.append(check)
    return check


def check_all(runtime: Runtime) -> Report:
    report = Report()
    for check in (_database, _broker, _worker, _relay, *_EXTRA):
        try:
            report.checks.append(check(runtime))
        except Exception as exc:  # a check that breaks fails itself, never the endpoint
            report.checks.append(Check(check.__name__.lstrip("_"), FAILING, type(exc).__name__))
    return report


def _database(runtime: Runtime) -> Check:
    try:
        with runtime.db.session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        return Check("database", FAILING, f"unreachable ({type(exc).__name__})")
    return Check("database", OK)


def _broker(runtime: Runtime) -> Check:
    settings = runtime.settings
    if settings.embedded_broker:
        ok = settings.broker_dir.is_dir()
        return Check("broker", OK if ok else FAILING, "" if ok else "broker folder missing")
    client = redis.Redis.from_url(settings.broker_url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        # The URL may hold a password: name the error type only.
        return Check("broker", FAILING, f"unreachable ({type(exc).__name__})")
    finally:
        client.close()
    return Check("broker", OK)


def _heartbeat(runtime: Runtime, name: str, within: float) -> Check:
    seen = heartbeats.last_seen(runtime.db).get(name)
    if seen is None:
        return Check(name, FAILING, "never seen")
    age = (runtime.clock() - seen).total_seconds()
    if age > within:
        return Check(name, FAILING, f"last seen {age:.0f} s ago (limit {within:.0f} s)")
    return Check(name, OK, f"last seen {max(age, 0):.0f} s ago")


def _worker(runtime: Runtime) -> Check:
    return _heartbeat(runtime, heartbeats.WORKER, runtime.settings.ready_worker_within_seconds)


def _relay(runtime: Runtime) -> Check:
    return _heartbeat(runtime, heartbeats.RELAY, runtime.settings.ready_relay_within_seconds)


@register
def support_channels(runtime: Runtime) -> Check:
    """Escalations need somewhere to go: without support channels they fail silently."""
    if runtime.settings.support_channel_urls:
        return Check("support_channels", OK)
    return Check("support_channels", DEGRADED, "NOTIFIER_SUPPORT_CHANNELS is not set")
