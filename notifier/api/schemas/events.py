"""Contract v1 for finality events (docs/events.md), as marshmallow schemas.

Loading returns Decimal and aware datetimes; dumping gives the canonical JSON form that
is stored, hashed for idempotency and handed to the templates.

Error messages never repeat the submitted value: a misplaced field may carry a secret.
"""

from __future__ import annotations

import decimal
import re
from datetime import UTC, date, datetime
from typing import Any

from babel.numbers import get_currency_precision, list_currencies
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

EVENT_TYPES = (
    "trade.executed",
    "trade.finality",
    "trade.corrected",
    "trade.cancelled",
    "batch.final",
    "batch.failed",
    "batch.delayed",
)
FINALITY_STATUSES = ("provisional", "final", "failed", "reverted", "delayed")
OUTCOME_ACTIONS = ("fallback_l1", "cancelled")
DEFAULT_TOLERANCE_MINOR_UNITS = 1
CURRENCIES = frozenset(list_currencies())
MAX_INTEGER_DIGITS = 20
MAX_FRACTION_DIGITS = 12
# Dates outside this window are typos, and would make business-day arithmetic crawl.
FIRST_YEAR, LAST_YEAR = 2000, 2099
# The events.sequence column is a 32-bit INTEGER.
MAX_SEQUENCE = 2**31 - 1

# re.ASCII: \d must not match other scripts' digits; fullmatch: "$" would let "\n" in.
_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,12})?", re.ASCII)
_DECIMAL_SHAPE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_CYCLE_LABEL = re.compile(r"T\+[0-9]{1,2}(?:\.5)?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)
# C0 and C1 controls (tab and newlines allowed where text may span lines) and unpaired
# surrogates, which JSON's \ud800 escapes can smuggle in and no database can store.
_BAD_CHARS_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_CHARS_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _fullmatch(pattern: str, error: str) -> validate.Regexp:
    return validate.Regexp(re.compile(rf"(?:{pattern})\Z", re.ASCII), error=error)


class DecimalString(fields.Field[decimal.Decimal]):
    """A decimal given as a string ("1234.56") or an exactly parsed JSON number.

    The request body is parsed with ``parse_float=Decimal``, so a JSON number reaches
    this field as a Decimal, never as a float. A JSON number is accepted when its exact
    value fits the digit limits (``1e2`` is 100); a string must be in plain notation.
    """

    default_error_messages = {  # noqa: RUF012  # marshmallow reads this class attribute
        "invalid": 'Not a valid decimal: give a string such as "1234.56".',
        "digits": (
            f"At most {MAX_INTEGER_DIGITS} digits before the decimal point "
            f"and {MAX_FRACTION_DIGITS} after."
        ),
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
        number = self._parse(value)
        if number.is_zero():
            number = number.copy_abs()  # "-0.00" would print as a negative amount
        if self.positive and number <= 0:
            raise self.make_error("range", rule="greater than 0")
        if self.minimum is not None and number < self.minimum:
            raise self.make_error("range", rule=f"at least {self.minimum}")
        return number

    def _parse(self, value: Any) -> decimal.Decimal:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str):
            if _DECIMAL_TEXT.fullmatch(value):
                return decimal.Decimal(value)
            if len(value) < 1000 and _DECIMAL_SHAPE.fullmatch(value):
                raise self.make_error("digits")
            raise self.make_error("invalid")
        if isinstance(value, int):
            if abs(value) >= 10**MAX_INTEGER_DIGITS:
                raise self.make_error("digits")
            return decimal.Decimal(value)
        if isinstance(value, decimal.Decimal):
            if not value.is_finite():
                raise self.make_error("invalid")
            exponent = value.as_tuple().exponent
            assert isinstance(exponent, int)  # finite, so never "n", "N" or "F"
            # Checked before any formatting: 1e999999999 must not become a huge string.
            if exponent < -MAX_FRACTION_DIGITS or value.adjusted() >= MAX_INTEGER_DIGITS:
                raise self.make_error("digits")
            if exponent > 0:
                value = value.quantize(decimal.Decimal(1))
            return decimal.Decimal(format(value, "f"))
        raise self.make_error("invalid")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format(value, "f")


class Text(fields.String):
    """A non-blank string of bounded length with no control characters."""

    default_error_messages = {  # noqa: RUF012  # marshmallow reads this class attribute
        "blank": "Must not be blank.",
        "chars": "Must not contain control characters or unpaired surrogates.",
    }

    def __init__(self, max_len: int, *, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(min=1, max=max_len), **kwargs)
        self._bad = _BAD_CHARS_MULTILINE if multiline else _BAD_CHARS_LINE

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self._bad.search(text):
            raise self.make_error("chars")
        if text and not text.strip():
            raise self.make_error("blank")
        return text


class Currency(fields.String):
    default_error_messages = {"currency": "Not an ISO 4217 currency code."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        code = super()._deserialize(value, attr, data, **kwargs)
        if code not in CURRENCIES:
            raise self.make_error("currency")
        return code


class Timestamp(fields.Field[datetime]):
    """An RFC 3339 date-time with an offset; naive times are refused, never guessed.

    Python's ``fromisoformat`` (what marshmallow uses) also takes ISO 8601 forms that
    RFC 3339 does not: week dates, ``20261124T1403Z``, ``+0530``, a missing seconds
    field. Producers get one format, so the shape is checked first.
    """

    default_error_messages = {  # noqa: RUF012  # marshmallow reads this class attribute
        "invalid": "Not an RFC 3339 date-time such as 2026-11-24T14:03:12Z.",
        "naive": "Needs a UTC offset (Z or +hh:mm).",
        "range": f"Must be in the years {FIRST_YEAR} to {LAST_YEAR}.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        match = _RFC3339.fullmatch(value)
        if match is None:
            raise self.make_error("invalid")
        if match["offset"] is None:
            raise self.make_error("naive")
        offset = "+00:00" if match["offset"] in "Zz" else match["offset"]
        fraction = f".{match['fraction'][:6]}" if match["fraction"] else ""
        try:
            moment = datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{offset}")
        except ValueError:  # month 13, hour 24, leap second 60, offset beyond 23:59
            raise self.make_error("invalid") from None
        if not FIRST_YEAR <= moment.year <= LAST_YEAR or not (
            FIRST_YEAR <= moment.astimezone(UTC).year <= LAST_YEAR
        ):
            raise self.make_error("range")
        return moment

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.isoformat()


class Day(fields.Field[date]):
    """A calendar date, YYYY-MM-DD (RFC 3339 full-date)."""

    default_error_messages = {  # noqa: RUF012  # marshmallow reads this class attribute
        "invalid": "Not a date such as 2026-11-24.",
        "range": f"Must be in the years {FIRST_YEAR} to {LAST_YEAR}.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise self.make_error("invalid")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise self.make_error("range")
        return day

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.isoformat()


class BoundedList(fields.List[Any]):
    """A list whose length is checked before its items are (30,000 bad fees, one error)."""

    default_error_messages = {"length": "At most {max} items."}  # noqa: RUF012

    def __init__(self, inner: fields.Field[Any], *, max_items: int, **kwargs: Any) -> None:
        super().__init__(inner, **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list) and len(value) > self.max_items:
            raise self.make_error("length", max=self.max_items)
        return super()._deserialize(value, attr, data, **kwargs)


def _enum(*choices: str, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.OneOf(choices), **kwargs)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class InstrumentSchema(_Strict):
    symbol = Text(32, required=True)
    name = Text(200, required=True)
    isin = fields.String(validate=_fullmatch(r"[A-Z]{2}[A-Z0-9]{9}[0-9]", "Not a valid ISIN."))
    cusip = fields.String(validate=_fullmatch(r"[A-Z0-9]{8}[0-9]", "Not a valid CUSIP."))


class MoneySchema(_Strict):
    amount = DecimalString(required=True, minimum=decimal.Decimal(0))
    currency = Currency(required=True)


class FeeSchema(MoneySchema):
    kind = Text(64, required=True)


class MarkupSchema(MoneySchema):
    direction = _enum("markup", "markdown", required=True)


class PaymentForOrderFlowSchema(_Strict):
    received = fields.Boolean(required=True, truthy={True}, falsy={False})
    text = Text(1000, multiline=True)


class RegulatorySchema(_Strict):
    """Contract v1.1: what SEC 10b-10 / FINRA 2232 / MiFID II Art. 59(4) add to a confirmation."""

    firm_lei = fields.String(
        validate=_fullmatch(r"[A-Z0-9]{18}[0-9]{2}", "Not a valid ISO 17442 LEI.")
    )
    order_nature = Text(200)
    agent_remuneration = fields.Nested(MoneySchema)
    markup = fields.Nested(MarkupSchema)
    payment_for_order_flow = fields.Nested(PaymentForOrderFlowSchema)
    settlement_instructions = Text(1000, multiline=True)


class TradeSchema(_Strict):
    trade_id = Text(128, required=True)
    client_id = Text(128, required=True)
    account = Text(64, required=True)
    side = _enum("buy", "sell", required=True)
    instrument = fields.Nested(InstrumentSchema, required=True)
    quantity = DecimalString(required=True, positive=True)
    unit_price = DecimalString(required=True, positive=True)
    currency = Currency(required=True)
    gross_amount = DecimalString(required=True, minimum=decimal.Decimal(0))
    commission = fields.Nested(MoneySchema)
    fees = BoundedList(fields.Nested(FeeSchema), max_items=20)
    net_amount = DecimalString(required=True, minimum=decimal.Decimal(0))
    fx_rate = DecimalString(positive=True)
    trade_date = Day(required=True)
    executed_at = Timestamp(required=True)
    settlement_date = Day(required=True)
    venue_mic = fields.String(validate=_fullmatch(r"[A-Z0-9]{4}", "Not a valid ISO 10383 MIC."))
    order_type = _enum("market", "limit", "stop", "stop_limit", "other")
    capacity = _enum("agent", "principal", "riskless_principal", required=True)
    regulatory = fields.Nested(RegulatorySchema)

    @validates_schema
    def _dates_in_order(self, data: dict[str, Any], **_: Any) -> None:
        trade_date, settlement_date = data.get("trade_date"), data.get("settlement_date")
        if trade_date and settlement_date and settlement_date < trade_date:
            raise ValidationError("Must not be before trade_date.", "settlement_date")


class L1Schema(_Strict):
    settlement_system = Text(64, required=True)
    settlement_ref = Text(128, required=True)


class L2Schema(_Strict):
    batch_id = Text(128, required=True)
    batch_window_start = Timestamp()
    batch_end_at = Timestamp(required=True)
    netting_set_id = Text(128)
    liquidity_buffer_usd = DecimalString(required=True, minimum=decimal.Decimal(0))
    exchange_ref = Text(128)

    @validates_schema
    def _window_in_order(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("batch_window_start"), data.get("batch_end_at")
        if start and end and end < start:
            raise ValidationError("Must not be before batch_window_start.", "batch_end_at")


class FinalitySchema(_Strict):
    layer = _enum("L1", "L2", required=True)
    status = _enum(*FINALITY_STATUSES, required=True)
    final_at = Timestamp()
    cycle_label = fields.String(
        validate=_fullmatch(_CYCLE_LABEL.pattern, "Must look like T+1 or T+0.5.")
    )
    expected_final_by = Timestamp()
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
    batch_id = Text(128, required=True)
    batch_end_at = Timestamp(required=True)
    final_at = Timestamp()
    rolled_to_batch_id = Text(128)
    new_value_date = Day()
    new_batch_end_at = Timestamp()


class OutcomeSchema(_Strict):
    """Contract v1.1: what becomes of a trade whose Layer-2 finality failed or was reverted."""

    action = _enum(*OUTCOME_ACTIONS, required=True)
    settlement_date = Day()
    settlement_system = Text(64)
    client_action = Text(1000, multiline=True)
    respond_by = Timestamp()

    @validates_schema
    def _fallback_fields(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("action") == "fallback_l1":
            return
        errors = {
            name: ["Only allowed when action is fallback_l1."]
            for name in ("settlement_date", "settlement_system")
            if name in data
        }
        if errors:
            raise ValidationError(errors)


class ReasonSchema(_Strict):
    code = Text(64, required=True)
    text = Text(1000, required=True, multiline=True)


# Which blocks each event type needs, and which it must not carry.
_REQUIRES: dict[str, tuple[str, ...]] = {
    "trade.executed": ("trade",),
    "trade.finality": ("trade", "finality"),
    "trade.corrected": ("trade", "supersedes_event_id"),
    "trade.cancelled": ("trade", "supersedes_event_id", "reason"),
    "batch.final": ("batch",),
    "batch.failed": ("batch", "reason"),
    "batch.delayed": ("batch", "reason"),
}
_FORBIDS: dict[str, tuple[str, ...]] = {
    "trade.executed": ("finality", "batch", "supersedes_event_id", "outcome"),
    "trade.finality": ("batch", "supersedes_event_id"),
    "trade.corrected": ("batch", "outcome"),
    "trade.cancelled": ("batch", "outcome"),
    "batch.final": ("trade", "finality", "supersedes_event_id", "outcome"),
    "batch.failed": ("trade", "finality", "supersedes_event_id"),
    "batch.delayed": ("trade", "finality", "supersedes_event_id", "outcome"),
}


class FinalityEventSchema(_Strict):
    """One event; ``amount_tolerance`` is in the currency's minor units (settings)."""

    def __init__(
        self, *, amount_tolerance: int = DEFAULT_TOLERANCE_MINOR_UNITS, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.amount_tolerance = amount_tolerance

    event_id = Text(128, required=True)
    type = _enum(*EVENT_TYPES, required=True)
    occurred_at = Timestamp(required=True)
    sequence = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_SEQUENCE))
    supersedes_event_id = Text(128)
    trade = fields.Nested(TradeSchema)
    finality = fields.Nested(FinalitySchema)
    batch = fields.Nested(BatchSchema)
    reason = fields.Nested(ReasonSchema)
    outcome = fields.Nested(OutcomeSchema)

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
        if data.get("supersedes_event_id") == data.get("event_id"):
            errors["supersedes_event_id"] = ["An event cannot supersede itself."]
        errors.update(_batch_rules(kind, data.get("batch")))
        errors.update(_outcome_rules(kind, data))
        if "trade" in data:
            errors.update(amount_errors(data["trade"], self.amount_tolerance))
        executed_at = (data.get("trade") or {}).get("executed_at")
        final_at = (data.get("finality") or {}).get("final_at")
        if executed_at and final_at and final_at < executed_at:
            errors["finality.final_at"] = ["Must not be before trade.executed_at."]
        if errors:
            raise ValidationError(errors)


def _batch_rules(kind: str, batch: dict[str, Any] | None) -> dict[str, list[str]]:
    if batch is None:
        return {}
    errors: dict[str, list[str]] = {}
    moved = [name for name in ("rolled_to_batch_id", "new_value_date") if name in batch]
    if kind == "batch.delayed":
        if not moved:
            errors["batch.rolled_to_batch_id"] = [
                "batch.delayed needs rolled_to_batch_id or new_value_date."
            ]
        if batch.get("rolled_to_batch_id") == batch.get("batch_id"):
            errors["batch.rolled_to_batch_id"] = ["Must differ from batch_id."]
    else:
        for name in moved:
            errors[f"batch.{name}"] = ["Only allowed for type batch.delayed."]
    new_end, end = batch.get("new_batch_end_at"), batch.get("batch_end_at")
    if new_end is not None and kind != "batch.delayed":
        errors["batch.new_batch_end_at"] = ["Only allowed for type batch.delayed."]
    elif new_end and end and new_end < end:
        errors["batch.new_batch_end_at"] = ["Must not be before batch_end_at."]
    final_at = batch.get("final_at")
    if final_at and end and final_at < end:
        errors["batch.final_at"] = ["Must not be before batch_end_at."]
    return errors


def _outcome_rules(kind: str, data: dict[str, Any]) -> dict[str, list[str]]:
    """``outcome`` belongs to a failure: batch.failed, or a reverted / failed trade."""
    if "outcome" not in data or kind != "trade.finality":
        return {}
    if (data.get("finality") or {}).get("status") in ("reverted", "failed"):
        return {}
    return {"outcome": ["Only allowed when finality.status is reverted or failed."]}


def amount_errors(trade: dict[str, Any], tolerance: int) -> dict[str, list[str]]:
    """Check gross = quantity * unit_price and net = gross ± same-currency charges.

    Charges in another currency cannot be added without a rate, so they are not counted.
    ``tolerance`` is in minor units of the trade currency (1 = one cent, one yen).
    """
    names = ("quantity", "unit_price", "gross_amount", "net_amount", "currency", "side")
    if any(name not in trade for name in names):
        return {}  # the field's own error is reported already
    currency = trade["currency"]
    allowed = decimal.Decimal(tolerance).scaleb(-get_currency_precision(currency))
    errors: dict[str, list[str]] = {}
    gross = trade["gross_amount"]
    if abs(gross - trade["quantity"] * trade["unit_price"]) > allowed:
        errors["trade.gross_amount"] = [
            f"Must equal quantity * unit_price (within {allowed} {currency})."
        ]
    charges = [trade["commission"]] if "commission" in trade else []
    charges += trade.get("fees") or []
    total = sum((c["amount"] for c in charges if c.get("currency") == currency), decimal.Decimal(0))
    expected = gross + total if trade["side"] == "buy" else gross - total
    if abs(trade["net_amount"] - expected) > allowed:
        rule = "plus" if trade["side"] == "buy" else "minus"
        errors["trade.net_amount"] = [
            f"For a {trade['side']}, must equal gross_amount {rule} the commission and fees "
            f"in {currency} (within {allowed} {currency})."
        ]
    return errors
