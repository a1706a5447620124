"""POST /v1/events: every rule of contract v1 answers with a 4xx naming the field."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from notifier.api.app import create_app
from notifier.config import load_settings
from notifier.runtime import Runtime
from tests.conftest import DATA_DIR, PRODUCER, SUPPORT, auth, load_event, make_env

DELETE = object()  # a mutation that removes the field
VALID_EVENTS = sorted(p.stem for p in DATA_DIR.glob("*.json"))
# Whole valid blocks, for the cases where a block is valid but misplaced.
A_TRADE = load_event("l1_final")["trade"]
A_FINALITY = load_event("l1_final")["finality"]
AN_L1 = A_FINALITY["l1"]
AN_L2 = load_event("l2_final")["finality"]["l2"]
A_BATCH = load_event("batch_final")["batch"]


class Raw:
    """JSON text put into the body as it is, e.g. a number json.dumps cannot write."""

    def __init__(self, text: str) -> None:
        self.text = text


def mutate(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a deep copy of ``event`` with the dotted ``path`` set to ``value``."""
    event = copy.deepcopy(event)
    *parents, last = path.split(".")
    node: Any = event
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return event


def encode(body: Any) -> str:
    """Dump ``body`` to JSON, writing every :class:`Raw` value verbatim."""
    raws: list[str] = []

    def default(value: Any) -> str:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"__raw_{len(raws) - 1}__"
        raise TypeError(type(value).__name__)

    text = json.dumps(body, default=default)
    for index, raw in enumerate(raws):
        text = text.replace(f'"__raw_{index}__"', raw)
    return text


def post(client: FlaskClient, body: Any, **headers: str) -> TestResponse:
    return client.post(
        "/v1/events",
        data=body if isinstance(body, str | bytes) else encode(body),
        headers={"Content-Type": "application/json", **PRODUCER, **headers},
    )


def assert_envelope(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/json"
    error = response.json["error"]  # type: ignore[index]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert all(
        isinstance(name, str) and isinstance(problems, list) and problems
        for name, problems in error["fields"].items()
    )
    return error  # type: ignore[no-any-return]


# (case id, valid event it starts from, dotted path, new value, field named in the answer)
# The answer is 422 unless a case says otherwise.
FIELD_RULES: list[tuple[str, str, str, Any, str]] = [
    # --- envelope
    ("event_id missing", "l1_final", "event_id", DELETE, "event_id"),
    ("event_id empty", "l1_final", "event_id", "", "event_id"),
    ("event_id too long", "l1_final", "event_id", "e" * 129, "event_id"),
    ("event_id a number", "l1_final", "event_id", 123, "event_id"),
    ("event_id blank", "l1_final", "event_id", "   ", "event_id"),
    ("event_id NUL", "l1_final", "event_id", "evt\x00-1", "event_id"),
    ("event_id lone surrogate", "l1_final", "event_id", "evt-\ud800", "event_id"),
    ("event_id null", "l1_final", "event_id", None, "event_id"),
    ("type missing", "l1_final", "type", DELETE, "type"),
    ("type unknown", "l1_final", "type", "trade.settled", "type"),
    ("type a list", "l1_final", "type", ["trade.finality"], "type"),
    ("occurred_at missing", "l1_final", "occurred_at", DELETE, "occurred_at"),
    ("occurred_at naive", "l1_final", "occurred_at", "2026-11-24T14:05:00", "occurred_at"),
    ("occurred_at date only", "l1_final", "occurred_at", "2026-11-24", "occurred_at"),
    ("occurred_at garbage", "l1_final", "occurred_at", "yesterday", "occurred_at"),
    (
        "occurred_at basic offset",
        "l1_final",
        "occurred_at",
        "2026-11-24T14:05:00+0530",
        "occurred_at",
    ),
    ("occurred_at no seconds", "l1_final", "occurred_at", "2026-11-24T14:05Z", "occurred_at"),
    ("occurred_at week date", "l1_final", "occurred_at", "2026-W48-2T14:05:00Z", "occurred_at"),
    ("occurred_at hour 24", "l1_final", "occurred_at", "2026-11-24T24:00:00Z", "occurred_at"),
    (
        "occurred_at offset 25h",
        "l1_final",
        "occurred_at",
        "2026-11-24T14:05:00+25:00",
        "occurred_at",
    ),
    ("occurred_at year 1", "l1_final", "occurred_at", "0001-01-01T00:00:00+14:00", "occurred_at"),
    ("occurred_at a number", "l1_final", "occurred_at", 1764000000, "occurred_at"),
    ("sequence negative", "l1_final", "sequence", -1, "sequence"),
    ("sequence a string", "l1_final", "sequence", "1", "sequence"),
    ("sequence fractional", "l1_final", "sequence", Raw("1.5"), "sequence"),
    ("sequence 1.0", "l1_final", "sequence", Raw("1.0"), "sequence"),
    ("sequence boolean", "l1_final", "sequence", True, "sequence"),
    ("sequence beyond int32", "l1_final", "sequence", 2**31, "sequence"),
    ("unknown top-level field", "l1_final", "priority", "high", "priority"),
    ("supersedes on finality", "l1_final", "supersedes_event_id", "evt-0", "supersedes_event_id"),
    ("trade missing", "l1_final", "trade", DELETE, "trade"),
    ("trade null", "l1_final", "trade", None, "trade"),
    ("trade a list", "l1_final", "trade", [{"trade_id": "x"}], "trade"),
    ("trade a string", "l1_final", "trade", "T-1", "trade"),
    ("finality missing", "l1_final", "finality", DELETE, "finality"),
    ("batch on trade.finality", "l1_final", "batch", A_BATCH, "batch"),
    # --- trade
    ("trade_id missing", "l1_final", "trade.trade_id", DELETE, "trade.trade_id"),
    ("trade_id too long", "l1_final", "trade.trade_id", "t" * 129, "trade.trade_id"),
    ("client_id empty", "l1_final", "trade.client_id", "", "trade.client_id"),
    ("client_id control char", "l1_final", "trade.client_id", "acme\x1b", "trade.client_id"),
    ("account too long", "l1_final", "trade.account", "a" * 65, "trade.account"),
    ("side unknown", "l1_final", "trade.side", "hold", "trade.side"),
    ("side upper case", "l1_final", "trade.side", "BUY", "trade.side"),
    ("instrument missing", "l1_final", "trade.instrument", DELETE, "trade.instrument"),
    ("instrument a list", "l1_final", "trade.instrument", ["ACME"], "trade.instrument"),
    ("symbol missing", "l1_final", "trade.instrument.symbol", DELETE, "trade.instrument.symbol"),
    ("symbol too long", "l1_final", "trade.instrument.symbol", "S" * 33, "trade.instrument.symbol"),
    ("name too long", "l1_final", "trade.instrument.name", "n" * 201, "trade.instrument.name"),
    ("isin short", "l1_final", "trade.instrument.isin", "US000432100", "trade.instrument.isin"),
    (
        "isin lower case",
        "l1_final",
        "trade.instrument.isin",
        "us0004321000",
        "trade.instrument.isin",
    ),
    (
        "isin newline",
        "l1_final",
        "trade.instrument.isin",
        "US0004321000\n",
        "trade.instrument.isin",
    ),
    ("cusip bad", "l1_final", "trade.instrument.cusip", "00043210X", "trade.instrument.cusip"),
    ("instrument unknown field", "l1_final", "trade.instrument.lei", "x", "trade.instrument.lei"),
    ("quantity zero", "l1_final", "trade.quantity", "0", "trade.quantity"),
    ("quantity negative", "l1_final", "trade.quantity", "-5", "trade.quantity"),
    ("quantity exponent string", "l1_final", "trade.quantity", "1e5", "trade.quantity"),
    ("quantity NaN string", "l1_final", "trade.quantity", "NaN", "trade.quantity"),
    ("quantity Infinity string", "l1_final", "trade.quantity", "Infinity", "trade.quantity"),
    ("quantity huge exponent", "l1_final", "trade.quantity", Raw("1e400"), "trade.quantity"),
    ("quantity giant exponent", "l1_final", "trade.quantity", Raw("1e999999999"), "trade.quantity"),
    ("quantity tiny exponent", "l1_final", "trade.quantity", Raw("1e-13"), "trade.quantity"),
    ("quantity boolean", "l1_final", "trade.quantity", True, "trade.quantity"),
    ("quantity thousands sep", "l1_final", "trade.quantity", "1,500", "trade.quantity"),
    (
        "quantity arabic digits",
        "l1_final",
        "trade.quantity",
        "\u0661\u0665\u0660\u0660",
        "trade.quantity",
    ),
    ("quantity trailing newline", "l1_final", "trade.quantity", "1500\n", "trade.quantity"),
    ("quantity leading plus", "l1_final", "trade.quantity", "+1500", "trade.quantity"),
    ("quantity 21 digits", "l1_final", "trade.quantity", "1" * 21, "trade.quantity"),
    ("quantity 13 decimals", "l1_final", "trade.quantity", "1." + "1" * 13, "trade.quantity"),
    ("quantity an object", "l1_final", "trade.quantity", {"value": "1"}, "trade.quantity"),
    ("unit_price zero", "l1_final", "trade.unit_price", "0.00", "trade.unit_price"),
    ("currency lower case", "l1_final", "trade.currency", "usd", "trade.currency"),
    ("currency unknown", "l1_final", "trade.currency", "ZZZ", "trade.currency"),
    ("currency a number", "l1_final", "trade.currency", 840, "trade.currency"),
    ("gross_amount negative", "l1_final", "trade.gross_amount", "-0.01", "trade.gross_amount"),
    ("gross_amount missing", "l1_final", "trade.gross_amount", DELETE, "trade.gross_amount"),
    ("commission amount", "l1_final", "trade.commission.amount", "abc", "trade.commission.amount"),
    (
        "commission currency missing",
        "l1_final",
        "trade.commission.currency",
        DELETE,
        "trade.commission.currency",
    ),
    ("fees an object", "l1_final", "trade.fees", {"kind": "x"}, "trade.fees"),
    ("fees.0.amount negative", "l1_final", "trade.fees.0.amount", "-1", "trade.fees.0.amount"),
    ("fees.1.kind empty", "l1_final", "trade.fees.1.kind", "", "trade.fees.1.kind"),
    ("fees.0 null", "l1_final", "trade.fees.0", None, "trade.fees.0"),
    ("fees.1 a string", "l1_final", "trade.fees.1", "SEC fee", "trade.fees.1"),
    (
        "fees too many",
        "l1_final",
        "trade.fees",
        [{"kind": "f", "amount": "1", "currency": "USD"}] * 21,
        "trade.fees",
    ),
    ("net_amount missing", "l1_final", "trade.net_amount", DELETE, "trade.net_amount"),
    ("fx_rate zero", "l1_final", "trade.fx_rate", "0", "trade.fx_rate"),
    ("trade_date slashes", "l1_final", "trade.trade_date", "2026/11/24", "trade.trade_date"),
    ("trade_date Feb 30", "l1_final", "trade.trade_date", "2026-02-30", "trade.trade_date"),
    ("trade_date basic", "l1_final", "trade.trade_date", "20261124", "trade.trade_date"),
    (
        "trade_date datetime",
        "l1_final",
        "trade.trade_date",
        "2026-11-24T00:00:00Z",
        "trade.trade_date",
    ),
    (
        "executed_at naive",
        "l1_final",
        "trade.executed_at",
        "2026-11-24T14:03:12",
        "trade.executed_at",
    ),
    ("executed_at null", "l1_final", "trade.executed_at", None, "trade.executed_at"),
    (
        "settlement before trade date",
        "l1_final",
        "trade.settlement_date",
        "2026-11-23",
        "trade.settlement_date",
    ),
    ("venue_mic lower case", "l1_final", "trade.venue_mic", "xnys", "trade.venue_mic"),
    ("venue_mic newline", "l1_final", "trade.venue_mic", "XNYS\n", "trade.venue_mic"),
    ("order_type unknown", "l1_final", "trade.order_type", "iceberg", "trade.order_type"),
    ("capacity missing", "l1_final", "trade.capacity", DELETE, "trade.capacity"),
    ("capacity unknown", "l1_final", "trade.capacity", "broker", "trade.capacity"),
    ("trade unknown field", "l1_final", "trade.password", "hunter2", "trade.password"),
    # --- finality
    ("layer unknown", "l1_final", "finality.layer", "L3", "finality.layer"),
    ("status unknown", "l1_final", "finality.status", "settled", "finality.status"),
    ("final_at missing when final", "l1_final", "finality.final_at", DELETE, "finality.final_at"),
    (
        "final_at before executed_at",
        "l1_final",
        "finality.final_at",
        "2026-11-24T14:00:00Z",
        "finality.final_at",
    ),
    ("final_at naive", "l1_final", "finality.final_at", "2026-11-25T15:30:00", "finality.final_at"),
    ("cycle_label quarter", "l1_final", "finality.cycle_label", "T+1.25", "finality.cycle_label"),
    ("cycle_label newline", "l1_final", "finality.cycle_label", "T+1\n", "finality.cycle_label"),
    (
        "expected_final_by garbage",
        "l2_provisional",
        "finality.expected_final_by",
        "soon",
        "finality.expected_final_by",
    ),
    ("l2 missing for L2", "l2_provisional", "finality.l2", DELETE, "finality.l2"),
    ("l2 on L1", "l1_final", "finality.l2", AN_L2, "finality.l2"),
    ("l1 on L2", "l2_final", "finality.l1", AN_L1, "finality.l1"),
    (
        "l1 settlement_ref missing",
        "l1_final",
        "finality.l1.settlement_ref",
        DELETE,
        "finality.l1.settlement_ref",
    ),
    ("l2 batch_id missing", "l2_final", "finality.l2.batch_id", DELETE, "finality.l2.batch_id"),
    (
        "l2 batch_end_at missing",
        "l2_final",
        "finality.l2.batch_end_at",
        DELETE,
        "finality.l2.batch_end_at",
    ),
    (
        "l2 batch_end_at naive",
        "l2_final",
        "finality.l2.batch_end_at",
        "2026-11-25T02:00:00",
        "finality.l2.batch_end_at",
    ),
    (
        "l2 batch_end_at before window start",
        "l2_provisional",
        "finality.l2.batch_end_at",
        "2026-11-24T11:00:00Z",
        "finality.l2.batch_end_at",
    ),
    (
        "l2 liquidity buffer missing",
        "l2_final",
        "finality.l2.liquidity_buffer_usd",
        DELETE,
        "finality.l2.liquidity_buffer_usd",
    ),
    (
        "l2 liquidity buffer negative",
        "l2_final",
        "finality.l2.liquidity_buffer_usd",
        "-1",
        "finality.l2.liquidity_buffer_usd",
    ),
    (
        "l2 liquidity buffer float text",
        "l2_final",
        "finality.l2.liquidity_buffer_usd",
        "2.5e6",
        "finality.l2.liquidity_buffer_usd",
    ),
    (
        "l2 netting_set_id empty",
        "l2_final",
        "finality.l2.netting_set_id",
        "",
        "finality.l2.netting_set_id",
    ),
    ("l2 unknown field", "l2_final", "finality.l2.gas", "21000", "finality.l2.gas"),
    # --- corrections and cancellations
    (
        "corrected without supersedes",
        "trade_corrected",
        "supersedes_event_id",
        DELETE,
        "supersedes_event_id",
    ),
    (
        "corrected supersedes itself",
        "trade_corrected",
        "supersedes_event_id",
        "evt-l1-corr-0001",
        "supersedes_event_id",
    ),
    ("corrected without trade", "trade_corrected", "trade", DELETE, "trade"),
    ("cancelled without reason", "trade_cancelled", "reason", DELETE, "reason"),
    ("cancelled reason code missing", "trade_cancelled", "reason.code", DELETE, "reason.code"),
    ("cancelled reason text too long", "trade_cancelled", "reason.text", "r" * 1001, "reason.text"),
    ("cancelled reason text NUL", "trade_cancelled", "reason.text", "a\x00b", "reason.text"),
    ("cancelled reason a string", "trade_cancelled", "reason", "busted", "reason"),
    ("cancelled with batch", "trade_cancelled", "batch", A_BATCH, "batch"),
    # --- batches
    ("batch.final without batch", "batch_final", "batch", DELETE, "batch"),
    ("batch.final with trade", "batch_final", "trade", A_TRADE, "trade"),
    ("batch.final with finality", "batch_final", "finality", A_FINALITY, "finality"),
    (
        "batch.final with supersedes",
        "batch_final",
        "supersedes_event_id",
        "e",
        "supersedes_event_id",
    ),
    ("batch_id missing", "batch_final", "batch.batch_id", DELETE, "batch.batch_id"),
    ("batch_end_at missing", "batch_final", "batch.batch_end_at", DELETE, "batch.batch_end_at"),
    (
        "batch final_at before end",
        "batch_final",
        "batch.final_at",
        "2026-11-25T01:00:00Z",
        "batch.final_at",
    ),
    (
        "batch.final rolled_to",
        "batch_final",
        "batch.rolled_to_batch_id",
        "B-2",
        "batch.rolled_to_batch_id",
    ),
    ("batch unknown field", "batch_final", "batch.size", 3, "batch.size"),
    ("batch a list", "batch_final", "batch", [], "batch"),
    ("batch.failed without reason", "batch_failed", "reason", DELETE, "reason"),
    ("batch.delayed without reason", "batch_delayed", "reason", DELETE, "reason"),
    (
        "batch.delayed rolled to itself",
        "batch_delayed",
        "batch.rolled_to_batch_id",
        "B-2026-11-24-PM",
        "batch.rolled_to_batch_id",
    ),
    (
        "batch.delayed new_value_date bad",
        "batch_delayed",
        "batch.new_value_date",
        "tomorrow",
        "batch.new_value_date",
    ),
]


def _delayed_without_destination() -> dict[str, Any]:
    event = load_event("batch_delayed")
    del event["batch"]["rolled_to_batch_id"], event["batch"]["new_value_date"]
    return event


@pytest.mark.parametrize(
    ("base", "path", "value", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in FIELD_RULES],
)
def test_each_field_rule_answers_422_naming_the_field(
    client: FlaskClient, base: str, path: str, value: Any, field: str
) -> None:
    response = post(client, mutate(load_event(base), path, value))
    error = assert_envelope(response, 422)
    assert error["code"] == "validation_error"
    assert field in error["fields"], error["fields"]


def test_batch_delayed_needs_a_new_batch_or_value_date(client: FlaskClient) -> None:
    error = assert_envelope(post(client, _delayed_without_destination()), 422)
    assert "batch.rolled_to_batch_id" in error["fields"]


def test_null_for_every_field_names_that_field(client: FlaskClient) -> None:
    event = load_event("l2_final")
    paths = list(_paths(event))
    for path in paths:
        error = assert_envelope(post(client, mutate(event, path, None)), 422)
        assert path in error["fields"], (path, error["fields"])


def _paths(node: Any, prefix: str = "") -> Iterator[str]:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, dict | list):
            yield from _paths(value, f"{path}.")


@pytest.mark.parametrize("name", VALID_EVENTS)
def test_valid_events_are_accepted_then_replayed_then_conflict(
    client: FlaskClient, name: str
) -> None:
    event = load_event(name)
    first = post(client, event)
    assert first.status_code == 202, first.json
    assert first.json["event_id"] == event["event_id"]  # type: ignore[index]
    again = post(client, event)
    assert again.status_code == 200
    assert again.json == first.json
    changed = mutate(event, "occurred_at", "2026-11-24T14:06:00Z")
    error = assert_envelope(post(client, changed), 409)
    assert error["code"] == "event_id_conflict"
    assert "event_id" in error["fields"]


def test_the_same_instant_written_differently_is_the_same_body(client: FlaskClient) -> None:
    """Canonical form: Z and +00:00, "-0" and "0", 1e2 and "100" hash alike."""
    event = load_event("l1_final")
    assert post(client, event).status_code == 202
    respelled = mutate(event, "occurred_at", "2026-11-24t14:05:00.000+00:00")
    respelled = mutate(respelled, "trade.quantity", Raw("15E2"))
    assert post(client, respelled).status_code == 200


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("1500", "1500"), ("1.5E3", "1500"), ("0.10", "0.10"), ("1E-7", "0.0000001")],
)
def test_exact_json_numbers_are_accepted(
    client: FlaskClient, runtime: Runtime, raw: str, stored: str
) -> None:
    from sqlalchemy import select

    from notifier.models import FinalityEvent

    event = mutate(load_event("l1_final"), "trade.fx_rate", Raw(raw))
    assert post(client, event).status_code == 202
    with runtime.db.session() as session:
        body = session.scalar(select(FinalityEvent.body))
    assert body is not None and body["trade"]["fx_rate"] == stored


@pytest.mark.parametrize("offset", ["Z", "z", "+05:30", "-08:00"])
def test_rfc3339_offsets_are_accepted(client: FlaskClient, offset: str) -> None:
    event = mutate(load_event("l1_final"), "occurred_at", f"2026-11-24T14:05:00{offset}")
    assert post(client, event).status_code == 202


# --- the body itself


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{", id="truncated"),
        pytest.param("", id="empty"),
        pytest.param("{'event_id': 'x'}", id="single quotes"),
        pytest.param('{"a": NaN}', id="NaN"),
        pytest.param('{"a": -Infinity}', id="Infinity"),
        pytest.param('{"a": 1, "a": 2}', id="repeated key"),
        pytest.param('{"a": ' + "1" * 5000 + "}", id="5000-digit integer"),
        pytest.param(b'{"event_id": "\xff\xfe"}', id="not UTF-8"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="nested too deeply"),
        pytest.param('["not", "an", "object"]', id="array"),
        pytest.param('"a string"', id="string"),
        pytest.param("null", id="null"),
    ],
)
def test_malformed_json_is_400(client: FlaskClient, body: str | bytes) -> None:
    error = assert_envelope(post(client, body), 400)
    assert error["code"] == "malformed_json"


def test_a_malformed_body_is_not_echoed(client: FlaskClient) -> None:
    response = post(client, '{"event_id": "ntf_hunter2hunter2", oops}')
    assert_envelope(response, 400)
    assert b"hunter2" not in response.data


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml"],
)
def test_wrong_content_type_is_415(client: FlaskClient, content_type: str) -> None:
    response = client.post(
        "/v1/events",
        data=json.dumps(load_event("l1_final")),
        headers={**PRODUCER, "Content-Type": content_type},
    )
    assert assert_envelope(response, 415)["code"] == "unsupported_media_type"


def test_missing_content_type_is_415(client: FlaskClient) -> None:
    response = client.post("/v1/events", data=json.dumps(load_event("l1_final")), headers=PRODUCER)
    assert_envelope(response, 415)


def test_json_with_a_charset_is_fine(client: FlaskClient) -> None:
    response = client.post(
        "/v1/events",
        data=json.dumps(load_event("l1_final")),
        headers={**PRODUCER, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 202, response.json


def test_wrong_method_is_405_in_the_envelope(client: FlaskClient) -> None:
    assert_envelope(client.delete("/v1/events", headers=PRODUCER), 405)


# --- keys


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no header"),
        pytest.param({"Authorization": "Bearer"}, id="no key"),
        pytest.param({"Authorization": "Bearer ntf_not_a_key"}, id="unknown key"),
        pytest.param({"Authorization": "Basic YWRtaW46YWRtaW4="}, id="basic auth"),
        pytest.param({"Authorization": "ntf_test_producer_key_0123456789"}, id="no scheme"),
    ],
)
def test_without_a_valid_key_is_401(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/events", json=load_event("l1_final"), headers=headers)
    assert assert_envelope(response, 401)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_support_key_cannot_post_events(client: FlaskClient) -> None:
    response = client.post("/v1/events", json=load_event("l1_final"), headers=SUPPORT)
    assert assert_envelope(response, 403)["code"] == "forbidden"


# --- size limits


@pytest.fixture
def small_app(env: dict[str, str]) -> Iterator[Flask]:
    app = create_app(load_settings({**env, "NOTIFIER_MAX_BODY_BYTES": "4096"}))
    app.extensions["notifier"].db.upgrade()
    yield app
    app.extensions["notifier"].db.dispose()


def test_a_body_over_the_limit_is_413_in_the_envelope(small_app: Flask) -> None:
    client = small_app.test_client()
    fine = post(client, load_event("l1_final"))
    assert fine.status_code == 202, fine.json
    too_big = mutate(load_event("l2_final"), "trade.instrument.name", "n" * 5000)
    response = post(client, too_big)
    error = assert_envelope(response, 413)
    assert error["code"] == "request_entity_too_large"


def test_a_10_mb_string_within_the_limit_is_a_422(tmp_path: Path) -> None:
    env = make_env(
        tmp_path / "var",
        f"sqlite:///{tmp_path / 'big.sqlite'}",
        NOTIFIER_ENQUEUE="0",
        NOTIFIER_MAX_BODY_BYTES=str(11 * 1024 * 1024),
    )
    app = create_app(load_settings(env))
    app.extensions["notifier"].db.upgrade()
    client = app.test_client()
    huge = "x" * (10 * 1024 * 1024)
    for path in ("event_id", "trade.instrument.name", "trade.quantity", "occurred_at", huge):
        event = load_event("l1_final")
        event = {**event, huge: 1} if path == huge else mutate(event, path, huge)
        response = post(client, event)
        error = assert_envelope(response, 422)
        assert len(response.data) < 10_000  # field named, value not echoed
        assert error["fields"]
    app.extensions["notifier"].db.dispose()


# --- no value reaches a 500, and none is echoed


def test_submitted_values_are_never_echoed(client: FlaskClient) -> None:
    secret = "ntf_s3cr3t_value_that_must_not_leak"
    for path in ("trade.quantity", "occurred_at", "trade.currency", "finality.layer", "sequence"):
        response = post(client, mutate(load_event("l1_final"), path, secret))
        assert_envelope(response, 422)
        assert secret.encode() not in response.data, path


_SCALARS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**64,
    10**300,
    Raw("1e400"),
    Raw("-1e-400"),
    Raw("1.0"),
    "",
    " ",
    "x",
    "x" * 5000,
    "\ud800",
    "\udfff\ud800",
    "a\x00b",
    "\u202e\u0644",
    "1e5",
    "NaN",
    "-0",
    "0",
    "1500",
    "2026-11-24",
    "2026-11-24T14:03:12",
    "2026-11-24T14:03:12Z",
    "9999-12-31T23:59:59-23:59",
    "L2",
    "final",
    "batch.delayed",
    "USD",
]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.6 or depth > 2:
        return rng.choice(_SCALARS)
    if roll < 0.7:
        # Deep nesting as raw text: building it as Python objects would hit the
        # recursion limit in deepcopy before the service ever saw it.
        depth_of = rng.choice([10, 200, 900, 5000])
        opener, closer = ("[", "]") if rng.random() < 0.5 else ('{"k":', "}")
        return Raw(opener * depth_of + '"x"' + closer * depth_of)
    if roll < 0.85:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(["a", "event_id", "trade", "batch_id", "\ud800", "x" * 300]): _random_value(
            rng, depth + 1
        )
        for _ in range(rng.randint(0, 3))
    }


def _fuzzed_events(count: int, seed: int) -> Iterator[tuple[int, dict[str, Any]]]:
    rng = random.Random(seed)
    bases = {name: load_event(name) for name in VALID_EVENTS}
    for index in range(count):
        event = copy.deepcopy(bases[rng.choice(VALID_EVENTS)])
        event["event_id"] = f"fuzz-{index}"
        for _ in range(rng.randint(1, 3)):
            paths = list(_paths(event))
            action = rng.random()
            if action < 0.1 or not paths:
                parent: Any = event
                parent[rng.choice(["extra", "trade", "batch", "reason", "finality"])] = (
                    _random_value(rng)
                )
                continue
            path = rng.choice(paths)
            event = mutate(event, path, DELETE if action < 0.3 else _random_value(rng))
        yield index, event


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[FlaskClient]:
    """The fuzz runs on SQLite only: the rules it checks live before the database."""
    env = make_env(tmp_path / "var", f"sqlite:///{tmp_path / 'fuzz.sqlite'}", NOTIFIER_ENQUEUE="0")
    app = create_app(load_settings(env))
    app.extensions["notifier"].db.upgrade()
    yield app.test_client()
    app.extensions["notifier"].db.dispose()


def test_fuzzed_events_never_get_a_500(sqlite_client: FlaskClient) -> None:
    statuses: dict[int, int] = {}
    for index, event in _fuzzed_events(count=400, seed=20261124):
        response = post(sqlite_client, event)
        status = response.status_code
        statuses[status] = statuses.get(status, 0) + 1
        assert status in {200, 202, 409} or 400 <= status < 500, (index, response.data[:500])
        if status >= 400:
            assert_envelope(response, status)
    # The fuzz must exercise both sides, or it is testing nothing.
    assert statuses.get(422, 0) > 100 and statuses.get(202, 0) > 5, statuses


def test_fuzzed_events_never_get_a_500_on_either_database(client: FlaskClient) -> None:
    for index, event in _fuzzed_events(count=60, seed=7):
        response = post(client, event)
        assert response.status_code < 500, (index, response.data[:500])


def test_decimal_json_numbers_reach_the_schema_as_decimal() -> None:
    """The parse the schema relies on: no float ever, even for 0.1."""
    from notifier.api.schemas.events import DecimalString

    field = DecimalString()
    assert field.deserialize(Decimal("0.1")) == Decimal("0.1")
    assert field.deserialize(Decimal("1E+2")) == Decimal(100)
    with pytest.raises(Exception, match="decimal"):
        field.deserialize(0.1)


def test_support_can_read_an_event_producers_post(client: FlaskClient) -> None:
    assert post(client, load_event("l2_provisional")).status_code == 202
    view = client.get("/v1/events/evt-l2-prov-0001", headers=SUPPORT)
    assert view.status_code == 200
    assert view.json["event_id"] == "evt-l2-prov-0001"  # type: ignore[index]
    assert_envelope(client.get("/v1/events/nope", headers=auth("ntf_wrong")), 401)
    assert_envelope(client.get("/v1/events/nope", headers=SUPPORT), 404)


# --- contract v1.1: execution confirmations, outcomes, amounts that add up ------------

V11_RULES: list[tuple[str, str, str, Any, str]] = [
    ("gross is not qty x price", "l1_final", "trade.gross_amount", "151851.77",
     "trade.gross_amount"),
    ("buy net leaves out charges", "l1_final", "trade.net_amount", "151851.75",
     "trade.net_amount"),
    ("sell net adds charges", "l1_final", "trade.side", "sell", "trade.net_amount"),
    ("LEI malformed", "trade_executed", "trade.regulatory.firm_lei", "LEI1",
     "trade.regulatory.firm_lei"),
    ("PFOF received a string", "trade_executed", "trade.regulatory.payment_for_order_flow.received",
     "yes", "trade.regulatory.payment_for_order_flow.received"),
    ("executed with finality", "trade_executed", "finality", A_FINALITY, "finality"),
    ("outcome action unknown", "batch_failed_fallback", "outcome.action", "retry",
     "outcome.action"),
    ("cancelled outcome with a date", "batch_failed_fallback", "outcome.action", "cancelled",
     "outcome.settlement_date"),
    ("outcome on a final trade", "l1_final", "outcome", {"action": "cancelled"}, "outcome"),
    ("outcome on batch.final", "batch_final", "outcome", {"action": "cancelled"}, "outcome"),
    ("new_batch_end_at on batch.final", "batch_final", "batch.new_batch_end_at",
     "2026-11-26T02:00:00Z", "batch.new_batch_end_at"),
    ("new_batch_end_at before the end", "batch_delayed", "batch.new_batch_end_at",
     "2026-11-20T02:00:00Z", "batch.new_batch_end_at"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("base", "path", "value", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in V11_RULES],
)
def test_contract_v1_1_rules_answer_422_naming_the_field(
    client: FlaskClient, base: str, path: str, value: Any, field: str
) -> None:
    error = assert_envelope(post(client, mutate(load_event(base), path, value)), 422)
    assert field in error["fields"], error["fields"]


def test_a_mismatched_gross_gets_422_naming_trade_gross_amount(client: FlaskClient) -> None:
    event = mutate(load_event("l1_final"), "trade.quantity", "1400")
    error = assert_envelope(post(client, event), 422)
    assert set(error["fields"]) == {"trade.gross_amount"}
    assert "quantity * unit_price" in error["fields"]["trade.gross_amount"][0]


def test_a_sell_nets_the_charges_off_the_gross(client: FlaskClient) -> None:
    event = mutate(load_event("l1_final"), "trade.side", "sell")
    event = mutate(event, "trade.net_amount", "151837.73")
    assert post(client, event).status_code == 202


def test_charges_in_another_currency_are_not_counted(client: FlaskClient) -> None:
    event = mutate(load_event("l1_final"), "trade.commission", {"amount": "9", "currency": "EUR"})
    event = mutate(event, "trade.net_amount", "151853.27")
    assert post(client, event).status_code == 202


def test_amounts_within_the_tolerance_in_minor_units_pass(client: FlaskClient) -> None:
    off_by_a_cent = mutate(load_event("l1_final"), "trade.gross_amount", "151851.76")
    off_by_a_cent = mutate(off_by_a_cent, "trade.net_amount", "151865.78")
    assert post(client, off_by_a_cent).status_code == 202
    yen = mutate(load_event("l1_final", event_id="evt-jpy"), "trade.currency", "JPY")
    for path, value in [
        ("trade.unit_price", "1012.5"),
        ("trade.quantity", "1499"),
        ("trade.gross_amount", "1517737"),  # 1,517,737.5 rounded: within one yen
        ("trade.commission", {"amount": "1250", "currency": "JPY"}),
        ("trade.fees", []),
        ("trade.net_amount", "1518987"),
    ]:
        yen = mutate(yen, path, value)
    assert post(client, yen).status_code == 202, post(client, yen).json


def test_the_tolerance_is_configurable(env: dict[str, str]) -> None:
    app = create_app(load_settings({**env, "NOTIFIER_AMOUNT_TOLERANCE_MINOR_UNITS": "100"}))
    app.extensions["notifier"].db.upgrade()
    try:
        event = mutate(load_event("l1_final"), "trade.gross_amount", "151852.50")
        event = mutate(event, "trade.net_amount", "151866.52")
        assert post(app.test_client(), event).status_code == 202
    finally:
        app.extensions["notifier"].db.dispose()
