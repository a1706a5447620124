"""SQLite writers queue on a file lock (issue 8): released on commit, rollback and death."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from sqlalchemy import text

from notifier.db import Database


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/q.db")
    with database.session() as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    yield database
    database.dispose()


def _count(db: Database) -> int:
    with db.session() as session:
        return session.execute(text("SELECT count(*) FROM t")).scalar_one()


def test_writers_from_many_threads_all_land(db):
    def write(k: int) -> None:
        for i in range(25):
            with db.session() as session:
                session.execute(text("INSERT INTO t VALUES (:n)"), {"n": k * 100 + i})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert _count(db) == 200


def test_a_rolled_back_transaction_lets_the_next_writer_in(db):
    with pytest.raises(RuntimeError), db.session() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("boom")
    done = threading.Event()

    def other() -> None:
        with db.session() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
        done.set()

    threading.Thread(target=other, daemon=True).start()
    assert done.wait(10), "the queue was not released by the rollback"
    assert _count(db) == 1


def _hold_and_die(url: str, ready) -> None:  # runs in a child process
    database = Database(url)
    session = database.sessions()
    session.execute(text("INSERT INTO t VALUES (99)"))  # BEGIN IMMEDIATE: holds the queue
    ready.set()
    threading.Event().wait(60)  # killed before this ends


def test_a_writer_killed_mid_transaction_does_not_block_the_others(db, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_hold_and_die, args=(db.url, ready))
    child.start()
    try:
        assert ready.wait(30)
        child.kill()
        child.join(10)
        with db.session() as session:  # would wait forever if the dead holder kept the lock
            session.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        if child.is_alive():
            child.kill()
    assert _count(db) == 1  # the dead writer's row was never committed


def test_a_nested_write_session_in_one_thread_does_not_wait_on_itself(db):
    # Nested write transactions are not used by the service; if one appears, it must
    # fail on SQLite's busy timeout (as before the queue), not hang on its own lock.
    inner = Database(db.url)
    try:
        with db.session() as outer:
            outer.execute(text("INSERT INTO t VALUES (1)"))
            with inner.engine.connect() as conn:
                conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=200")
                with pytest.raises(Exception, match="locked"):
                    conn.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        inner.dispose()
    assert _count(db) == 1
