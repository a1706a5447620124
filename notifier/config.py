"""Read every setting from the environment, in one place.

This is the only module that looks at ``os.environ``; everything else receives a
:class:`Settings`. Defaults are embedded: a SQLite file and a filesystem broker under
``var/``, so the service runs on a machine with nothing installed.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from limits import parse_many

from notifier.calendar import DEFAULT_VENUE, VENUES
from notifier.retry import DEFAULT_SCHEDULE

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A NOTIFIER_* variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told, with the embedded defaults."""

    var_dir: Path
    database_url: str
    broker_url: str
    secret_key: bytes
    queue_name: str = "notifier"
    # Bootstrap keys as (role, name, key); the name is what audit entries show.
    api_keys: tuple[tuple[str, str, str], ...] = ()
    max_body_bytes: int = 256 * 1024
    templates_dir: Path = PROJECT_ROOT / "templates"
    locales_dir: Path = PROJECT_ROOT / "locales"
    firm_name: str = "Notifier Securities LLC"
    email_from_name: str = ""  # the mail's From display name; empty: the firm's name
    support_url: str = ""
    support_channel_urls: tuple[str, ...] = ()
    support_locale: str = "en"
    support_timezone: str = "UTC"
    primer_explainer_url: str = "https://example.com/settlement/l1-vs-l2"
    primer_announcement_url: str = "https://example.com/exchange/notices/l2-clearing"
    public_base_url: str = "http://127.0.0.1:8000"
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    delivery_max_attempts: int = len(DEFAULT_SCHEDULE) + 1
    retry_jitter: float = 0.2
    delivery_timeout_seconds: float = 10.0
    relay_interval_seconds: float = 5.0
    relay_grace_seconds: float = 10.0
    # Longer than a send can last (the delivery timeout is a total deadline for signed
    # webhooks; Apprise services get it plus 5 s), so a live worker is never taken for dead.
    sending_lease_seconds: float = 30.0
    deadline_check_seconds: float = 60.0
    deadline_lead_seconds: float = 4 * 3600.0
    affirmation_check_seconds: float = 60.0
    affirmation_lead_seconds: float = 2 * 3600.0
    ack_token_ttl_seconds: float = 30 * 86400.0
    holidays: tuple[date, ...] = ()
    default_venue_mic: str = DEFAULT_VENUE
    # How far trade.gross_amount / net_amount may be from what quantity, price and charges
    # give, in the currency's minor units (1 = one cent in USD, one yen in JPY).
    amount_tolerance_minor_units: int = 1
    enqueue: bool = True
    # Trades per fan-out transaction of a batch event (issue 8): short locks (on SQLite the
    # one write lock), early sends.
    fanout_chunk_trades: int = 200
    # Refuse channel targets on loopback and private networks (delivery/targets.py).
    block_private_targets: bool = False
    # Operations: readiness, rate limits, logs.
    worker_heartbeat_seconds: float = 10.0
    ready_worker_within_seconds: float = 60.0
    ready_relay_within_seconds: float = 60.0
    rate_limits_enabled: bool = True
    rate_limit_per_key: str = "6000 per minute"
    rate_limit_per_ip: str = "12000 per minute"
    auth_failure_limit_per_ip: str = "30 per minute"
    rate_limit_storage_url: str = ""  # empty: the broker's Redis, or memory when embedded
    log_format: str = "text"
    # The support console's session cookie: Secure (HTTPS only) unless turned off for a
    # plain-HTTP development setup; how long a login lasts.
    console_cookie_secure: bool = True
    console_session_hours: float = 8.0

    @property
    def sender_name(self) -> str:
        """The display name in a mail's ``From``, unless the channel URL names one."""
        return self.email_from_name or self.firm_name

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    @property
    def limiter_storage_url(self) -> str:
        """Where rate-limit counters live: shared Redis when there is one, else this process."""
        if self.rate_limit_storage_url:
            return self.rate_limit_storage_url
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return "memory://"

    @property
    def broker_dir(self) -> Path:
        return self.var_dir / "broker"


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number") from exc


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer") from exc


MIN_API_KEY_LENGTH = 32


def _parse_api_keys(raw: str) -> tuple[tuple[str, str, str], ...]:
    """Parse ``role:name:key`` (or ``role:key``, named after the role) without echoing a key."""
    found: list[tuple[str, str, str]] = []
    for index, item in enumerate(part.strip() for part in raw.split(",")):
        if not item:
            continue
        role, sep, rest = item.partition(":")
        if not sep or not rest or role not in {"producer", "support", "admin"}:
            raise ConfigError(
                f"NOTIFIER_API_KEYS entry #{index + 1} must be role:name:key or role:key with "
                "role producer, support or admin"
            )
        name, sep, key = rest.partition(":")
        if not sep:
            name, key = role, rest
        if not name or not key:
            raise ConfigError(f"NOTIFIER_API_KEYS entry #{index + 1} has an empty name or key")
        if len(key) < MIN_API_KEY_LENGTH:
            # The message names the entry and the rule, never the key itself.
            raise ConfigError(
                f"NOTIFIER_API_KEYS entry #{index + 1} ({role}:{name}) has a key shorter than "
                f"{MIN_API_KEY_LENGTH} characters; generate one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'
            )
        found.append((role, name, key))
    names = [name for _role, name, _key in found]
    if len(set(names)) != len(names):
        raise ConfigError("NOTIFIER_API_KEYS names must be distinct")
    return tuple(found)


def _load_secret_key(env: Mapping[str, str], var_dir: Path) -> bytes:
    """Return the Fernet key; create one under var/ for the embedded set-up."""
    raw = env.get("NOTIFIER_SECRET_KEY")
    if raw:
        key = raw.encode()
    else:
        path = var_dir / "secret.key"
        if not path.exists():
            var_dir.mkdir(parents=True, exist_ok=True)
            fresh = base64.urlsafe_b64encode(secrets.token_bytes(32))
            # O_EXCL: two processes starting at once must agree on one key.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(fresh)
        key = path.read_bytes().strip()
    try:
        if len(base64.urlsafe_b64decode(key)) != 32:
            raise ValueError
    except ValueError as exc:
        raise ConfigError("NOTIFIER_SECRET_KEY must be 32 url-safe base64-encoded bytes") from exc
    return key


def _parse_holidays(raw: str) -> tuple[date, ...]:
    try:
        return tuple(sorted(date.fromisoformat(d.strip()) for d in raw.split(",") if d.strip()))
    except ValueError as exc:
        raise ConfigError("NOTIFIER_HOLIDAYS must be a comma-separated list of YYYY-MM-DD") from exc


def _parse_schedule(raw: str) -> tuple[float, ...]:
    """Read ``5,300,1800`` (seconds before retry 1, 2, …); empty means the default."""
    if not raw.strip():
        return DEFAULT_SCHEDULE
    try:
        schedule = tuple(float(part) for part in raw.split(","))
    except ValueError as exc:
        raise ConfigError(
            "NOTIFIER_RETRY_SCHEDULE must be comma-separated seconds, e.g. 5,300,1800"
        ) from exc
    if any(s < 0 for s in schedule):
        raise ConfigError("NOTIFIER_RETRY_SCHEDULE must not hold negative waits")
    return schedule


def _parse_jitter(raw: str) -> float:
    jitter = _env_float({"NOTIFIER_RETRY_JITTER": raw}, "NOTIFIER_RETRY_JITTER", 0.2)
    if not 0 <= jitter <= 1:
        raise ConfigError("NOTIFIER_RETRY_JITTER must be between 0 and 1")
    return jitter


def _venue(env: Mapping[str, str]) -> str:
    mic = env.get("NOTIFIER_DEFAULT_VENUE_MIC") or DEFAULT_VENUE
    if mic not in VENUES:
        raise ConfigError(f"NOTIFIER_DEFAULT_VENUE_MIC must be one of {', '.join(sorted(VENUES))}")
    return mic


def _ops_settings(env: Mapping[str, str]) -> dict[str, Any]:
    log_format = env.get("NOTIFIER_LOG_FORMAT") or Settings.log_format
    if log_format not in {"text", "json"}:
        raise ConfigError("NOTIFIER_LOG_FORMAT must be text or json")
    limits = {
        name: env.get(name) or default
        for name, default in (
            ("NOTIFIER_RATE_LIMIT_PER_KEY", Settings.rate_limit_per_key),
            ("NOTIFIER_RATE_LIMIT_PER_IP", Settings.rate_limit_per_ip),
            ("NOTIFIER_AUTH_FAILURE_LIMIT_PER_IP", Settings.auth_failure_limit_per_ip),
        )
    }
    for name, value in limits.items():
        try:
            parse_many(value)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a rate like '100 per minute'") from exc
    return {
        "worker_heartbeat_seconds": _env_float(env, "NOTIFIER_WORKER_HEARTBEAT_SECONDS", 10.0),
        "ready_worker_within_seconds": _env_float(
            env, "NOTIFIER_READY_WORKER_WITHIN_SECONDS", 60.0
        ),
        "ready_relay_within_seconds": _env_float(env, "NOTIFIER_READY_RELAY_WITHIN_SECONDS", 60.0),
        "rate_limits_enabled": env.get("NOTIFIER_RATE_LIMITS", "1") not in {"0", "false", "no"},
        "rate_limit_per_key": env.get("NOTIFIER_RATE_LIMIT_PER_KEY") or Settings.rate_limit_per_key,
        "rate_limit_per_ip": env.get("NOTIFIER_RATE_LIMIT_PER_IP") or Settings.rate_limit_per_ip,
        "auth_failure_limit_per_ip": env.get("NOTIFIER_AUTH_FAILURE_LIMIT_PER_IP")
        or Settings.auth_failure_limit_per_ip,
        "rate_limit_storage_url": env.get("NOTIFIER_RATE_LIMIT_STORAGE_URL", ""),
        "log_format": log_format,
    }


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    var_dir = Path(env.get("NOTIFIER_VAR_DIR") or PROJECT_ROOT / "var").resolve()
    database_url = env.get("NOTIFIER_DATABASE_URL") or f"sqlite:///{var_dir / 'notifier.sqlite'}"
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; the plain scheme would ask for psycopg2.
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    schedule = _parse_schedule(env.get("NOTIFIER_RETRY_SCHEDULE", ""))
    settings = Settings(
        var_dir=var_dir,
        database_url=database_url,
        broker_url=env.get("NOTIFIER_BROKER_URL") or "filesystem://",
        secret_key=_load_secret_key(env, var_dir),
        queue_name=env.get("NOTIFIER_QUEUE") or Settings.queue_name,
        # templates/ and locales/ sit beside the package; an install elsewhere names them.
        templates_dir=Path(env.get("NOTIFIER_TEMPLATES_DIR") or Settings.templates_dir),
        locales_dir=Path(env.get("NOTIFIER_LOCALES_DIR") or Settings.locales_dir),
        api_keys=_parse_api_keys(env.get("NOTIFIER_API_KEYS", "")),
        max_body_bytes=_env_int(env, "NOTIFIER_MAX_BODY_BYTES", 256 * 1024),
        firm_name=env.get("NOTIFIER_FIRM_NAME") or Settings.firm_name,
        email_from_name=env.get("NOTIFIER_EMAIL_FROM_NAME", "").strip(),
        support_url=env.get("NOTIFIER_SUPPORT_URL", ""),
        support_channel_urls=tuple(
            u.strip() for u in env.get("NOTIFIER_SUPPORT_CHANNELS", "").split() if u.strip()
        ),
        support_locale=env.get("NOTIFIER_SUPPORT_LOCALE") or Settings.support_locale,
        support_timezone=env.get("NOTIFIER_SUPPORT_TIMEZONE") or Settings.support_timezone,
        primer_explainer_url=env.get("NOTIFIER_PRIMER_EXPLAINER_URL")
        or Settings.primer_explainer_url,
        primer_announcement_url=env.get("NOTIFIER_PRIMER_ANNOUNCEMENT_URL")
        or Settings.primer_announcement_url,
        public_base_url=env.get("NOTIFIER_PUBLIC_BASE_URL") or Settings.public_base_url,
        retry_schedule=schedule,
        # One attempt per scheduled wait, plus the first: the schedule says it all.
        delivery_max_attempts=_env_int(env, "NOTIFIER_DELIVERY_MAX_ATTEMPTS", len(schedule) + 1),
        retry_jitter=_parse_jitter(env.get("NOTIFIER_RETRY_JITTER", "")),
        delivery_timeout_seconds=_env_float(env, "NOTIFIER_DELIVERY_TIMEOUT_SECONDS", 10.0),
        relay_interval_seconds=_env_float(env, "NOTIFIER_RELAY_INTERVAL_SECONDS", 5.0),
        relay_grace_seconds=_env_float(env, "NOTIFIER_RELAY_GRACE_SECONDS", 10.0),
        sending_lease_seconds=_env_float(env, "NOTIFIER_SENDING_LEASE_SECONDS", 30.0),
        deadline_check_seconds=_env_float(env, "NOTIFIER_DEADLINE_CHECK_SECONDS", 60.0),
        deadline_lead_seconds=_env_float(env, "NOTIFIER_DEADLINE_LEAD_SECONDS", 4 * 3600.0),
        affirmation_check_seconds=_env_float(env, "NOTIFIER_AFFIRMATION_CHECK_SECONDS", 60.0),
        affirmation_lead_seconds=_env_float(env, "NOTIFIER_AFFIRMATION_LEAD_SECONDS", 7200.0),
        ack_token_ttl_seconds=_env_float(env, "NOTIFIER_ACK_TOKEN_TTL_SECONDS", 30 * 86400.0),
        holidays=_parse_holidays(env.get("NOTIFIER_HOLIDAYS", "")),
        default_venue_mic=_venue(env),
        amount_tolerance_minor_units=_env_int(env, "NOTIFIER_AMOUNT_TOLERANCE_MINOR_UNITS", 1),
        enqueue=env.get("NOTIFIER_ENQUEUE", "1") not in {"0", "false", "no"},
        fanout_chunk_trades=max(1, _env_int(env, "NOTIFIER_FANOUT_CHUNK_TRADES", 200)),
        block_private_targets=env.get("NOTIFIER_BLOCK_PRIVATE_TARGETS", "0")
        in {"1", "true", "yes"},
        **_ops_settings(env),
        console_cookie_secure=env.get("NOTIFIER_CONSOLE_COOKIE_SECURE", "1")
        not in {"0", "false", "no"},
        console_session_hours=_env_float(env, "NOTIFIER_CONSOLE_SESSION_HOURS", 8.0),
    )
    if overrides:
        from dataclasses import replace

        settings = replace(settings, **overrides)  # type: ignore[arg-type]  # keys checked by dataclass
    return settings
