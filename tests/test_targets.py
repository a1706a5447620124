"""Channel targets checked at registration and at send time (issue 12, item 4: SSRF).

Registration accepted 127.0.0.1:6379, ``localhost``, ``[::1]``, ``0.0.0.0`` and decimal
``2130706433``, and the worker POSTed a signed notice to Redis. Every spelling here is
refused at registration (422 naming the field) and by the sender itself; real Apprise,
real receivers on 127.0.0.1, the real pipeline on both databases.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from notifier.api.app import create_app
from notifier.config import load_settings
from notifier.delivery import channels
from notifier.delivery.targets import TargetPolicy, TargetRefused
from notifier.runtime import Runtime
from notifier.worker import pipeline
from tests.conftest import ADMIN, PRODUCER, SUPPORT, load_event, make_env
from tests.support.flows import notice_view, webhook_channel
from tests.support.receivers import WebhookReceiver

# Loopback and private addresses in every spelling the resolver accepts.
PRIVATE_SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "127.0.0.2",
    "2130706433",  # decimal
    "0x7f000001",  # hex
    "0x7f.0.0.1",
    "0177.0.0.1",  # octal
    "017700000001",
    "localhost",
    "LOCALHOST",
    "localhost.",
    "app.localhost",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",  # IPv4-compatible
    "[64:ff9b::7f00:1]",  # NAT64
    "[2002:7f00:1::]",  # 6to4
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "[fd12:3456::1]",  # unique-local
]
# Refused with the switch off too.
ALWAYS_REFUSED = [
    "169.254.169.254",  # cloud metadata
    "[fd00:ec2::254]",  # AWS metadata over IPv6
    "[fe80::1]",
    "[::ffff:169.254.169.254]",
    "0.0.0.0",  # noqa: S104  # an address to refuse, not one to bind
    "0",
    "[::]",
    "224.0.0.1",
    "[ff02::1]",
    "255.255.255.255",
]
SHAPED_URLS = [
    "json://127.0.0.1:9/x?-X-Evil=1",
    "json://127.0.0.1:9/x?+Authorization=Bearer%20x",
    "json://127.0.0.1:9/x?method=PUT",
    "form://127.0.0.1:9/x?:message=owned",
    "xml://127.0.0.1:9/x?+X-Evil=1",
    "syslog://127.0.0.1",  # not an allowed scheme
]


def _settings_env(tmp_path: Path, db_url: str, block: str) -> dict[str, str]:
    return make_env(
        tmp_path / "var", db_url, NOTIFIER_ENQUEUE="0", NOTIFIER_BLOCK_PRIVATE_TARGETS=block
    )


@pytest.fixture
def strict_app(tmp_path: Path, db_url: str) -> Iterator[Flask]:
    app = create_app(load_settings(_settings_env(tmp_path, db_url, "1")))
    app.extensions["notifier"].db.upgrade()
    yield app
    app.extensions["notifier"].db.dispose()


@pytest.fixture
def open_app(tmp_path: Path, db_url: str) -> Iterator[Flask]:
    app = create_app(load_settings(_settings_env(tmp_path, db_url, "0")))
    app.extensions["notifier"].db.upgrade()
    yield app
    app.extensions["notifier"].db.dispose()


def _put(app: Flask, urls: list[str]) -> Any:
    body = {
        "name": "Acme Capital",
        "locale": "en_US",
        "timezone": "America/New_York",
        "channels": [webhook_channel(url, f"c{n}") for n, url in enumerate(urls)],
    }
    return app.test_client().put("/v1/clients/acme", json=body, headers=ADMIN)


def _refused_at_registration(app: Flask, url: str) -> None:
    response = _put(app, ["http://93.184.215.14/ok", url])
    assert response.status_code == 422, (url, response.json)
    fields = response.json["error"]["fields"]
    # Refused by the target policy, or (Apprise cannot parse "127.1") as no usable URL.
    assert list(fields) == ["channels.1.url"], fields


@pytest.mark.parametrize("host", PRIVATE_SPELLINGS + ALWAYS_REFUSED)
def test_private_spellings_refused_at_registration(strict_app: Flask, host: str) -> None:
    _refused_at_registration(strict_app, f"http://{host}:6379/")
    _refused_at_registration(strict_app, f"json://{host}:6379/")


@pytest.mark.parametrize("host", ALWAYS_REFUSED)
def test_link_local_and_friends_refused_with_the_switch_off(open_app: Flask, host: str) -> None:
    _refused_at_registration(open_app, f"http://{host}/")


@pytest.mark.parametrize("url", SHAPED_URLS)
def test_custom_methods_headers_and_schemes_refused(open_app: Flask, url: str) -> None:
    _refused_at_registration(open_app, url)


def test_loopback_allowed_with_the_switch_off(open_app: Flask) -> None:
    assert _put(open_app, ["http://127.0.0.1:9/a", "json://localhost:9/b"]).status_code == 201


MESSAGE = channels.Message("subject", "text", "<p>html</p>", "md", {"kind": "test"})


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(None)
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.mark.parametrize("host", PRIVATE_SPELLINGS + ALWAYS_REFUSED)
def test_every_spelling_refused_by_the_sender(receiver: WebhookReceiver, host: str) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    for scheme in ("http", "json"):
        outcome = channels.send(
            f"{scheme}://{host}:{port}/hooks/notifier", MESSAGE, timeout=2, block_private=True
        )
        assert outcome.status == "failed"
        assert (outcome.error or "").startswith(channels.REFUSED_PREFIX), outcome.error
    assert receiver.requests == []


def test_the_sender_reaches_loopback_with_the_switch_off(receiver: WebhookReceiver) -> None:
    json_url = receiver.url.replace("http://", "json://")
    assert channels.send(json_url, MESSAGE, timeout=5).status == "sent"
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("scheme", ["http", "json", "form"])
def test_redirects_are_not_followed(receiver: WebhookReceiver, status: int, scheme: str) -> None:
    elsewhere = WebhookReceiver(None)
    elsewhere.start()
    try:
        receiver.answer_next(status, {"Location": elsewhere.url})
        url = receiver.url.replace("http://", f"{scheme}://")
        outcome = channels.send(url, MESSAGE, timeout=5, secret=None, message_id="m1")
        assert outcome.status == "failed"
        assert len(receiver.requests) == 1
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_a_name_that_resolves_to_loopback_after_registration_is_refused_at_send(
    strict_app: Flask, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: public at registration, 127.0.0.1 at send. The resolver is the only
    thing faked (no DNS server here); registration, pipeline and Apprise are real."""
    answers = {"rebind.example": "93.184.215.14"}
    real = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real(answers.get(host, host), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    port = receiver.url.split(":")[2].split("/")[0]
    assert _put(strict_app, [f"http://rebind.example:{port}/hooks/notifier"]).status_code == 201
    answers["rebind.example"] = "127.0.0.1"
    posted = strict_app.test_client().post(
        "/v1/events", json=load_event("l1_final"), headers=PRODUCER
    )
    assert posted.status_code == 202, posted.json
    runtime: Runtime = strict_app.extensions["notifier"]
    pipeline.process_notices(runtime, posted.json["notice_ids"])
    assert receiver.requests == []
    client = strict_app.test_client()
    admin_view = notice_view(client, posted.json["notice_ids"][-1])
    (attempt,) = admin_view["deliveries"][0]["attempts"]
    assert attempt["outcome"] == "failed"
    assert "loopback" in attempt["error"] and attempt["error"].startswith("target refused")
    # Support reads a generic reason: no address, no status, no probe.
    support_view = notice_view(client, posted.json["notice_ids"][-1], headers=SUPPORT)
    shown = support_view["deliveries"][0]["attempts"][0]["error"]
    assert "127.0.0.1" not in shown and "loopback" not in shown and "refused" in shown


def test_policy_allows_public_addresses() -> None:
    policy = TargetPolicy(block_private=True)
    policy.check_url("https://93.184.215.14/hook")
    policy.check_url("json://[2606:2800:220:1:248:1893:25c8:1946]/x")
    policy.check_url("tgram://123456:token/-100123")
    with pytest.raises(TargetRefused):
        policy.check_url("https://127.0.0.1/hook")


def test_a_mail_server_named_in_the_query_is_checked(strict_app: Flask) -> None:
    """``?smtp=`` chooses the server Apprise connects to: that host is the target."""
    _refused_at_registration(strict_app, "mailtos://u:p@mail.example?smtp=127.0.0.1")
    _refused_at_registration(strict_app, "mailto://u:p@127.0.0.1:2525?to=c@example.com")
