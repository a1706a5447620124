"""PUT / GET /v1/clients/{id}: validation, and no credential ever comes back."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import ADMIN, SUPPORT, WEBHOOK_SECRET
from tests.test_api_events import DELETE, assert_envelope, mutate

URL_PASSWORD = "pa55w0rd-do-not-show"
VALID: dict[str, Any] = {
    "name": "Acme Capital",
    "locale": "en_US",
    "timezone": "America/New_York",
    "regime": "US",
    "channels": [
        {
            "name": "hook",
            "url": "https://hooks.example.com/notifier/acme?token=abc123",
            "secret": WEBHOOK_SECRET,
            "priority": 0,
        },
        {"name": "email", "url": f"mailto://ops:{URL_PASSWORD}@mail.example.com", "priority": 1},
        {"name": "chat", "url": "json://bot:s3cr3t-json@chat.example.com/in", "priority": 2},
    ],
}


def put(client: FlaskClient, body: Any, client_id: str = "acme") -> Any:
    return client.put(f"/v1/clients/{client_id}", json=body, headers=ADMIN)


CLIENT_RULES: list[tuple[str, str, Any, str]] = [
    ("name missing", "name", DELETE, "name"),
    ("name empty", "name", "", "name"),
    ("name too long", "name", "n" * 201, "name"),
    ("name NUL", "name", "Acme\x00", "name"),
    ("name a number", "name", 7, "name"),
    ("locale unknown", "locale", "xx_YY", "locale"),
    ("locale with modifier", "locale", "en_US@calendar=gregorian", "locale"),
    ("locale garbage", "locale", "../../etc", "locale"),
    ("timezone unknown", "timezone", "Mars/Olympus", "timezone"),
    ("timezone offset", "timezone", "+05:00", "timezone"),
    ("regime unknown", "regime", "UK", "regime"),
    ("channels not a list", "channels", {"name": "x"}, "channels"),
    ("too many channels", "channels", [VALID["channels"][1]] * 21, "channels"),
    ("unknown field", "vip", True, "vip"),
    ("channel name upper case", "channels.0.name", "Hook", "channels.0.name"),
    ("channel name with space", "channels.0.name", "my hook", "channels.0.name"),
    ("channel name too long", "channels.0.name", "h" * 65, "channels.0.name"),
    ("channel name missing", "channels.1.name", DELETE, "channels.1.name"),
    ("channel url missing", "channels.1.url", DELETE, "channels.1.url"),
    ("channel url unknown scheme", "channels.1.url", "nope://x.example.com", "channels.1.url"),
    ("channel url not a url", "channels.1.url", "just text", "channels.1.url"),
    ("channel url too long", "channels.1.url", "json://h/" + "p" * 2000, "channels.1.url"),
    ("channel url NUL", "channels.2.url", "json://h/\x00", "channels.2.url"),
    ("http url without host", "channels.0.url", "https:///hook", "channels.0.url"),
    ("http url bad port", "channels.0.url", "https://h.example.com:99999/", "channels.0.url"),
    ("http channel without secret", "channels.0.secret", DELETE, "channels.0.secret"),
    (
        "secret without prefix",
        "channels.0.secret",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "channels.0.secret",
    ),
    ("secret not base64", "channels.0.secret", "whsec_!!!not-base64!!!", "channels.0.secret"),
    ("secret too short", "channels.0.secret", "whsec_c2hvcnQ=", "channels.0.secret"),
    ("priority negative", "channels.0.priority", -1, "channels.0.priority"),
    ("priority a string", "channels.0.priority", "1", "channels.0.priority"),
    ("channel unknown field", "channels.1.password", "x", "channels.1.password"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), [pytest.param(*case[1:], id=case[0]) for case in CLIENT_RULES]
)
def test_each_client_rule_answers_422_naming_the_field(
    client: FlaskClient, path: str, value: Any, field: str
) -> None:
    error = assert_envelope(put(client, mutate(VALID, path, value)), 422)
    assert field in error["fields"], error["fields"]


def test_duplicate_channel_names_are_refused(client: FlaskClient) -> None:
    body = copy.deepcopy(VALID)
    body["channels"][2]["name"] = "email"
    error = assert_envelope(put(client, body), 422)
    assert "channels" in error["fields"]


def test_a_client_id_over_128_characters_is_refused(client: FlaskClient) -> None:
    error = assert_envelope(put(client, VALID, client_id="c" * 129), 422)
    assert "client_id" in error["fields"]


def test_validation_messages_do_not_repeat_urls_or_secrets(client: FlaskClient) -> None:
    body = mutate(VALID, "channels.0.secret", "whsec_" + URL_PASSWORD)
    body = mutate(body, "channels.1.url", f"nope://user:{URL_PASSWORD}@x")
    response = put(client, body)
    assert_envelope(response, 422)
    assert URL_PASSWORD.encode() not in response.data


def test_get_shows_only_the_privacy_form(client: FlaskClient) -> None:
    created = put(client, VALID)
    assert created.status_code == 201, created.json
    shown = client.get("/v1/clients/acme", headers=SUPPORT)
    assert shown.status_code == 200
    for response in (created, shown):
        text = response.get_data(as_text=True)
        for secret in (URL_PASSWORD, "s3cr3t-json", WEBHOOK_SECRET, "whsec_", "abc123"):
            assert secret not in text, secret
    view = shown.json
    assert view["client_id"] == "acme" and view["locale"] == "en_US"
    channels = {c["name"]: c for c in view["channels"]}
    assert list(channels) == ["hook", "email", "chat"]  # by priority
    assert channels["hook"]["kind"] == "webhook" and channels["hook"]["has_secret"] is True
    assert channels["hook"]["url"].startswith("https://hooks.example.com")
    assert channels["email"]["url"].startswith("mailto://ops:****@mail.example.com")
    assert "****" in channels["chat"]["url"]
    assert channels["email"]["kind"] == "apprise"


def test_unknown_client_is_404(client: FlaskClient) -> None:
    assert_envelope(client.get("/v1/clients/nobody", headers=SUPPORT), 404)


def test_put_twice_updates_and_retires_left_out_channels(client: FlaskClient) -> None:
    assert put(client, VALID).status_code == 201
    changed = copy.deepcopy(VALID)
    changed.update(name="Acme Capital LLC", locale="de-DE", timezone="Europe/Berlin", regime="EU")
    changed["channels"] = [VALID["channels"][1]]
    second = put(client, changed)
    assert second.status_code == 200, second.json
    view = client.get("/v1/clients/acme", headers=SUPPORT).json
    assert view["name"] == "Acme Capital LLC"
    assert (view["locale"], view["timezone"], view["regime"]) == ("de_DE", "Europe/Berlin", "EU")
    assert [c["name"] for c in view["channels"]] == ["email"]


def test_defaults_fill_locale_timezone_regime(client: FlaskClient) -> None:
    response = put(client, {"name": "Bare"}, client_id="bare")
    assert response.status_code == 201, response.json
    view = response.json
    assert (view["locale"], view["timezone"], view["regime"], view["channels"]) == (
        "en",
        "UTC",
        "US",
        [],
    )


def test_clients_need_the_right_content_type_and_json(client: FlaskClient) -> None:
    response = client.put(
        "/v1/clients/acme", data="name=Acme", headers={**ADMIN, "Content-Type": "text/plain"}
    )
    assert_envelope(response, 415)
    response = client.put(
        "/v1/clients/acme", data="{", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert_envelope(response, 400)


ODD_VALUES: list[Any] = [None, True, 0, "", "\ud800", "x" * 5000, [], {}, [None], [{}]]


def test_no_value_gets_a_500(client: FlaskClient) -> None:
    for field in ("name", "locale", "timezone", "regime", "channels"):
        for value in [*ODD_VALUES, {"name": None}]:
            response = put(client, {**VALID, field: value})
            assert response.status_code < 500, (field, value, response.data[:500])
    for field in ("name", "url", "priority", "secret"):
        for value in ODD_VALUES:
            response = put(client, mutate(VALID, f"channels.0.{field}", value))
            assert response.status_code < 500, (field, value, response.data[:500])


def test_no_channel_url_gets_a_500(client: FlaskClient) -> None:
    for url in [
        "",
        "://",
        "http://",
        "json://",
        "mailto://@",
        "https://[::1",
        "tgram://",
        "discord://x",
        "json://h:0/",
        "json://" + "a" * 1990,
        "\ud800://x",
        "mailto://u:p@h?to=" + "a" * 1500,
    ]:
        response = put(client, mutate(VALID, "channels.2.url", url))
        assert response.status_code < 500, (url, response.data[:500])


def test_custom_headers_in_a_channel_url_are_refused_without_echo(client: FlaskClient) -> None:
    # Headers chosen by a URL were a way to send admin-chosen Authorization (issue 12).
    body = {
        "name": "Hdr",
        "channels": [{"name": "chat", "url": "json://chat.example.com/in?+X-Token=canary-hdr-77"}],
    }
    response = client.put("/v1/clients/hdr", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert list(response.json["error"]["fields"]) == ["channels.0.url"]
    assert "canary-hdr-77" not in response.get_data(as_text=True)


def test_put_without_secret_clears_the_old_one(client: FlaskClient) -> None:
    with_secret = {
        "name": "S",
        "channels": [
            {"name": "hook", "url": "https://hooks.example.com/in", "secret": WEBHOOK_SECRET}
        ],
    }
    assert client.put("/v1/clients/sec", json=with_secret, headers=ADMIN).status_code == 201
    apprise_only = {
        "name": "S",
        "channels": [{"name": "hook", "url": "json://hooks.example.com/in"}],
    }
    response = client.put("/v1/clients/sec", json=apprise_only, headers=ADMIN)
    assert response.status_code == 200
    assert response.json["channels"][0]["has_secret"] is False
