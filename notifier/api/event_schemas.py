"""Contract v1 for finality events (docs/events.md), as marshmallow schemas.

Loading returns Decimal and aware datetimes; dumping gives the canonical JSON form that
is stored, hashed for idempotency and handed to the templates.
"""

from __future__ import annotations

import decimal
import re
from typing import Any

from babel.numbers import list_currencies
from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

EVENT_TYPES = (
    "trade.finality",
    "trade.corrected",
    "trade.cancelled",
    "batch.final",
    "batch.failed",
    "batch.delayed",
)
FINALITY_STATUSES = ("provisional", "final", "failed", "reverted", "delayed")
CURRENCIES = frozenset(list_currencies())
_DECIMAL_TEXT = re.compile(r"^-?\d{1,20}(\.\d{1,12})?$")
_CYCLE_LABEL = re.compile(r"^T\+\d{1,2}(\.5)?$")


class DecimalString(fields.Field[decimal.Decimal]):
    """A decimal given as a string ("1234.56") or an exactly parsed JSON number.

    The request body is parsed with ``parse_float=Decimal``, so a JSON number reaches
    this field as a Decimal, never as a float.
    """

    default_error_messages = {  # noqa: RUF012  # marshmallow reads this class attribute
        "invalid": 'Not a valid decimal: give a string such as "1234.56".',
        "range": "Must be {rule}.",
    }

    def __init__(
        self, *, minimum: decimal.Decimal | None = None, positive: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.positive = positive

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> decimal.Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | decimal.Decimal):
            raise self.make_error("invalid")
        text = str(value)
        if not _DECIMAL_TEXT.match(text):
            raise self.make_error("invalid")
        number = decimal.Decimal(text)
        if self.positive and number <= 0:
            raise self.make_error("range", rule="greater than 0")
        if self.minimum is not None and number < self.minimum:
            raise self.make_error("range", rule=f"at least {self.minimum}")
        return number

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)


class Currency(fields.String):
    default_error_messages = {"currency": "Not an ISO 4217 currency code."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        code = super()._deserialize(value, attr, data, **kwargs)
        if code not in CURRENCIES:
            raise self.make_error("currency")
        return code


def _timestamp(**kwargs: Any) -> fields.AwareDateTime:
    # RFC 3339 with an offset: naive times are refused, never guessed.
    return fields.AwareDateTime(format="iso", **kwargs)


def _text(max_len: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_len), **kwargs)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class InstrumentSchema(_Strict):
    symbol = _text(32, required=True)
    name = _text(200, required=True)
    isin = fields.String(
        validate=validate.Regexp(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$", error="Not a valid ISIN.")
    )
    cusip = fields.String(
        validate=validate.Regexp(r"^[A-Z0-9]{8}[0-9]$", error="Not a valid CUSIP.")
    )


class MoneySchema(_Strict):
    amount = DecimalString(required=True, minimum=decimal.Decimal(0))
    currency = Currency(required=True)


class FeeSchema(MoneySchema):
    kind = _text(64, required=True)


class TradeSchema(_Strict):
    trade_id = _text(128, required=True)
    client_id = _text(128, required=True)
    account = _text(64, required=True)
    side = fields.String(required=True, validate=validate.OneOf(("buy", "sell")))
    instrument = fields.Nested(InstrumentSchema, required=True)
    quantity = DecimalString(required=True, positive=True)
    unit_price = DecimalString(required=True, positive=True)
    currency = Currency(required=True)
    gross_amount = DecimalString(required=True, minimum=decimal.Decimal(0))
    commission = fields.Nested(MoneySchema)
    fees = fields.List(fields.Nested(FeeSchema), validate=validate.Length(max=20))
    net_amount = DecimalString(required=True, minimum=decimal.Decimal(0))
    fx_rate = DecimalString(positive=True)
    trade_date = fields.Date(required=True)
    executed_at = _timestamp(required=True)
    settlement_date = fields.Date(required=True)
    venue_mic = fields.String(
        validate=validate.Regexp(r"^[A-Z0-9]{4}$", error="Not a valid ISO 10383 MIC.")
    )
    order_type = fields.String(
        validate=validate.OneOf(("market", "limit", "stop", "stop_limit", "other"))
    )
    capacity = fields.String(
        required=True, validate=validate.OneOf(("agent", "principal", "riskless_principal"))
    )

    @validates_schema
    def _dates_in_order(self, data: dict[str, Any], **_: Any) -> None:
        if "trade_date" in data and "settlement_date" in data:
            if data["settlement_date"] < data["trade_date"]:
                raise ValidationError("Must not be before trade_date.", "settlement_date")


class L1Schema(_Strict):
    settlement_system = _text(64, required=True)
    settlement_ref = _text(128, required=True)


class L2Schema(_Strict):
    batch_id = _text(128, required=True)
    batch_window_start = _timestamp()
    batch_end_at = _timestamp(required=True)
    netting_set_id = _text(128)
    liquidity_buffer_usd = DecimalString(required=True, minimum=decimal.Decimal(0))
    exchange_ref = _text(128)

    @validates_schema
    def _window_in_order(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("batch_window_start"), data.get("batch_end_at")
        if start and end and end < start:
            raise ValidationError("Must not be before batch_window_start.", "batch_end_at")


class FinalitySchema(_Strict):
    layer = fields.String(required=True, validate=validate.OneOf(("L1", "L2")))
    status = fields.String(required=True, validate=validate.OneOf(FINALITY_STATUSES))
    final_at = _timestamp()
    cycle_label = fields.String(
        validate=validate.Regexp(_CYCLE_LABEL, error="Must look like T+1 or T+0.5.")
    )
    expected_final_by = _timestamp()
    l1 = fields.Nested(L1Schema)
    l2 = fields.Nested(L2Schema)

    @validates_schema
    def _layer_rules(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data.get("layer") == "L2" and "l2" not in data:
            errors["l2"] = ["Required when layer is L2."]
        if data.get("layer") == "L1" and "l2" in data:
            errors["l2"] = ["Only allowed when layer is L2."]
        if data.get("layer") == "L2" and "l1" in data:
            errors["l1"] = ["Only allowed when layer is L1."]
        if data.get("status") == "final" and "final_at" not in data:
            errors["final_at"] = ["Required when status is final."]
        if errors:
            raise ValidationError(errors)


class BatchSchema(_Strict):
    batch_id = _text(128, required=True)
    batch_end_at = _timestamp(required=True)
    final_at = _timestamp()
    rolled_to_batch_id = _text(128)
    new_value_date = fields.Date()


class ReasonSchema(_Strict):
    code = _text(64, required=True)
    text = _text(1000, required=True)


# Which blocks each event type needs, and which it must not carry.
_REQUIRES: dict[str, tuple[str, ...]] = {
    "trade.finality": ("trade", "finality"),
    "trade.corrected": ("trade", "supersedes_event_id"),
    "trade.cancelled": ("trade", "supersedes_event_id", "reason"),
    "batch.final": ("batch",),
    "batch.failed": ("batch", "reason"),
    "batch.delayed": ("batch", "reason"),
}
_FORBIDS: dict[str, tuple[str, ...]] = {
    "trade.finality": ("batch",),
    "trade.corrected": ("batch",),
    "trade.cancelled": ("batch",),
    "batch.final": ("trade", "finality"),
    "batch.failed": ("trade", "finality"),
    "batch.delayed": ("trade", "finality"),
}


class FinalityEventSchema(_Strict):
    event_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    occurred_at = _timestamp(required=True)
    sequence = fields.Integer(strict=True, validate=validate.Range(min=0, max=2**62))
    supersedes_event_id = fields.String(validate=validate.Length(min=1, max=128))
    trade = fields.Nested(TradeSchema)
    finality = fields.Nested(FinalitySchema)
    batch = fields.Nested(BatchSchema)
    reason = fields.Nested(ReasonSchema)

    @validates_schema
    def _type_rules(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("type")
        if kind not in _REQUIRES:
            return
        errors: dict[str, list[str]] = {}
        for name in _REQUIRES[kind]:
            if name not in data:
                errors[name] = [f"Required for type {kind}."]
        for name in _FORBIDS[kind]:
            if name in data:
                errors[name] = [f"Not allowed for type {kind}."]
        if kind == "batch.delayed":
            batch = data.get("batch") or {}
            if "rolled_to_batch_id" not in batch and "new_value_date" not in batch:
                errors["batch.rolled_to_batch_id"] = [
                    "batch.delayed needs rolled_to_batch_id or new_value_date."
                ]
        if errors:
            raise ValidationError(errors)


class EventAcceptedSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = fields.String()
    status = fields.String()
    notice_ids = fields.List(fields.Integer())
