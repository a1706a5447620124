"""Scenario event logs replay to their checked-in reports, twice identically.

The replay runs the real intake, the worker's Celery task (in process) and the relay,
with a fixed clock, on SQLite and on PostgreSQL. To accept a deliberate change of the
reports, run with ``NOTIFIER_UPDATE_SCENARIOS=1`` and review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from notifier.tools.replay import replay_file
from tests.conftest import DATABASES

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.jsonl"))
REQUIRED = {
    "l1_happy_path",
    "l2_provisional_then_batch_final",
    "l2_batch_failure_three_clients",
    "batch_delayed_then_final",
    "correction_after_final",
    "cancellation",
    "events_out_of_order",
    "duplicate_events",
    "unknown_client",
    # issue 7: finality semantics
    "executed_l1_confirmed_at_once",
    "executed_without_confirmation_escalates",
    "batch_failed_fallback_to_l1",
    "batch_failed_after_final_revokes",
    "trade_reverted_while_batch_finalises",
    "batch_failed_before_provisional",
    "correction_moves_trade_to_another_client",
    "correction_after_reversal",
    "cancellation_shows_voided_figures",
    "delay_then_final_in_rolled_batch",
    "roll_into_final_batch",
    "trade_level_delayed",
    "amounts_must_add_up",
    "regulatory_disclosures",
    "events_out_of_order_without_sequence",
}


def test_every_required_scenario_is_there() -> None:
    assert {p.stem for p in SCENARIOS} >= REQUIRED
    for path in SCENARIOS:
        assert path.with_suffix(".expected.md").exists(), f"{path.name} has no expected report"


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_replays_to_its_expected_report(
    scenario: Path, database: str, request: pytest.FixtureRequest
) -> None:
    fresh: Callable[[], str | None] = lambda: None  # noqa: E731  # a temporary SQLite file
    if database == "postgresql":
        fresh = request.getfixturevalue("postgres_schema_factory")
    first = replay_file(scenario, fresh())
    second = replay_file(scenario, fresh())
    assert first == second, "the replay is not deterministic"
    expected_path = scenario.with_suffix(".expected.md")
    if os.environ.get("NOTIFIER_UPDATE_SCENARIOS") == "1" and database == DATABASES[0]:
        expected_path.write_text(first)
    assert first == expected_path.read_text()
