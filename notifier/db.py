"""Engine and sessions: SQLite (WAL) by default, PostgreSQL in production."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# SQLite lets one writer in at a time. A writer that finds the database locked waits in
# SQLite's busy handler, which sleeps 1, 2, 5, 10 … 100 ms between looks: measured under
# the benchmark load (issue 8), web threads and workers spent 70-90 % of their time asleep
# there while the lock was free most of that time. So writers queue on an advisory file
# lock first (``flock`` on ``<database>.writelock``): the kernel wakes the next one the
# moment the holder commits, and releases the lock of a process that dies. BEGIN
# IMMEDIATE and busy_timeout stay, for anything that opens the file without this lock.
_held = threading.local()


# NOTIFIER_LOCK_STATS=<dir>: each process appends, per write transaction, how long it
# held the queue (wall and the thread's CPU, ms) and which notifier code opened it;
# bench/lock_hold.py sums the files. A measuring aid (issue 8), off by default.
_HOLD_STATS_DIR = os.environ.get("NOTIFIER_LOCK_STATS", "")


class _HoldTimer:
    def __init__(self) -> None:
        frames = traceback.extract_stack(limit=60)
        self.opened_by = " < ".join(
            f"{f.name}:{f.lineno}"
            for f in reversed(frames)
            if "/notifier/" in f.filename and not f.filename.endswith("/db.py")
        )[:200]
        self.wall, self.cpu = time.perf_counter(), time.thread_time()

    def record(self) -> None:
        wall = (time.perf_counter() - self.wall) * 1000
        cpu = (time.thread_time() - self.cpu) * 1000
        path = Path(_HOLD_STATS_DIR) / f"hold.{os.getpid()}"
        with path.open("a") as out:
            out.write(f"{wall:.3f}\t{cpu:.3f}\t{self.opened_by}\n")


class _QueuedWriterConnection(sqlite3.Connection):
    """A pysqlite connection that holds the write queue from BEGIN to COMMIT/ROLLBACK."""

    lock_path: str | None = None
    _lock_fd: int | None = None
    _hold: _HoldTimer | None = None

    def begin_immediate(self) -> None:
        self._acquire()
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _acquire(self) -> None:
        if self.lock_path is None or self._lock_fd is not None:
            return
        if getattr(_held, "count", 0):
            # This thread already holds the queue through another connection: waiting
            # here would wait on itself. Fall back to SQLite's busy handler (which fails
            # after busy_timeout, as nested write transactions always did).
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        _held.count = getattr(_held, "count", 0) + 1
        if _HOLD_STATS_DIR:
            self._hold = _HoldTimer()

    def _release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        _held.count = max(0, getattr(_held, "count", 1) - 1)
        if _HOLD_STATS_DIR and self._hold is not None:
            self._hold.record()
            self._hold = None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _begin_immediate(conn: Any) -> None:
    conn.connection.dbapi_connection.begin_immediate()


def _sqlite_path(url: str) -> str | None:
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return None if not path or path == ":memory:" or url.endswith("://") else path


def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own implicit BEGIN is off; the "begin" listener issues ours.
    dbapi_connection.isolation_level = None


def _sqlite_engine(url: str, begin: Any, **options: Any) -> Engine:
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "connect", _autocommit_driver)
    event.listen(engine, "begin", begin)
    return engine


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        lock_path = path + ".writelock" if path else None
        factory = type("QueuedWriter", (_QueuedWriterConnection,), {"lock_path": lock_path})
        # Take the write lock at BEGIN (IMMEDIATE) so two writers queue instead of
        # failing on lock upgrade.
        return _sqlite_engine(
            url,
            _begin_immediate,
            connect_args={"timeout": 30, "factory": factory},
            pool_size=10,
            max_overflow=20,
        )
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _make_read_engine(url: str) -> Engine:
    """SQLite connections for reading only: a deferred BEGIN, no place in the write queue.

    In WAL mode a reader sees the last committed state and neither waits for the writer
    nor makes it wait, so work that only reads (preparing a render) stays out of the one
    write lock every transaction of every process shares.
    """
    return _sqlite_engine(
        url,
        lambda conn: conn.exec_driver_sql("BEGIN"),
        connect_args={"timeout": 30},
        pool_size=5,
        max_overflow=10,
    )


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_engine = (
            _make_read_engine(url) if url.startswith("sqlite") and _sqlite_path(url) else None
        )
        self._read_sessions = (
            sessionmaker(self.read_engine, expire_on_commit=False)
            if self.read_engine is not None
            else self.sessions
        )

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session that only reads: it never takes SQLite's write lock; always rolled back."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session that commits on success and rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection_url"] = self.url
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()
