"""Webhook payload v1: a notice as machine values, for signed-webhook channels.

Documented in ``docs/webhooks.md`` and described by ``docs/schemas/webhook-notice-v1.json``.
The facts come from the notice's stored context (what the event said, as contract v1
values), never from the rendered prose: a receiver reads the same decimal strings and UTC
times whatever the client's locale. The rendered subject and bodies ride along for
receivers that show them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

PAYLOAD_VERSION = 1

# What each reversal variant means for the trade's finality.
_REVERSAL_STATUS = {
    "batch_failed": "failed",
    "trade_failed": "failed",
    "trade_reverted": "reverted",
}


class NoticeRecord(Protocol):
    """The stored notice the payload is built from (``models.Notice`` is one)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def variant(self) -> str | None: ...
    @property
    def client_id(self) -> str: ...
    @property
    def trade_id(self) -> str | None: ...
    @property
    def batch_id(self) -> str | None: ...
    @property
    def locale(self) -> str: ...
    @property
    def context(self) -> dict[str, Any]: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def body_text(self) -> str | None: ...
    @property
    def body_html(self) -> str | None: ...
    @property
    def body_md(self) -> str | None: ...
    @property
    def supersedes_id(self) -> int | None: ...
    @property
    def resend_of_id(self) -> int | None: ...
    @property
    def deadline_at(self) -> datetime | None: ...
    @property
    def rendered_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


def webhook_payload(notice: NoticeRecord, ack_url: str | None = None) -> dict[str, Any]:
    """Return the JSON document a signed webhook carries for ``notice``.

    ``ack_url`` is the confirmation's acknowledgement link (null for other notices): a
    receiver POSTs ``{"status": "affirmed" | "disputed", …}`` to it.
    """
    context = notice.context
    data: dict[str, Any] = {
        "notice_id": notice.id,
        "kind": notice.kind,
        "variant": notice.variant,
        "client_id": notice.client_id,
        "event_id": context.get("event_id"),
        "trade_id": notice.trade_id,
        "batch_id": notice.batch_id,
        "supersedes_notice_id": notice.supersedes_id,
        "resend_of_notice_id": notice.resend_of_id,
        "copy": bool(context.get("copy")),
        "locale": notice.locale,
        "deadline_at": utc(notice.deadline_at),
        **finality_facts(notice.kind, notice.variant, context),
        **reference_facts(context),
        "trade": trade_facts(context.get("trade")),
        "subject": notice.subject,
        "text": notice.body_text,
        "html": notice.body_html,
        "markdown": notice.body_md,
        "ack_url": ack_url,
    }
    if data["batch_id"] is None:  # a batch named only in the context (a delay, a reversal)
        data["batch_id"] = _batch_id(context)
    return {
        "version": PAYLOAD_VERSION,
        "type": f"notice.{notice.kind}",
        # In UTC as stored, also when the notice was rendered in this same transaction.
        "timestamp": utc(notice.rendered_at or notice.created_at),
        "data": data,
    }


def finality_facts(kind: str, variant: str | None, context: dict[str, Any]) -> dict[str, Any]:
    """Lane, status and the times and amounts of the finality the notice reports."""
    finality = context.get("finality") or {}
    batch = context.get("batch") or {}
    l2 = finality.get("l2") or {}
    l1 = finality.get("l1") or {}
    status = _status(kind, variant, finality)
    return {
        "lane": finality.get("layer") or ("L2" if kind == "delay" else None),
        "status": status,
        "final_at": utc(finality.get("final_at")) if status == "final" else None,
        "cycle_label": finality.get("cycle_label") if status == "final" else None,
        "expected_final_by": utc(finality.get("expected_final_by")),
        "batch_end_at": utc(l2.get("batch_end_at") or batch.get("batch_end_at")),
        "liquidity_buffer_usd": decimal_string(l2.get("liquidity_buffer_usd")),
        "netting_set_id": l2.get("netting_set_id"),
        "exchange_ref": l2.get("exchange_ref"),
        "settlement_system": l1.get("settlement_system"),
        "settlement_ref": l1.get("settlement_ref"),
        "rolled_to_batch_id": batch.get("rolled_to_batch_id"),
        "new_value_date": _date(batch.get("new_value_date")),
    }


def _status(kind: str, variant: str | None, finality: dict[str, Any]) -> str | None:
    if kind == "reversal":
        return _REVERSAL_STATUS.get(variant or "", "failed")
    if kind == "delay":
        return "delayed"
    if kind == "cancellation":
        return "cancelled"
    if kind in {"confirmation_l1", "confirmation_l2", "correction"}:
        status = finality.get("status")
        return str(status) if status else None
    return None  # the primer and escalations report no trade's finality


def reference_facts(context: dict[str, Any]) -> dict[str, Any]:
    """What the notice refers to: the notice it replaces, the reason, the escalation."""
    original = context.get("original") or {}
    reason = context.get("reason")
    return {
        "original_notice_id": original.get("notice_id"),
        "original_event_id": original.get("event_id"),
        "reason": {"code": reason.get("code"), "text": reason.get("text")} if reason else None,
        "changed_fields": list(context.get("changed_fields") or []),
        "cause": context.get("cause"),
        "affected": [_affected(item) for item in context.get("affected") or []],
        "counts": dict(context["counts"]) if context.get("counts") else None,
        "links": dict(context["links"]) if context.get("links") else None,
    }


def trade_facts(trade: dict[str, Any] | None) -> dict[str, Any] | None:
    """The trade's identity and economics as contract v1 values (decimal strings, UTC)."""
    if not trade:
        return None
    instrument = trade.get("instrument") or {}
    commission = trade.get("commission")
    return {
        "trade_id": trade.get("trade_id"),
        "client_id": trade.get("client_id"),
        "account": trade.get("account"),
        "side": trade.get("side"),
        "instrument": {k: instrument.get(k) for k in ("symbol", "name", "isin", "cusip")},
        "quantity": decimal_string(trade.get("quantity")),
        "unit_price": decimal_string(trade.get("unit_price")),
        "currency": trade.get("currency"),
        "gross_amount": decimal_string(trade.get("gross_amount")),
        "commission": _money(commission) if commission else None,
        "fees": [{"kind": fee.get("kind"), **_money(fee)} for fee in trade.get("fees") or []],
        "net_amount": decimal_string(trade.get("net_amount")),
        "fx_rate": decimal_string(trade.get("fx_rate")),
        "trade_date": _date(trade.get("trade_date")),
        "executed_at": utc(trade.get("executed_at")),
        "settlement_date": _date(trade.get("settlement_date")),
        "venue_mic": trade.get("venue_mic"),
        "order_type": trade.get("order_type"),
        "capacity": trade.get("capacity"),
    }


def _money(entry: dict[str, Any]) -> dict[str, Any]:
    return {"amount": decimal_string(entry.get("amount")), "currency": entry.get("currency")}


def _batch_id(context: dict[str, Any]) -> str | None:
    l2 = (context.get("finality") or {}).get("l2") or {}
    batch = context.get("batch") or {}
    found = l2.get("batch_id") or batch.get("batch_id")
    return str(found) if found else None


def decimal_string(value: Any) -> str | None:
    """A decimal as a plain string (``"2500000.00"``), never a float or an exponent."""
    if value is None or value == "":
        return None
    try:
        return format(Decimal(str(value)), "f")
    except InvalidOperation:
        return str(value)  # not a number: passed on as the producer sent it


def utc(value: str | datetime | None) -> str | None:
    """An RFC 3339 time in UTC (``2026-11-25T02:00:00+00:00``)."""
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:  # stored times are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _date(value: str | date | None) -> str | None:
    if value is None or value == "":
        return None
    return (date.fromisoformat(value) if isinstance(value, str) else value).isoformat()


def _affected(item: dict[str, Any]) -> dict[str, Any]:
    """An affected trade; ``notice_id`` is null where no notice was ever written for it."""
    notice_id = item.get("notice_id")
    return dict(item, notice_id=notice_id if isinstance(notice_id, int) else None)
