"""Support finds notices, reads their timeline, and resends a marked copy with a reason."""

from __future__ import annotations

from flask import Flask

from notifier.models import Notice
from notifier.runtime import Runtime
from notifier.worker import pipeline
from tests.conftest import PRODUCER, SUPPORT, load_event
from tests.support.flows import notice_view, register_client, webhook_channel
from tests.support.receivers import WebhookReceiver


def _deliver(app: Flask, runtime: Runtime, ids: list[int]) -> None:
    with app.app_context():
        pipeline.process_notices(runtime, ids)


def test_resend_sends_a_copy_and_audits_the_reason(
    app: Flask, runtime: Runtime, webhook_receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    posted = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
    (notice_id,) = posted.json["notice_ids"]

    early = client.post(
        f"/v1/notices/{notice_id}/resend", json={"reason": "client asked"}, headers=SUPPORT
    )
    assert early.status_code == 409, "a notice not sent yet is not resent"

    _deliver(app, runtime, [notice_id])
    reason = "Client's back office lost the original"
    answer = client.post(
        f"/v1/notices/{notice_id}/resend", json={"reason": reason}, headers=SUPPORT
    )
    assert answer.status_code == 202, answer.json
    copy_id = answer.json["notice_id"]
    assert answer.json["resend_of"] == notice_id
    _deliver(app, runtime, [copy_id])

    copy_view = notice_view(client, copy_id)
    assert copy_view["status"] == "delivered"
    assert copy_view["resend_of_id"] == notice_id
    assert copy_view["subject"].startswith("COPY")
    (first, second) = webhook_receiver.wait_for(2)
    assert "COPY" in second.payload["data"]["text"] and "COPY" not in first.payload["data"]["text"]
    assert second.headers["webhook-id"] != first.headers["webhook-id"]
    timeline = notice_view(client, notice_id)["timeline"]
    resend_entries = [e for e in timeline if e["action"] == "resend"]
    assert len(resend_entries) == 1
    assert reason in resend_entries[0]["reason"] and resend_entries[0]["actor"] == "support-key"


def test_resend_refusals(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    assert (
        client.post(
            "/v1/notices/999/resend", json={"reason": "why not"}, headers=SUPPORT
        ).status_code
        == 404
    )
    assert client.post("/v1/notices/1/resend", json={}, headers=SUPPORT).status_code == 422
    assert (
        client.post("/v1/notices/1/resend", json={"reason": "x"}, headers=PRODUCER).status_code
        == 403
    )


def test_superseded_notice_points_at_its_replacement(
    app: Flask, runtime: Runtime, webhook_receiver: WebhookReceiver
) -> None:
    client = app.test_client()
    register_client(client, [webhook_channel(webhook_receiver.url)])
    original = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
    (notice_id,) = original.json["notice_ids"]
    _deliver(app, runtime, [notice_id])
    corrected = load_event("trade_corrected")
    corrected["trade"]["trade_id"] = load_event("l1_final")["trade"]["trade_id"]
    corrected["supersedes_event_id"] = "evt-l1-final-0001"
    response = client.post("/v1/events", json=corrected, headers=PRODUCER)
    assert response.status_code == 202, response.json
    (correction_id,) = response.json["notice_ids"]
    refused = client.post(
        f"/v1/notices/{notice_id}/resend", json={"reason": "again please"}, headers=SUPPORT
    )
    assert refused.status_code == 409
    assert refused.json["error"]["fields"]["replaced_by"] == [str(correction_id)]


def test_search_filters_and_pages(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    register_client(client, [], client_id="acme")
    register_client(client, [], client_id="beta")
    for name, client_id in (("l1_final", "acme"), ("l2_final", "beta")):
        event = load_event(name)
        event["trade"]["client_id"] = client_id
        assert client.post("/v1/events", json=event, headers=PRODUCER).status_code == 202
    everything = client.get("/v1/notices", headers=SUPPORT).json["notices"]
    assert [n["kind"] for n in everything] == ["confirmation_l2", "primer_l2", "confirmation_l1"]
    beta = client.get("/v1/notices?client_id=beta&kind=confirmation_l2", headers=SUPPORT).json
    assert [n["client_id"] for n in beta["notices"]] == ["beta"]
    by_event = client.get("/v1/notices?event_id=evt-l1-final-0001", headers=SUPPORT).json
    assert [n["kind"] for n in by_event["notices"]] == ["confirmation_l1"]
    page = client.get("/v1/notices?limit=2", headers=SUPPORT).json
    assert len(page["notices"]) == 2 and page["next_before_id"] == page["notices"][-1]["id"]
    rest = client.get(f"/v1/notices?before_id={page['next_before_id']}", headers=SUPPORT).json
    assert len(rest["notices"]) == 1 and rest["next_before_id"] is None
    bad = client.get("/v1/notices?status=lost&limit=0", headers=SUPPORT)
    assert bad.status_code == 422
    assert {"status", "limit"} <= set(bad.json["error"]["fields"])


def test_events_for_unknown_clients_are_listed_for_support(app: Flask) -> None:
    client = app.test_client()
    register_client(client, [], client_id="acme")
    stray = load_event("l1_final", event_id="evt-stray")
    stray["trade"]["client_id"] = "nobody"
    answer = client.post("/v1/events", json=stray, headers=PRODUCER)
    assert answer.status_code == 202 and answer.json["status"] == "unknown_client"
    assert (
        client.post("/v1/events", json=load_event("l2_final"), headers=PRODUCER).status_code == 202
    )
    found = client.get("/v1/events?status=unknown_client", headers=SUPPORT).json["events"]
    assert [(e["event_id"], e["client_id"]) for e in found] == [("evt-stray", "nobody")]
    assert "not registered" in found[0]["reason"]
    assert client.get("/v1/events?status=nope", headers=SUPPORT).status_code == 422


def test_a_notice_that_cannot_be_rendered_fails_and_escalates(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    register_client(client, [], client_id="acme")
    posted = client.post("/v1/events", json=load_event("l1_final"), headers=PRODUCER)
    (notice_id,) = posted.json["notice_ids"]
    with runtime.db.session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        notice.context = {k: v for k, v in notice.context.items() if k != "trade"}
    with app.app_context():
        follow_up = pipeline.process_notices(runtime, [notice_id])
    view = notice_view(client, notice_id)
    assert view["status"] == "failed"
    failed = [e for e in view["timeline"] if e["to"] == "failed"]
    assert "could not be rendered" in failed[0]["reason"]
    (escalation_id,) = follow_up.notice_ids
    escalation = notice_view(client, escalation_id)
    assert (escalation["kind"], escalation["variant"]) == ("escalation", "delivery_failed")
    # Run again (the relay would): nothing more happens.
    with app.app_context():
        assert pipeline.process_notices(runtime, [notice_id]).notice_ids == []
