"""Affirmation deadlines: under a fixed clock, an unaffirmed confirmation escalates once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Flask

from notifier.notices.affirmation import affirmation_cutoff
from notifier.notices.escalation import escalate_unaffirmed
from notifier.runtime import Runtime
from notifier.worker import pipeline
from tests.conftest import PRODUCER, SUPPORT, load_event
from tests.support.flows import notice_view, register_client, webhook_channel
from tests.support.receivers import WebhookReceiver


def test_us_and_eu_cutoffs(runtime: Runtime) -> None:
    nyse = runtime.calendar.for_venue("XNYS")
    executed = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    # US: 21:00 New York on the trade date (DTC's affirmation cutoff).
    us = affirmation_cutoff("US", date(2026, 11, 24), executed, nyse)
    assert us == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    # EU: the end of the first business day after execution (Friday → Monday).
    xetr = runtime.calendar.for_venue("XETR")
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    eu = affirmation_cutoff("EU", date(2026, 11, 27), friday, xetr)
    assert eu == datetime(2026, 12, 1, 0, 0, tzinfo=xetr.zone)


def test_unaffirmed_confirmation_escalates_once_before_its_deadline(
    app: Flask, runtime: Runtime, webhook_receiver: WebhookReceiver
) -> None:
    now = [datetime(2026, 11, 24, 20, 0, tzinfo=UTC)]
    runtime.clock = lambda: now[0]
    client = app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    response = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
    (final,) = response.json["notice_ids"]
    pipeline.process_notices(runtime, [final])
    view = notice_view(client, final)
    assert view["status"] == "delivered"
    affirm_by = datetime.fromisoformat(view["affirmation"]["affirm_by"])
    assert affirm_by == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)

    lead = timedelta(seconds=runtime.settings.affirmation_lead_seconds)
    now[0] = affirm_by - lead - timedelta(minutes=1)
    assert escalate_unaffirmed(runtime) == []  # not yet within the lead time
    now[0] = affirm_by - lead + timedelta(minutes=1)
    (escalation,) = escalate_unaffirmed(runtime)
    now[0] = affirm_by - timedelta(minutes=5)
    assert escalate_unaffirmed(runtime) == []  # once
    assert now[0] < affirm_by

    escalated = notice_view(client, escalation)
    assert escalated["kind"] == "escalation" and escalated["variant"] == "affirmation_at_risk"
    assert notice_view(client, final)["affirmation"]["escalated_at"] is not None
    pipeline.process_notices(runtime, [escalation])  # it renders (no support channel here)
    assert "Affirmation deadline at risk" in (notice_view(client, escalation)["text"] or "")

    report = client.get("/v1/reports/affirmations?by=client", headers=SUPPORT)
    assert report.status_code == 200, report.json
    assert report.json["rows"] == [
        {"client": "acme", "confirmations": 1, "affirmed": 0, "affirmed_on_time": 0, "rate": 0.0}
    ]
    by_day = client.get("/v1/reports/affirmations?by=day", headers=SUPPORT).json["rows"]
    assert [row["day"] for row in by_day] == ["2026-11-25"]
    assert client.get("/v1/reports/affirmations?by=week", headers=SUPPORT).status_code == 422
