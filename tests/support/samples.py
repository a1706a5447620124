"""One realistic context per notice kind and variant, exactly as docs/notice-contexts.md says.

The trade and finality blocks follow ``tests/data/*.json`` (contract v1). Every call returns
fresh, deep-copied dicts, so a test may change a sample without touching the others.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

FIRM = {"name": "Northwind Securities LLC", "support_url": "https://support.northwind.example"}
CLIENT = {"id": "acme", "name": "Acme Treasury"}
SUPPORT = {"id": "support", "name": "Support"}
LINKS = {
    "explainer": "https://northwind.example/settlement/layer-2",
    "announcement": "https://northwind.example/news/2026-layer-2-settlement",
}


def _event(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((DATA_DIR / name).read_text())
    return body


def _common(event_id: str, client: dict[str, str] = CLIENT) -> dict[str, Any]:
    return {"firm": dict(FIRM), "client": dict(client), "event_id": event_id, "copy": False}


def _computed(label: str, final_on: str) -> dict[str, Any]:
    """The keys planning.with_cycle_label adds to a final block (docs/notice-contexts.md)."""
    return {
        "cycle_label": label,
        "cycle_calendar": "XNYS",
        "final_on": final_on,
        "cycle_label_mismatch": False,
    }


def l1_final() -> dict[str, Any]:
    """Layer-1 final confirmation; the trade settles in EUR terms, so it carries an FX rate."""
    body = _event("l1_final.json")
    body["trade"]["fx_rate"] = "0.9231"
    finality = dict(body["finality"], **_computed("T+1", "2026-11-25"))
    return {
        **_common(body["event_id"]),
        "trade": body["trade"],
        "finality": finality,
        "execution": None,  # no execution confirmation came first: this one asks for a check
        "deadline_at": "2026-11-26T05:00:00+00:00",
    }


def l2_provisional() -> dict[str, Any]:
    body = _event("l2_provisional.json")
    return {**_common(body["event_id"]), "trade": body["trade"], "finality": body["finality"]}


def l2_final() -> dict[str, Any]:
    body = _event("l2_final.json")
    # 02:00 UTC on the 25th is 21:00 on the 24th in New York: final on the trade date.
    finality = dict(body["finality"], **_computed("T+0", "2026-11-24"))
    execution = _original(
        "N-000409", "Trade confirmation: Buy 1,500 ACME (trade T-20261124-0003) — executed", "x"
    )
    return {
        **_common(body["event_id"]),
        "trade": body["trade"],
        "finality": finality,
        "execution": execution,  # a settlement-status notice names the execution confirmation
        "deadline_at": None,
    }


def _original(notice_id: str, subject: str, event_id: str) -> dict[str, Any]:
    """A replaced notice that went out (see ``planning.original_ref``)."""
    return {
        "notice_id": notice_id,
        "event_id": event_id,
        "trade_id": "T-20261124-0002",
        "sent": True,
        "subject": subject,
        "sent_at": "2026-11-24T14:05:02+00:00",
    }


def never_sent(context: dict[str, Any]) -> dict[str, Any]:
    """The same notice context, referencing a notice replaced before it went out."""
    original = dict(context["original"], sent=False, subject=None, sent_at=None)
    return dict(context, original=original)


PROVISIONAL_SUBJECT = "Provisional trade confirmation: Buy 1,500 ACME — pending Layer-2 finality"


def primer_l2() -> dict[str, Any]:
    return {**_common("evt-l2-prov-0001"), "links": dict(LINKS)}


OUTCOME_FALLBACK = {
    "action": "fallback_l1",
    "settlement_date": "2026-11-26",
    "settlement_system": "DTC",
    "client_action": "Keep the USD funds available in account ACME-001 until then.",
    "respond_by": "2026-11-25T21:00:00+00:00",
}
REGULATORY = {
    "firm_lei": "5493001KJTIIGC8Y1R12",
    "order_nature": "New order, client-initiated",
    "agent_remuneration": {"amount": "12.50", "currency": "USD"},
    "payment_for_order_flow": {"received": False},
    "settlement_instructions": "Pay USD 151,865.77 to account ACME-001 by the settlement date.",
}


def execution_confirmation() -> dict[str, Any]:
    """The execution confirmation (FIX AK): trade details, no finality, a check-by time."""
    trade = dict(_event("l1_final.json")["trade"], regulatory=copy.deepcopy(REGULATORY))
    return {
        **_common("evt-executed-0001"),
        "trade": trade,
        "deadline_at": "2026-11-25T23:00:00+00:00",
    }


def finality_revoked() -> dict[str, Any]:
    """batch.failed after batch.final: the final L2 confirmation's finality is revoked."""
    base = l2_final()
    return {
        **_common("evt-batch-failed-0002"),
        "variant": "batch_failed",
        "trade": base["trade"],
        "finality": base["finality"],
        "batch": {"batch_id": base["finality"]["l2"]["batch_id"]},
        "reason": {"code": "LIQUIDITY_SHORTFALL", "text": "The batch liquidity check failed."},
        "outcome": dict(OUTCOME_FALLBACK),
        "original": _original(
            "N-000413", "Trade confirmation: Buy 1,500 ACME — final on Layer-2", base["event_id"]
        ),
    }


def reversal(variant: str) -> dict[str, Any]:
    base = l2_provisional()
    batch_id = base["finality"]["l2"]["batch_id"]
    if variant == "batch_failed":
        event_id, batch = "evt-batch-failed-0001", {"batch_id": batch_id}
        reason = {"code": "LIQUIDITY_SHORTFALL", "text": "The batch liquidity check failed."}
    elif variant == "trade_reverted":
        event_id, batch, reason = "evt-l2-reverted-0001", None, None
    elif variant == "trade_failed":
        event_id, batch = "evt-l2-failed-0001", None
        reason = {"code": "COUNTERPARTY_DEFAULT", "text": "The counterparty did not deliver."}
    elif variant == "fallback_l1":  # contract v1.1: the outcome and the client's action
        context = reversal("batch_failed")
        return dict(context, event_id="evt-batch-failed-0003", outcome=dict(OUTCOME_FALLBACK))
    else:
        raise ValueError(variant)
    return {
        **_common(event_id),
        "trade": base["trade"],
        "finality": base["finality"],
        "batch": batch,
        "reason": reason,
        "original": _original("N-000412", PROVISIONAL_SUBJECT, base["event_id"]),
    }


def delay_of_trade() -> dict[str, Any]:
    """A trade-level delayed: the trade's batch now ends later; no batch event."""
    context = delay()
    context.update(
        event_id="evt-l2-delayed-0001",
        variant="trade",
        batch={"batch_id": "B-2026-11-24-PM", "new_batch_end_at": "2026-11-25T06:00:00+00:00"},
        expected_final_by="2026-11-25T06:30:00+00:00",
        reason=None,
    )
    return context


def delay() -> dict[str, Any]:
    base = l2_provisional()
    return {
        **_common("evt-batch-delayed-0001"),
        "trade": base["trade"],
        "batch": {
            "batch_id": base["finality"]["l2"]["batch_id"],
            "batch_end_at": base["finality"]["l2"]["batch_end_at"],
            "rolled_to_batch_id": "B-2026-11-25-AM",
            "new_value_date": "2026-11-26",
            "new_batch_end_at": "2026-11-25T14:00:00+00:00",
        },
        "expected_final_by": None,
        "reason": {"code": "NETTING_DELAYED", "text": "Netting did not finish before cut-off."},
        "original": _original("N-000412", PROVISIONAL_SUBJECT, base["event_id"]),
    }


def correction() -> dict[str, Any]:
    base = l2_final()
    trade = dict(base["trade"], quantity="1400", gross_amount="141728.30", net_amount="141742.32")
    return {
        **_common("evt-l2-corrected-0001"),
        "trade": trade,
        "finality": base["finality"],
        # "booking_note" is not a trade key the templates know: it must show up raw.
        "changed_fields": ["quantity", "gross_amount", "net_amount", "booking_note"],
        "changes": [
            {"field": "quantity", "old": "1500", "new": "1400"},
            {"field": "gross_amount", "old": "151851.75", "new": "141728.30"},
            {"field": "net_amount", "old": "151865.77", "new": "141742.32"},
            {"field": "booking_note", "old": None, "new": "re-booked"},
        ],
        "finality_reversed": False,
        "original": _original(
            "N-000413",
            "Trade confirmation: Buy 1,500 ACME — final on Layer-2",
            base["event_id"],
        ),
    }


def correction_without_finality() -> dict[str, Any]:
    context = correction()
    context["finality"] = None
    return context


def correction_after_reversal() -> dict[str, Any]:
    context = correction()
    context.update(finality=None, finality_reversed=True)
    return context


def cancellation_reallocated() -> dict[str, Any]:
    """A correction moved the trade to another client: the old client's confirmation is void."""
    context = cancellation()
    context.update(event_id="evt-l1-corrected-0002", variant="reallocated", reason=None)
    return context


def cancellation() -> dict[str, Any]:
    base = l1_final()
    return {
        **_common("evt-l1-cancelled-0001"),
        "trade": base["trade"],
        "reason": {"code": "CLIENT_REQUEST", "text": "Cancelled at the client's request."},
        "original": _original(
            "N-000410",
            "Trade confirmation: Buy 1,500 ACME — settled on Layer-1",
            base["event_id"],
        ),
    }


def escalation(cause: str) -> dict[str, Any]:
    batch_causes = ("batch_failed", "finality_revoked")
    batch = {"batch_id": "B-2026-11-24-PM"} if cause in batch_causes else None
    reason = {
        "batch_failed": {
            "code": "LIQUIDITY_SHORTFALL",
            "text": "The batch liquidity check failed.",
        },
        "trade_reverted": {"code": "EXCHANGE_REVERSAL", "text": "The exchange reverted the trade."},
        "finality_revoked": {
            "code": "LIQUIDITY_SHORTFALL",
            "text": "The batch failed after it was reported final.",
        },
        "deadline_at_risk": None,
        "delivery_failed": {"code": "SMTP_550", "text": "Mailbox unavailable."},
        "channel_outage": {"code": None, "text": "hook (https://hooks.acme.example/…): HTTP 503"},
        "channel_disabled": {"code": None, "text": "hook (https://hooks.acme.example/…)"},
    }[cause]
    affected = [
        {
            "client_id": "acme",
            "client_name": "Acme Treasury",
            "trade_id": "T-20261124-0002",
            "notice_id": "N-000412",
        },
        {
            "client_id": "globex",
            "client_name": "Globex Pension Fund",
            "trade_id": "T-20261124-0007",
            "notice_id": "N-000419",
        },
    ]
    if cause in {"trade_reverted", "delivery_failed", "channel_outage", "channel_disabled"}:
        affected = affected[:1]
    deadline_at = "2026-11-25T21:00:00+00:00" if cause == "deadline_at_risk" else None
    return {
        **_common(f"evt-{cause.replace('_', '-')}-0001", SUPPORT),
        "cause": cause,
        "batch": batch,
        "reason": reason,
        "affected": affected,
        "counts": {"trades": len(affected), "clients": len({a["client_id"] for a in affected})},
        "deadline_at": deadline_at,
    }


REVERSAL_VARIANTS = ("batch_failed", "trade_reverted", "trade_failed", "fallback_l1")
ESCALATION_CAUSES = (
    "batch_failed",
    "trade_reverted",
    "deadline_at_risk",
    "delivery_failed",
    "channel_outage",
    "channel_disabled",
    "finality_revoked",
)


def all_samples() -> dict[tuple[str, str], dict[str, Any]]:
    """Every (kind, variant) with its context; variant "-" where the kind has none."""
    samples: dict[tuple[str, str], dict[str, Any]] = {
        ("confirmation_l1", "final"): l1_final(),
        ("confirmation_l2", "provisional"): l2_provisional(),
        ("confirmation_l2", "final"): l2_final(),
        ("primer_l2", "-"): primer_l2(),
        ("delay", "-"): delay(),
        ("correction", "-"): correction(),
        ("correction", "no_finality"): correction_without_finality(),
        ("cancellation", "-"): cancellation(),
        ("cancellation", "reallocated"): cancellation_reallocated(),
        ("execution_confirmation", "-"): execution_confirmation(),
        ("finality_revoked", "batch_failed"): finality_revoked(),
        ("delay", "trade"): delay_of_trade(),
        ("correction", "after_reversal"): correction_after_reversal(),
    }
    for variant in REVERSAL_VARIANTS:
        samples[("reversal", variant)] = reversal(variant)
    for cause in ESCALATION_CAUSES:
        samples[("escalation", cause)] = escalation(cause)
    return copy.deepcopy(samples)
