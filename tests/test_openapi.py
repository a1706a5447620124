"""The OpenAPI document: every /v1 route documented, /docs served locally, and
schemathesis fuzzing the live app over real HTTP with every default check."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from flask import Flask, Response

from notifier.api.app import create_app
from notifier.api.auth import require_role
from notifier.api.openapi import UndocumentedRoute, build_spec
from notifier.config import load_settings
from notifier.runtime import Runtime
from tests.conftest import ADMIN_KEY, SUPPORT, make_env
from tests.support.server import LiveServer

ST = Path(sys.executable).parent / "st"
CONFIG = Path(__file__).parent / "schemathesis.toml"
EXAMPLES_PER_OPERATION = 100
MIN_REQUESTS = 1000


def test_the_document_covers_every_v1_route(app: Flask) -> None:
    spec = app.test_client().get("/v1/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/") and rule.rule != "/v1/openapi.json"
    }
    assert routes == set(spec["paths"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "403", "429"):
                ref = operation["responses"][status]["$ref"]
                assert ref == f"#/components/responses/Error{status}", (method, path)
    error = spec["components"]["responses"]["Error422"]["content"]["application/json"]
    assert error["schema"] == {"$ref": "#/components/schemas/Error"}
    assert set(spec["components"]["schemas"]["Error"]["properties"]) == {"error"}


def test_an_undocumented_v1_view_fails_the_build(app: Flask) -> None:
    @app.get("/v1/forgotten")
    @require_role("admin")
    def forgotten() -> Response:
        return Response("{}")

    with pytest.raises(UndocumentedRoute, match="/v1/forgotten"):
        build_spec(app)


def test_docs_page_is_served_without_a_cdn(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/v1/openapi.json" in html
    assert not re.search(r"""(src|href)=["']https?://""", html), "assets must be local"
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/swagger-ui.css").status_code == 200


def test_schemathesis_against_the_live_app_finds_nothing(tmp_path: Path, db_url: str) -> None:
    # Rate limits off: the auth checks send many wrong keys on purpose (throttling has its
    # own test in tests/test_ops.py).
    env = make_env(tmp_path / "var", db_url, NOTIFIER_ENQUEUE="0", NOTIFIER_RATE_LIMITS="0")
    app = create_app(load_settings(env))
    runtime: Runtime = app.extensions["notifier"]
    runtime.db.upgrade()
    served = {"requests": 0}
    lock = threading.Lock()

    @app.after_request
    def _count(response: Response) -> Response:
        with lock:
            served["requests"] += 1
        return response

    server = LiveServer(app)
    server.start()
    try:
        done = subprocess.run(
            [
                str(ST),
                "--config-file",
                str(CONFIG),
                "run",
                f"{server.url}/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {ADMIN_KEY}",
                "--max-examples",
                str(EXAMPLES_PER_OPERATION),
                "--request-timeout",
                "10",
                "--seed",
                "20261129",
                "--warnings",
                "off",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=540,
            check=False,
        )
    finally:
        server.stop()
        runtime.db.dispose()
    summary = done.stdout[-3000:]
    assert done.returncode == 0, summary
    generated = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert generated, summary
    assert int(generated.group(1)) == int(generated.group(2))
    assert served["requests"] >= MIN_REQUESTS, (served, summary)
    print(f"schemathesis: {generated.group(1)} cases, {served['requests']} requests, 0 failures")


def test_a_control_character_in_a_search_is_a_422_not_a_500(app: Flask) -> None:
    """Found by schemathesis on PostgreSQL: a NUL in a query parameter broke the query."""
    client = app.test_client()
    for path in ("/v1/notices", "/v1/events"):
        answer = client.get(path, query_string={"client_id": "acme\x00"}, headers=SUPPORT)
        assert answer.status_code == 422, path
        assert "client_id" in answer.json["error"]["fields"]
