"""Unit tests of the plan builders in notices/kinds.py: what each plan says, keyed and
linked as the outbox needs it. Builders read no database for a notice not yet stored, so
these run on plain objects and a runtime for the settings and calendars.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from notifier.config import load_settings
from notifier.models import Client, Notice
from notifier.notices import kinds
from notifier.runtime import Runtime
from tests.conftest import load_event, make_env

EVENT = "evt-unit-0001"


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    url = f"sqlite:///{tmp_path / 'unused.sqlite'}"  # no builder here reads it
    return Runtime.from_settings(load_settings(make_env(tmp_path / "var", url)))


ACME = Client(id="acme", name="Acme", regime="US")
GLOBEX = Client(id="globex", name="Globex", regime="US")


def trade(**changes: Any) -> dict[str, Any]:
    return load_event("l2_provisional")["trade"] | changes


def finality() -> dict[str, Any]:
    body: dict[str, Any] = load_event("l2_provisional")["finality"]
    return body


def confirmation(notice_id: int = 7, client: Client = ACME, **context: Any) -> Notice:
    """A stored L2 confirmation as a later notice sees it (not sent: no session)."""
    return Notice(
        id=notice_id,
        kind="confirmation_l2",
        variant="provisional",
        client_id=client.id,
        trade_id=trade()["trade_id"],
        batch_id=finality()["l2"]["batch_id"],
        context={"trade": trade(), "finality": finality()} | context,
    )


def test_a_confirmation_is_keyed_by_kind_status_and_trade(rt: Runtime) -> None:
    plan = kinds.confirmation_plan(rt, ACME, EVENT, trade(), finality())
    assert (plan.kind, plan.variant) == ("confirmation_l2", "provisional")
    assert plan.dedup_key == f"confirmation_l2:provisional:{trade()['trade_id']}"
    assert plan.batch_id == finality()["l2"]["batch_id"]
    assert plan.context["execution"] is None and plan.context["deadline_at"]


def test_a_confirmation_after_an_execution_notice_names_it_and_asks_no_deadline(
    rt: Runtime,
) -> None:
    execution = Notice(id=3, kind="execution_confirmation", client_id="acme", trade_id="T")
    plan = kinds.confirmation_plan(rt, ACME, EVENT, trade(), finality(), execution)
    assert plan.context["execution"]["notice_id"] == 3
    assert plan.context["execution"]["sent"] is False  # never went out: no subject shown
    assert plan.context["deadline_at"] is None
    assert plan.deadline_at is not None  # support still watches the deadline


def test_the_primer_goes_once_per_client(rt: Runtime) -> None:
    assert kinds.primer_plan(rt, ACME, EVENT).dedup_key == "primer_l2:acme"


def test_a_trade_delay_is_keyed_by_its_event(rt: Runtime) -> None:
    plan = kinds.delay_plan(
        rt,
        ACME,
        EVENT,
        scope="trade",
        trade_id="T-1",
        trade=trade(trade_id="T-1"),
        latest=None,
        batch=None,
        reason=None,
        expected_final_by="2026-11-26T02:00:00Z",
    )
    assert (plan.variant, plan.batch_id, plan.dedup_key) == ("trade", None, f"delay:trade:{EVENT}")
    assert plan.context["trade"]["trade_id"] == "T-1"
    assert plan.context["original"] is None


def test_a_batch_delay_is_keyed_by_batch_destination_and_trade(rt: Runtime) -> None:
    latest = confirmation()
    batch = {"batch_id": "B-1", "rolled_to_batch_id": "B-2"}
    plan = kinds.delay_plan(
        rt,
        ACME,
        EVENT,
        scope="batch",
        trade_id="T-9",
        trade={"trade_id": "ignored"},
        latest=latest,
        batch=batch,
        reason={"code": "X", "text": "congestion"},
        rolled_to="B-2",
    )
    assert (plan.variant, plan.batch_id, plan.dedup_key) == (None, "B-1", "delay:B-1:B-2:T-9")
    assert plan.context["variant"] == "batch"
    assert plan.context["trade"] == latest.context["trade"], "as the client last saw it"
    assert plan.context["original"]["notice_id"] == latest.id


def test_a_correction_lists_what_changed_and_supersedes_the_original(rt: Runtime) -> None:
    original = confirmation()
    new = trade(quantity="1600", client_id="acme")
    plan = kinds.correction_plan(
        rt, ACME, EVENT, trade=new, original=original, finality=None, finality_reversed=True
    )
    assert plan.supersedes_id == original.id
    assert plan.dedup_key == f"correction:{EVENT}:acme"
    assert plan.context["changes"] == [{"field": "quantity", "old": "1500", "new": "1600"}]
    assert plan.context["finality"] is None and plan.context["finality_reversed"] is True
    assert plan.context["reallocated"] is False


def test_a_correction_to_another_client_hides_the_old_account(rt: Runtime) -> None:
    new = trade(client_id="globex", account="GLOBEX-9")
    plan = kinds.correction_plan(
        rt,
        GLOBEX,
        EVENT,
        trade=new,
        original=confirmation(),
        finality=finality() | {"status": "final", "final_at": "2026-11-25T02:00:00+00:00"},
        finality_reversed=False,
    )
    assert plan.context["reallocated"] is True
    assert plan.context["changed_fields"] == []
    assert plan.context["finality"]["cycle_label"], "the T+N label is computed, not copied"


@pytest.mark.parametrize(
    ("variant", "stored"), [("cancelled", None), ("reallocated", "reallocated")]
)
def test_a_cancellation_voids_the_original(rt: Runtime, variant: str, stored: str | None) -> None:
    original = confirmation()
    plan = kinds.cancellation_plan(
        rt,
        ACME,
        EVENT,
        trade_id="T-5",
        original=original,
        reason={"code": "REALLOCATED", "text": ""},
        variant=variant,
    )
    assert (plan.kind, plan.variant, plan.supersedes_id) == ("cancellation", stored, original.id)
    assert plan.dedup_key == "cancellation:T-5:acme"
    assert plan.context["reason"] is None, "a reason with no text is not shown"
    assert plan.context["trade"] == original.context["trade"]


@pytest.mark.parametrize("kind", ["reversal", "finality_revoked"])
def test_a_failure_plan_supersedes_the_latest_confirmation(rt: Runtime, kind: str) -> None:
    latest = confirmation()
    plan = kinds.failure_plan(
        rt,
        ACME,
        EVENT,
        kind=kind,
        variant="batch_failed",
        trade=trade(),
        latest=latest,
        batch_id="B-1",
        failure={"reason": {"code": "R"}, "outcome": {"action": "retry"}},
    )
    assert (plan.kind, plan.supersedes_id) == (kind, latest.id)
    assert plan.dedup_key == f"{kind}:{trade()['trade_id']}"
    assert plan.context["reason"] == {"code": "R"}
    assert plan.context["finality"] == latest.context["finality"]


def test_an_escalation_goes_to_support_and_counts_what_is_affected(rt: Runtime) -> None:
    affected = [
        {"client_id": "acme", "trade_id": "T-1"},
        {"client_id": "acme", "trade_id": "T-2"},
        {"client_id": "globex", "trade_id": "T-2"},
    ]
    plan = kinds.escalation_plan(
        rt, cause="batch_failed", key="B-1", event_id=EVENT, affected=affected, batch_id="B-1"
    )
    assert plan.for_support and plan.client_id == kinds.SUPPORT_AUDIENCE
    assert plan.dedup_key == "escalation:batch_failed:B-1"
    assert plan.context["counts"] == {"trades": 2, "clients": 2}


def test_a_copy_repeats_the_notice_marked_copy_without_touching_it(rt: Runtime) -> None:
    original = confirmation(notice_id=11)
    before = copy.deepcopy(original.context)
    plan = kinds.copy_plan(original, first=11, number=2)
    assert (plan.kind, plan.variant, plan.resend_of_id) == (original.kind, original.variant, 11)
    assert plan.dedup_key == "resend:11:2"
    assert plan.context["copy"] is True
    assert original.context == before, "the original's stored context is not changed"


def test_each_builder_builds_the_kind_it_is_registered_for(rt: Runtime) -> None:
    built = {
        kinds.confirmation_plan(rt, ACME, EVENT, trade(), finality()).kind,
        kinds.primer_plan(rt, ACME, EVENT).kind,
        kinds.execution_plan(rt, ACME, EVENT, trade()).kind,
        kinds.escalation_plan(rt, cause="c", key="k", event_id=EVENT, affected=[]).kind,
    }
    for kind in built:
        assert kind in kinds.KINDS
    assert kinds.BUILDERS["execution_confirmation"] is kinds.execution_plan
    assert kinds.BUILDERS["confirmation_l1"] is kinds.BUILDERS["confirmation_l2"]
