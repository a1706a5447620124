"""Every notice the renderer can be asked for, rendered, and pinned by digest.

The corpus is every sample kind and variant (``samples.all_samples``) in every locale
the project has a catalog for, plus a regional locale falling back to its language and
one without any catalog; each with variations that reach the templates' other branches
(a resend, a notice replaced before it went out, hostile data, JPY, charges in two
currencies, a named settlement currency, the escalation causes the samples leave out)
and the acknowledgement page. ``tests/test_render_digests.py`` compares the outputs with
the digests in ``tests/data/render/digests.json``, so a change to the renderer that
changes one byte of one notice fails there.

    .venv/bin/python -m tests.support.render_corpus --check   # compare, list differences
    .venv/bin/python -m tests.support.render_corpus --write   # pin the current outputs
    .venv/bin/python -m tests.support.render_corpus --dump DIR  # every output as a file

Regenerate the pins only after reading the differences (``--dump`` before and after a
change, then ``diff -r``): a new Babel (CLDR) release may change how a date or an
amount is shown, and that is a change in what clients read.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import babel

from notifier.config import PROJECT_ROOT
from notifier.rendering.renderer import Renderer
from tests.support import samples

TEMPLATES = PROJECT_ROOT / "templates"
LOCALES_DIR = PROJECT_ROOT / "locales"
DIGESTS = PROJECT_ROOT / "tests" / "data" / "render" / "digests.json"

# Locale → the client's timezone. de_AT falls back to de; pt_BR has no catalog at all
# (English words, Brazilian formats); Asia/Dubai has no lettered abbreviation ("+04").
LOCALE_ZONES = {
    "en": "Europe/London",
    "en_US": "America/New_York",
    "de": "Europe/Berlin",
    "de_AT": "Europe/Vienna",
    "fr": "Europe/Paris",
    "es": "Europe/Madrid",
    "ja": "Asia/Tokyo",
    "pt_BR": "Asia/Dubai",
}
HOSTILE = "# Click [here](https://x.example) <script>alert(1)</script> *b* _i_ `c` | > q \\ ~s~"
JPY_TRADE = {
    "currency": "JPY",
    "unit_price": "1012.5003",
    "gross_amount": "1518750.45",
    "commission": {"amount": "1500.4", "currency": "JPY"},
    "fees": [{"kind": "Exchange fee", "amount": "110.3", "currency": "JPY"}],
    "net_amount": "1520361.15",
}
ACK_URL = "https://notifier.example/ack/tok_abc?x=1&y=<2>"


def _copy(context: dict[str, Any]) -> dict[str, Any] | None:
    return dict(context, copy=True)


def _never_sent(context: dict[str, Any]) -> dict[str, Any] | None:
    if not (context.get("original") or {}).get("sent"):
        return None
    return samples.never_sent(context)


def _hostile(context: dict[str, Any]) -> dict[str, Any] | None:
    context = copy.deepcopy(context)
    context["client"] = {"id": "acme", "name": HOSTILE}
    context["firm"] = {"name": f"Firm {HOSTILE}", "support_url": ""}
    if context.get("trade"):
        context["trade"]["instrument"]["name"] = HOSTILE
        context["trade"]["account"] = "-1. " + HOSTILE
    if context.get("reason"):
        context["reason"]["text"] = HOSTILE
    if context.get("original"):
        context["original"]["subject"] = HOSTILE
    for item in context.get("affected", []):
        item["client_name"] = HOSTILE
    return context


def _jpy(context: dict[str, Any]) -> dict[str, Any] | None:
    if not context.get("trade"):
        return None
    context = copy.deepcopy(context)
    context["trade"].update(copy.deepcopy(JPY_TRADE))
    context["trade"].pop("fx_rate", None)
    return context


def _charges(context: dict[str, Any]) -> dict[str, Any] | None:
    """Charges in two currencies, a named settlement currency, optional fields left out."""
    if not context.get("trade"):
        return None
    context = copy.deepcopy(context)
    trade = context["trade"]
    trade["fees"] = [
        *(trade.get("fees") or []),
        {"kind": "Stamp duty", "amount": "3.505", "currency": "GBP"},
    ]
    trade.update(fx_rate="0.9231", settlement_currency="EUR", order_type=None, venue_mic=None)
    trade["instrument"] = dict(trade["instrument"], isin=None, cusip="037833100")
    if context.get("finality"):
        context["finality"] = dict(context["finality"], expected_final_by="2026-11-26T21:00:00Z")
    context["ack_url"] = ACK_URL
    context["execution"] = context.get("execution") or None
    return context


def _no_charges(context: dict[str, Any]) -> dict[str, Any] | None:
    """No commission, no fees, other enum values (sell, principal, stop limit)."""
    if not context.get("trade"):
        return None
    context = copy.deepcopy(context)
    trade = context["trade"]
    trade.update(commission=None, fees=[], side="sell", capacity="riskless_principal")
    trade.update(order_type="stop_limit", quantity="0.5", unit_price="99.1")
    trade["regulatory"] = {
        "markup": {"direction": "markdown", "amount": "4.2", "currency": "EUR"},
        "payment_for_order_flow": {"received": True, "text": "0.0012 USD per share"},
    }
    return context


VARIATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    "base": dict,
    "copy": _copy,
    "never_sent": _never_sent,
    "hostile": _hostile,
    "jpy": _jpy,
    "charges": _charges,
    "no_charges": _no_charges,
}


def _extra_samples() -> dict[tuple[str, str], dict[str, Any]]:
    """Contexts the samples leave out: two escalation causes, every kind of change."""
    extra: dict[tuple[str, str], dict[str, Any]] = {}
    for cause in ("affirmation_at_risk", "disputed"):
        context = samples.escalation("deadline_at_risk")
        extra["escalation", cause] = dict(context, cause=cause, variant=cause)
    correction = samples.correction()
    correction["changes"] = [
        {"field": "fees", "old": [], "new": [{"kind": "Fee", "amount": "1.5", "currency": "USD"}]},
        {"field": "commission", "old": None, "new": {"amount": "2", "currency": "EUR"}},
        {"field": "trade_date", "old": "2026-11-23", "new": "2026-11-24"},
        {"field": "executed_at", "old": "2026-11-24T14:00:00Z", "new": "2026-11-24T15:00:00Z"},
        {"field": "side", "old": "buy", "new": "sell"},
        {"field": "capacity", "old": "agent", "new": "principal"},
        {"field": "order_type", "old": "market", "new": "limit"},
        {
            "field": "instrument",
            "old": {"name": "A", "symbol": "A"},
            "new": {"name": "B", "symbol": "B", "isin": "US0000000001"},
        },
        {"field": "regulatory", "old": {"b": 2, "a": "x"}, "new": ""},
        {"field": "fx_rate", "old": "1.1", "new": "1.25"},
    ]
    extra["correction", "every_change"] = correction
    return extra


def cases() -> Iterator[tuple[str, str, dict[str, Any], str, str]]:
    """Yield (case id, kind, context, locale, timezone) for every notice in the corpus."""
    contexts = samples.all_samples() | _extra_samples()
    for (kind, variant), sample in contexts.items():
        for variation, make in VARIATIONS.items():
            context = make(copy.deepcopy(sample))
            if context is None:
                continue
            for locale, zone in LOCALE_ZONES.items():
                yield f"{kind}/{variant}/{variation}/{locale}", kind, context, locale, zone


ACK_ERRORS = (
    "invalid_token",
    "token_expired",
    "notice_replaced",
    "not_found",
    "not_delivered",
    "invalid_answer",
    "other",
)


def page_cases() -> Iterator[tuple[str, dict[str, Any], str, str]]:
    """Yield (case id, values, locale, timezone) for the acknowledgement page."""
    trade = samples.l1_final()["trade"]
    finality = samples.l2_final()["finality"]
    for locale, zone in LOCALE_ZONES.items():
        for error in ACK_ERRORS:
            yield (
                f"ack/error/{error}/{locale}",
                {"error": error, "firm": samples.FIRM},
                locale,
                zone,
            )
        for status in ("acknowledged", "disputed", None):
            values = {
                "firm": {"name": HOSTILE},
                "subject": "Trade confirmation <b>T-1</b>",
                "trade": trade,
                "finality": finality if status else None,
                "affirm_by": "2026-11-26T05:00:00+00:00",
                "answered": status is not None,
                "status": status,
                "acked_at": "2026-11-25T10:00:00+00:00",
                "reason_codes": ["wrong_quantity", "wrong_price", "not_my_trade", "other"],
            }
            yield f"ack/page/{status}/{locale}", values, locale, zone


def render_all(
    renderer: Renderer, prefix: str = "", reverse: bool = False
) -> dict[str, tuple[str, ...]]:
    """Render the corpus (the cases whose id starts with ``prefix``): case id → outputs."""
    jobs: list[tuple[str, Callable[[], tuple[str, ...]]]] = []
    for case, kind, context, locale, zone in cases():
        jobs.append((case, partial(_notice, renderer, kind, context, locale, zone)))
    for case, values, locale, zone in page_cases():
        jobs.append((case, partial(_page, renderer, values, locale, zone)))
    return {
        case: render()
        for case, render in (reversed(jobs) if reverse else jobs)
        if case.startswith(prefix)
    }


def _notice(
    renderer: Renderer, kind: str, context: dict[str, Any], locale: str, zone: str
) -> tuple[str, ...]:
    try:
        rendered = renderer.render(kind, copy.deepcopy(context), locale, zone)
    except Exception as exc:  # pinned too: a render that fails must keep failing alike
        return (f"render failed: {type(exc).__name__}: {exc}",)
    return (rendered.subject, rendered.text, rendered.html, rendered.markdown)


def _page(renderer: Renderer, values: dict[str, Any], locale: str, zone: str) -> tuple[str, ...]:
    return (renderer.render_page("ack.html", copy.deepcopy(values), locale, zone),)


def digest(outputs: tuple[str, ...]) -> str:
    return hashlib.sha256(json.dumps(outputs).encode()).hexdigest()[:24]


def digests(renderer: Renderer, prefix: str = "") -> dict[str, str]:
    return {case: digest(outputs) for case, outputs in render_all(renderer, prefix).items()}


def pinned() -> dict[str, str]:
    data: dict[str, str] = json.loads(DIGESTS.read_text())["digests"]
    return data


def differences(actual: dict[str, str], expected: dict[str, str]) -> list[str]:
    """Case ids whose outputs differ from the pins, or that only one side has."""
    return sorted(
        case for case in actual.keys() | expected.keys() if actual.get(case) != expected.get(case)
    )


def _dump(directory: Path, outputs: dict[str, tuple[str, ...]]) -> None:
    names = ("subject.txt", "body.txt", "body.html", "body.md")
    for case, parts in outputs.items():
        folder = directory / case
        folder.mkdir(parents=True, exist_ok=True)
        for name, part in zip(names if len(parts) > 1 else ("single",), parts, strict=True):
            (folder / name).write_text(part, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="compare with the pinned digests")
    action.add_argument("--write", action="store_true", help="pin the current outputs")
    action.add_argument("--dump", type=Path, metavar="DIR", help="write every output as a file")
    args = parser.parse_args(argv)
    renderer = Renderer(TEMPLATES, LOCALES_DIR)
    if args.dump:
        _dump(args.dump, render_all(renderer))
        return 0
    actual = digests(renderer)
    if args.write:
        body = {"babel": babel.__version__, "cases": len(actual), "digests": actual}
        DIGESTS.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
        print(f"pinned {len(actual)} cases in {DIGESTS}")
        return 0
    changed = differences(actual, pinned())
    print("\n".join(changed) or f"all {len(actual)} cases as pinned")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
