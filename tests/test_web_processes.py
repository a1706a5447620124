"""`notifier web`: several waitress processes on one socket; a dead one is replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import make_env
from tests.support.receivers import free_port


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


def _wait(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_two_web_processes_serve_one_port_and_a_dead_one_is_replaced(
    tmp_path: Path, db_url: str
) -> None:
    port = free_port()
    env = dict(
        os.environ,
        **make_env(tmp_path / "var", db_url, NOTIFIER_ENQUEUE="0"),
        NOTIFIER_BIND=f"127.0.0.1:{port}",
        WEB_PROCESSES="2",
        WEB_THREADS="2",
    )
    cli = [sys.executable, "-m", "notifier.tools.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    parent = subprocess.Popen([*cli, "web"], env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait(lambda: len(_children(parent.pid)) == 2 and _healthy(base))
        first = _children(parent.pid)
        assert all(_healthy(base) for _ in range(20))

        os.kill(first[0], signal.SIGKILL)  # a crash
        assert _wait(
            lambda: len(_children(parent.pid)) == 2 and first[0] not in _children(parent.pid)
        )
        assert all(_healthy(base) for _ in range(20))

        survivors = _children(parent.pid)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(15) == 0
        assert _wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in survivors), 15)
        assert not _healthy(base)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
