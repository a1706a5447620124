"""Named API keys: bootstrap names, the CLI (create, list, revoke, rotate), audit by name,
revocation seen at once by every web process, failed authentications logged by prefix."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from click.testing import CliRunner
from flask import Flask

from notifier.api.app import create_app
from notifier.config import ConfigError, load_settings
from notifier.keys import authenticate
from notifier.runtime import Runtime
from notifier.tools.cli import main
from notifier.worker import pipeline
from tests.conftest import PRODUCER, SUPPORT, auth, load_event
from tests.support.flows import register_client, webhook_channel
from tests.support.receivers import WebhookReceiver


def _cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, ["keys", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_bootstrap_keys_have_names_and_role_key_still_works() -> None:
    long = "k" * 40
    settings = load_settings(
        {"NOTIFIER_API_KEYS": f"support:alice:{long}1,admin:{long}2", "NOTIFIER_VAR_DIR": "/tmp"}
    )
    assert settings.api_keys == (("support", "alice", long + "1"), ("admin", "admin", long + "2"))


def test_a_short_bootstrap_key_is_refused_naming_the_variable_not_the_value() -> None:
    short = "dev-admin-key-short"
    with pytest.raises(ConfigError) as caught:
        load_settings({"NOTIFIER_API_KEYS": f"admin:ops:{short}", "NOTIFIER_VAR_DIR": "/tmp"})
    assert "NOTIFIER_API_KEYS" in str(caught.value) and "32" in str(caught.value)
    assert short not in str(caught.value)


def test_the_service_stops_at_start_on_a_short_key(tmp_path: object) -> None:
    """`notifier run` exits non-zero before starting anything, with a clear one-line reason."""
    short = "tooShortKey123"
    env = {"NOTIFIER_API_KEYS": f"admin:{short}", "NOTIFIER_VAR_DIR": str(tmp_path), "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "notifier.tools.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "NOTIFIER_API_KEYS" in done.stderr and short not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_cli_create_list_revoke_rotate_and_revocation_in_every_process(
    env: dict[str, str], app: Flask
) -> None:
    other_worker = create_app(load_settings(env))  # a second web process on the same database
    first, second = app.test_client(), other_worker.test_client()
    key = _cli(env, "create", "--role", "support", "--name", "alice")
    assert len(key) >= 32
    assert first.get("/v1/notices", headers=auth(key)).status_code == 200
    assert second.get("/v1/notices", headers=auth(key)).status_code == 200

    listing = _cli(env, "list")
    assert "alice" in listing and "support-key" in listing and key not in listing
    assert key[:8] in listing

    rotated = _cli(env, "rotate", "alice")
    assert rotated != key
    assert first.get("/v1/notices", headers=auth(key)).status_code == 401
    assert second.get("/v1/notices", headers=auth(rotated)).status_code == 200

    assert "revoked alice" in _cli(env, "revoke", "alice")
    assert first.get("/v1/notices", headers=auth(rotated)).status_code == 401
    assert second.get("/v1/notices", headers=auth(rotated)).status_code == 401
    assert "alice" not in _cli(env, "list")
    assert "alice" in _cli(env, "list", "--all")
    refused = CliRunner().invoke(main, ["keys", "revoke", "alice"], env=env)
    assert refused.exit_code != 0 and "no active key" in refused.output
    other_worker.extensions["notifier"].db.dispose()


def test_audit_entries_name_the_key(
    env: dict[str, str], app: Flask, runtime: Runtime, webhook_receiver: WebhookReceiver
) -> None:
    key = _cli(env, "create", "--role", "support", "--name", "alice")
    assert authenticate(runtime, key) is not None
    client = app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    (notice_id,) = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER).json[
        "notice_ids"
    ]
    with app.app_context():
        pipeline.process_notices(runtime, [notice_id])
    answer = client.post(
        f"/v1/notices/{notice_id}/resend", json={"reason": "lost it"}, headers=auth(key)
    )
    assert answer.status_code == 202, answer.json
    timeline = client.get(f"/v1/notices/{notice_id}", headers=SUPPORT).json["timeline"]
    (entry,) = [e for e in timeline if e["action"] == "resend"]
    assert entry["actor"] == "alice"


def test_failed_authentication_is_logged_with_the_prefix_only(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "ntf_WrongGuessAbcdefghijklmnopqrstuvwxyz0123"
    with caplog.at_level(logging.WARNING, logger="notifier.api.auth"):
        answer = app.test_client().get("/v1/notices", headers=auth(wrong))
    assert answer.status_code == 401
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "authentication failed" in logged and wrong[:8] in logged
    assert wrong not in logged and wrong[8:] not in logged
