"""Bearer keys and roles on every /v1 route; CLI-made keys work and are stored hashed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from notifier.models import ApiKey
from notifier.runtime import Runtime
from notifier.tools.cli import main
from tests.conftest import ADMIN, PRODUCER, SUPPORT, auth, load_event
from tests.test_api_clients import VALID as A_CLIENT
from tests.test_api_events import assert_envelope

# route: (method, path, body, roles allowed besides admin)
ROUTES: dict[str, tuple[str, str, Any, set[str]]] = {
    "post event": ("POST", "/v1/events", load_event("l1_final"), {"producer"}),
    "get event": ("GET", "/v1/events/evt-l1-final-0001", None, {"producer", "support"}),
    "put client": ("PUT", "/v1/clients/acme", A_CLIENT, set()),
    "get client": ("GET", "/v1/clients/acme", None, {"support"}),
    "get notice": ("GET", "/v1/notices/1", None, {"support"}),
}
KEYS = {"producer": PRODUCER, "support": SUPPORT, "admin": ADMIN}
NO_KEY: dict[str, dict[str, str]] = {
    "no header": {},
    "empty bearer": {"Authorization": "Bearer "},
    "unknown key": auth("ntf_unknown_key_0123456789"),
    "wrong scheme": {"Authorization": "Token " + PRODUCER["Authorization"].split()[1]},
    "key in clear": {"Authorization": PRODUCER["Authorization"].split()[1]},
}


def call(client: FlaskClient, route: str, headers: dict[str, str]) -> Any:
    method, path, body, _ = ROUTES[route]
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize("route", ROUTES)
def test_401_without_a_valid_key(client: FlaskClient, route: str) -> None:
    for label, headers in NO_KEY.items():
        response = call(client, route, headers)
        error = assert_envelope(response, 401)
        assert error["code"] == "unauthorized", label
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), label


@pytest.mark.parametrize("route", ROUTES)
def test_403_for_the_wrong_role_and_through_for_the_right_one(
    client: FlaskClient, route: str
) -> None:
    allowed = ROUTES[route][3] | {"admin"}
    for role, headers in KEYS.items():
        response = call(client, route, headers)
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.json)
        else:
            error = assert_envelope(response, 403)
            assert error["code"] == "forbidden", role
            # The answer names roles, never the key.
            assert headers["Authorization"].split()[1] not in response.get_data(as_text=True)


def create_key(env: dict[str, str], role: str, name: str) -> str:
    result = CliRunner().invoke(main, ["keys", "create", "--role", role, "--name", name], env=env)
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert key.startswith("ntf_") and len(key) > 30
    return key


def test_cli_keys_work_with_their_role(
    client: FlaskClient, runtime: Runtime, env: dict[str, str]
) -> None:
    producer = create_key(env, "producer", "oms-test")
    support = create_key(env, "support", "desk")
    admin = create_key(env, "admin", "ops")
    assert len({producer, support, admin}) == 3
    assert call(client, "put client", auth(admin)).status_code == 201
    assert call(client, "post event", auth(producer)).status_code == 202
    assert_envelope(call(client, "post event", auth(support)), 403)
    assert call(client, "get event", auth(support)).status_code == 200
    assert_envelope(call(client, "put client", auth(producer)), 403)
    assert_envelope(call(client, "get event", auth(producer + "x")), 401)


def test_cli_keys_are_stored_hashed(
    client: FlaskClient, runtime: Runtime, env: dict[str, str]
) -> None:
    key = create_key(env, "producer", "oms-hash")
    with runtime.db.session() as session:
        rows = session.scalars(select(ApiKey)).all()
        stored = [(r.name, r.role, r.key_hash) for r in rows]
    assert stored == [("oms-hash", "producer", hashlib.sha256(key.encode()).hexdigest())]
    assert all(key not in " ".join(map(str, row)) for row in stored)
    database = Path(runtime.settings.database_url.removeprefix("sqlite:///"))
    if runtime.settings.database_url.startswith("sqlite"):
        # Not in the file at all, WAL included.
        for path in database.parent.glob(database.name + "*"):
            assert key.encode() not in path.read_bytes()


def test_a_key_is_checked_before_the_body_is_read(client: FlaskClient) -> None:
    response = client.post(
        "/v1/events", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, 401)


ODD_PATH_IDS = ["%00", "a%00b", "%ED%A0%80", "x" * 300, "%20", "..%2F..%2Fetc"]


def test_odd_ids_in_the_path_are_not_a_500(client: FlaskClient) -> None:
    for odd in ODD_PATH_IDS:
        for method, path, headers in (
            ("GET", f"/v1/events/{odd}", SUPPORT),
            ("GET", f"/v1/clients/{odd}", SUPPORT),
            ("PUT", f"/v1/clients/{odd}", ADMIN),
        ):
            body = A_CLIENT if method == "PUT" else None
            response = client.open(path, method=method, json=body, headers=headers)
            assert response.status_code < 500, (method, path)
            if response.status_code >= 400:
                assert_envelope(response, response.status_code)


def test_a_notice_id_beyond_the_column_is_a_404(client: FlaskClient) -> None:
    for notice_id in ("0", "99999999999", str(2**63), "9" * 40):
        response = client.get(f"/v1/notices/{notice_id}", headers=SUPPORT)
        assert_envelope(response, 404)
