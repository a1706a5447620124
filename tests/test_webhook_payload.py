"""Webhook payload v1: every kind and variant matches the checked-in JSON Schema.

Payloads are checked three ways: built from every sample context (tests/support/samples.py),
built from the notices of every replayed scenario (real events through intake and worker),
and as received by a real HTTP endpoint from the real worker. The examples in
docs/webhooks.md are checked against the same schema.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.orm import Session

from notifier.config import PROJECT_ROOT
from notifier.delivery.payload import webhook_payload
from notifier.models import Notice
from notifier.tools.replay import replay_file
from tests.conftest import DATABASES, PRODUCER, load_event
from tests.support import samples
from tests.support.flows import register_client, wait_for_status, webhook_channel
from tests.support.receivers import WebhookReceiver
from tests.support.worker import WorkerProcess

SCHEMA_PATH = PROJECT_ROOT / "docs" / "schemas" / "webhook-notice-v1.json"
DOC_PATH = PROJECT_ROOT / "docs" / "webhooks.md"
SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.jsonl"))
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
KINDS = {s.removeprefix("notice.") for s in SCHEMA["properties"]["type"]["enum"]}


def check(payload: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(payload)]
    assert not errors, errors
    # The schema lets receivers meet fields added later; the payload must not run ahead of it.
    assert set(payload["data"]) == set(SCHEMA["$defs"]["data"]["properties"])


@dataclass
class StoredNotice:
    """A stand-in for a stored, rendered notice (the payload reads only these attributes)."""

    kind: str
    variant: str | None
    context: dict[str, Any]
    id: int = 421
    client_id: str = "acme"
    trade_id: str | None = None
    batch_id: str | None = None
    locale: str = "de_DE"
    subject: str | None = "Betreff"
    body_text: str | None = "Text\n"
    body_html: str | None = "<p>HTML</p>\n"
    body_md: str | None = "**Markdown**\n"
    supersedes_id: int | None = None
    resend_of_id: int | None = None
    deadline_at: datetime | None = None
    rendered_at: datetime | None = field(default_factory=lambda: datetime(2026, 11, 25, tzinfo=UTC))
    created_at: datetime = field(default_factory=lambda: datetime(2026, 11, 25, tzinfo=UTC))


def _as_stored(kind: str, variant: str, context: dict[str, Any]) -> StoredNotice:
    """Give a sample context the shapes the service stores (notice ids are integers)."""
    context = copy.deepcopy(context)
    if context.get("original"):
        context["original"]["notice_id"] = 412
    for number, item in enumerate(context.get("affected", [])):
        item["notice_id"] = 500 + number
    trade = context.get("trade") or {}
    return StoredNotice(
        kind=kind,
        variant=None if variant == "-" else variant,
        context=context,
        trade_id=trade.get("trade_id"),
        supersedes_id=412 if kind in {"correction", "cancellation", "reversal"} else None,
        deadline_at=datetime(2026, 11, 25, 21, tzinfo=UTC) if kind.startswith("conf") else None,
    )


def test_the_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize(("kind", "variant"), list(samples.all_samples()))
def test_every_sample_kind_and_variant_validates(kind: str, variant: str) -> None:
    context = samples.all_samples()[kind, variant]
    # "fallback_l1" names a sample (a batch failure with a Layer-1 outcome), not a variant.
    stored = "batch_failed" if variant == "fallback_l1" else variant
    payload = webhook_payload(_as_stored(kind, stored, context))
    check(payload)
    assert payload["type"] == f"notice.{kind}"


def test_an_l2_final_confirmation_carries_its_facts_as_machine_values() -> None:
    payload = webhook_payload(_as_stored("confirmation_l2", "final", samples.l2_final()))
    data = payload["data"]
    assert (data["lane"], data["status"]) == ("L2", "final")
    assert data["final_at"] == "2026-11-25T02:00:00+00:00"
    assert data["batch_id"] == "B-2026-11-24-PM"
    assert data["batch_end_at"] == "2026-11-25T02:00:00+00:00"
    assert data["liquidity_buffer_usd"] == "2500000.00"
    assert data["deadline_at"] == "2026-11-25T21:00:00+00:00"
    trade = data["trade"]
    assert (trade["quantity"], trade["unit_price"], trade["currency"]) == (
        "1500",
        "101.2345",
        "USD",
    )
    assert (trade["gross_amount"], trade["net_amount"]) == ("151851.75", "151865.77")
    assert trade["fees"] == [
        {"kind": "SEC fee", "amount": "0.42", "currency": "USD"},
        {"kind": "Exchange fee", "amount": "1.10", "currency": "USD"},
    ]
    assert trade["executed_at"] == "2026-11-24T14:03:12.250000+00:00"


def test_a_failed_batch_reversal_says_failed_not_the_reversed_status() -> None:
    payload = webhook_payload(
        _as_stored("reversal", "batch_failed", samples.reversal("batch_failed"))
    )
    data = payload["data"]
    assert (data["lane"], data["status"], data["final_at"]) == ("L2", "failed", None)
    assert data["reason"] == {
        "code": "LIQUIDITY_SHORTFALL",
        "text": "The batch liquidity check failed.",
    }
    assert data["original_notice_id"] == 412


def _replayed_notices(scenario: Path, database_url: str) -> list[Notice]:
    replay_file(scenario, database_url)
    engine = sa.create_engine(database_url)
    try:
        with Session(engine) as session:
            notices = list(session.scalars(sa.select(Notice).order_by(Notice.id)))
            session.expunge_all()
            return notices
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", DATABASES)
def test_payloads_of_every_replayed_scenario_validate(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fresh: Callable[[str], str] = lambda name: f"sqlite:///{tmp_path / name}.sqlite"  # noqa: E731
    if database == "postgresql":
        factory = request.getfixturevalue("postgres_schema_factory")
        fresh = lambda name: factory()  # noqa: E731
    seen: set[tuple[str, str | None]] = set()
    for scenario in SCENARIOS:
        for notice in _replayed_notices(scenario, fresh(scenario.stem)):
            if notice.subject is None:  # never rendered (replaced before it was sent)
                continue
            check(webhook_payload(notice))
            seen.add((notice.kind, notice.variant))
    assert {kind for kind, _ in seen} == KINDS
    assert ("confirmation_l2", "final") in seen and ("reversal", "batch_failed") in seen


def test_a_receiver_reads_the_facts_without_parsing_localized_text(
    live_app: Flask, worker: WorkerProcess, webhook_receiver: WebhookReceiver
) -> None:
    """In de_DE the buffer reads "2.500.000,00 $" in the prose; the payload says 2500000.00."""
    client = live_app.test_client()
    register_client(
        client, [webhook_channel(webhook_receiver.url)], locale="de_DE", timezone="Europe/Berlin"
    )
    response = client.post("/v1/events", json=load_event("l2_final"), headers=PRODUCER)
    assert response.status_code == 202, response.json
    ids = response.json["notice_ids"]
    for notice_id in ids:
        wait_for_status(client, notice_id, {"delivered"})
    hooks = webhook_receiver.wait_for(len(ids))
    for hook in hooks:
        check(hook.payload)
        assert hook.headers["webhook-id"]
    (confirmation,) = [h.payload for h in hooks if h.payload["type"] == "notice.confirmation_l2"]
    data = confirmation["data"]
    assert "2.500.000,00" in data["text"]  # the prose is German
    assert data["liquidity_buffer_usd"] == "2500000.00"
    assert (data["lane"], data["status"]) == ("L2", "final")
    assert data["final_at"] == "2026-11-25T02:00:00+00:00"
    assert data["batch_end_at"] == "2026-11-25T02:00:00+00:00"
    assert data["event_id"] == "evt-l2-final-0001"
    assert data["trade"]["unit_price"] == "101.2345"
    assert data["deadline_at"] is not None


def _doc_examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)\n```", DOC_PATH.read_text(), flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_the_doc_shows_one_valid_example_per_kind() -> None:
    # Payload v1 documents carry "version"; the status webhook example (to producers) does not.
    examples = [e for e in _doc_examples() if "data" in e and "version" in e]
    for example in examples:
        check(example)
    assert {e["type"].removeprefix("notice.") for e in examples} == KINDS
