"""Fixtures that start the real parts: SQLite and PostgreSQL, Redis, a Celery worker,
an aiosmtpd SMTP server and a threaded HTTP receiver that checks webhook signatures.

Everything listens on 127.0.0.1. ``NOTIFIER_TEST_DATABASES`` (default ``sqlite,postgresql``)
chooses the databases the ``db_url`` fixture is parametrized over.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from notifier.api.app import create_app
from notifier.config import Settings, load_settings
from notifier.runtime import Runtime
from tests.support.receivers import SmtpSink, WebhookReceiver
from tests.support.server import LiveServer
from tests.support.worker import WorkerProcess

PG_ADMIN_URL = os.environ.get(
    "NOTIFIER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("NOTIFIER_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
DATABASES = [
    d.strip() for d in os.environ.get("NOTIFIER_TEST_DATABASES", "sqlite,postgresql").split(",")
]

ADMIN_KEY = "ntf_test_admin_key_0123456789abcdefghijkl"
PRODUCER_KEY = "ntf_test_producer_key_0123456789abcdefghijkl"
SUPPORT_KEY = "ntf_test_support_key_0123456789abcdefghijkl"
# role:name:key; the names are what audit entries show as the actor.
API_KEYS = (
    f"admin:admin-key:{ADMIN_KEY},producer:producer-key:{PRODUCER_KEY},"
    f"support:support-key:{SUPPORT_KEY}"
)
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

DATA_DIR = Path(__file__).parent / "data"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ADMIN = auth(ADMIN_KEY)
PRODUCER = auth(PRODUCER_KEY)
SUPPORT = auth(SUPPORT_KEY)


@pytest.fixture(scope="session")
def postgres_schema_factory() -> Iterator[Any]:
    """Create throwaway PostgreSQL schemas; drop them all at the end."""
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        created.append(name)
        sep = "&" if "?" in PG_ADMIN_URL else "?"
        return f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{name}"

    yield make
    with engine.connect() as conn:
        for name in created:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    engine.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'notifier.sqlite'}"
    factory = request.getfixturevalue("postgres_schema_factory")
    url: str = factory()
    return url


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    yield client
    client.close()


def make_env(var_dir: Path, db_url: str, **extra: str) -> dict[str, str]:
    """The NOTIFIER_* environment a test process runs with."""
    env = {
        "NOTIFIER_VAR_DIR": str(var_dir),
        "NOTIFIER_DATABASE_URL": db_url,
        "NOTIFIER_API_KEYS": API_KEYS,
        "NOTIFIER_SECRET_KEY": "x6k4bYpD1mW2vYk0oQp3b8N5m9cL7a1sT0uV2wX3yZ4=",
        # Short waits keep retrying tests quick; the default schedule is tested on its own.
        "NOTIFIER_RETRY_SCHEDULE": "0.2,0.4,0.8,1",
        "NOTIFIER_DELIVERY_TIMEOUT_SECONDS": "3",
        "NOTIFIER_RELAY_INTERVAL_SECONDS": "1",
        "NOTIFIER_RELAY_GRACE_SECONDS": "1",
    }
    env.update(extra)
    return env


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    """Environment for an in-process app that does not enqueue (no broker needed)."""
    return make_env(tmp_path / "var", db_url, NOTIFIER_ENQUEUE="0")


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    yield app
    runtime.db.dispose()


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    rt: Runtime = app.extensions["notifier"]
    return rt


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def server(app: Flask) -> Iterator[LiveServer]:
    """The ``app`` served over real HTTP on 127.0.0.1 (threaded)."""
    live = LiveServer(app)
    live.start()
    yield live
    live.stop()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def live_extra() -> dict[str, str]:
    """Extra NOTIFIER_* settings for the live app and worker; override in a test module."""
    return {}


@pytest.fixture
def broker_url(redis_client: redis.Redis) -> str:
    """The Redis the live app and worker use; override to use a private server."""
    return REDIS_URL


@pytest.fixture
def live_env(
    tmp_path: Path, db_url: str, broker_url: str, live_extra: dict[str, str]
) -> dict[str, str]:
    """Environment for an app that enqueues on real Redis, for a real worker."""
    # A queue of its own, so test runs sharing this Redis never take each other's tasks.
    queue = f"notifier-test-{uuid.uuid4().hex[:10]}"
    return make_env(
        tmp_path / "var",
        db_url,
        NOTIFIER_BROKER_URL=broker_url,
        NOTIFIER_QUEUE=queue,
        **live_extra,
    )


@pytest.fixture
def live_app(live_env: dict[str, str]) -> Iterator[Flask]:
    app = create_app(load_settings(live_env))
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    yield app
    runtime.db.dispose()


@pytest.fixture
def worker(live_env: dict[str, str], live_app: Flask, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A real ``celery worker`` process on Redis, started after the schema exists."""
    process = WorkerProcess(live_env, tmp_path / "worker.log")
    process.start()
    yield process
    process.stop()


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """Read ``tests/data/<name>.json`` and apply top-level changes."""
    import json

    data: dict[str, Any] = json.loads((DATA_DIR / f"{name}.json").read_text())
    data.update(changes)
    return data
