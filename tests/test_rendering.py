"""Render every notice kind, variant, locale and format through the real Renderer."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jinja2 import UndefinedError
from markupsafe import escape

from notifier.catalogs import load_translations
from notifier.config import PROJECT_ROOT
from notifier.rendering import FORMATS, Formatter, Rendered, Renderer
from tests.support import samples

TEMPLATES = PROJECT_ROOT / "templates"
LOCALES_DIR = PROJECT_ROOT / "locales"

# Each locale with a client timezone and the abbreviation Python gives it in November.
ZONES = {
    "en": ("Europe/London", "GMT"),
    "en_US": ("America/New_York", "EST"),
    "de": ("Europe/Berlin", "CET"),
    "fr": ("Europe/Paris", "CET"),
    "es": ("Europe/Madrid", "CET"),
    "ja": ("Asia/Tokyo", "JST"),
}
KINDS = (
    "confirmation_l1",
    "confirmation_l2",
    "primer_l2",
    "reversal",
    "delay",
    "correction",
    "cancellation",
    "escalation",
    "execution_confirmation",
    "finality_revoked",
)
SAMPLES = samples.all_samples()
CONFIRMATIONS = [
    ("confirmation_l1", "final"),
    ("confirmation_l2", "provisional"),
    ("confirmation_l2", "final"),
]
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES, LOCALES_DIR)


def render(renderer: Renderer, kind: str, context: dict[str, Any], locale: str) -> Rendered:
    return renderer.render(kind, context, locale, ZONES[locale][0])


def bodies(rendered: Rendered) -> Iterator[tuple[str, str]]:
    yield "text", rendered.text
    yield "html", rendered.html
    yield "markdown", rendered.markdown


def test_every_kind_has_every_format() -> None:
    for kind in KINDS:
        for name in FORMATS:
            assert (TEMPLATES / kind / name).is_file(), f"{kind}/{name}"
    assert {kind for kind, _ in SAMPLES} == set(KINDS)


@pytest.mark.parametrize("locale", ZONES)
@pytest.mark.parametrize(("kind", "variant"), SAMPLES)
def test_renders(renderer: Renderer, kind: str, variant: str, locale: str) -> None:
    rendered = render(renderer, kind, SAMPLES[kind, variant], locale)
    assert rendered.subject.strip()
    assert "\n" not in rendered.subject
    assert len(rendered.subject) < 200
    for name, body in [("subject", rendered.subject), *bodies(rendered)]:
        assert body.strip(), name
        # A placeholder left unformatted, a None or a missing key shows up as text.
        assert "%(" not in body, name
        assert "None" not in body, name
        assert "Undefined" not in body, name
    assert rendered.html.lstrip().startswith("<!doctype html>")
    assert "max-width:640px" in rendered.html
    assert f'lang="{locale.split("_")[0]}"' in rendered.html
    assert "<style" not in rendered.html  # email clients drop <style>; inline styles only
    assert SAMPLES[kind, variant]["event_id"] in rendered.text


@pytest.mark.parametrize("locale", ["de", "fr", "es", "ja"])
@pytest.mark.parametrize(("kind", "variant"), SAMPLES)
def test_translated_locales_are_not_english(
    renderer: Renderer, kind: str, variant: str, locale: str
) -> None:
    english = render(renderer, kind, SAMPLES[kind, variant], "en")
    translated = render(renderer, kind, SAMPLES[kind, variant], locale)
    assert translated.subject != english.subject
    footer = load_translations(LOCALES_DIR, locale).gettext(
        "This notice was generated automatically by %(firm)s."
    ) % {"firm": samples.FIRM["name"]}
    assert footer in translated.text
    assert "This notice was generated automatically" not in translated.text


@pytest.mark.parametrize(("kind", "variant"), SAMPLES)
def test_html_escapes_data(renderer: Renderer, kind: str, variant: str) -> None:
    context = copy.deepcopy(SAMPLES[kind, variant]) | {
        "client": {"id": "acme", "name": f"Acme {SCRIPT}"},
        "firm": {"name": f"Firm {SCRIPT}", "support_url": ""},
    }
    for item in context.get("affected", []):
        item["client_name"] = f"Acme {SCRIPT}"
    for locale in ("en", "ja"):
        rendered = render(renderer, kind, context, locale)
        html = rendered.html
        assert "<script" not in html
        assert "Firm &lt;script&gt;alert(1)&lt;/script&gt;" in html
        # Markdown channels turn bodies into HTML: data is escaped there too.
        assert "<script" not in rendered.markdown
        assert "Firm &lt;script&gt;" in rendered.markdown
        if kind.startswith("confirmation") or kind in {"correction", "escalation"}:
            assert "Acme &lt;script&gt;alert(1)&lt;/script&gt;" in html


def _with_commission(context: dict[str, Any], amount: str) -> dict[str, Any]:
    context["trade"]["commission"] = {"amount": amount, "currency": "USD"}
    return context


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("de", "1.234,56\xa0$"), ("en_US", "$1,234.56"), ("en", "$1,234.56"), ("ja", "$1,234.56")],
)
def test_money_in_the_client_locale(renderer: Renderer, locale: str, expected: str) -> None:
    context = _with_commission(samples.l2_final(), "1234.56")
    formatted = Formatter(locale, ZONES[locale][0]).money("1234.56", "USD")
    assert formatted == expected
    rendered = render(renderer, "confirmation_l2", context, locale)
    for _, body in bodies(rendered):
        assert formatted in body


@pytest.mark.parametrize("locale", ZONES)
def test_times_in_the_client_timezone(renderer: Renderer, locale: str) -> None:
    zone, abbreviation = ZONES[locale]
    context = samples.l2_final()
    shown = Formatter(locale, zone).datetime(context["trade"]["executed_at"])
    assert shown.endswith(f" {abbreviation}")
    rendered = render(renderer, "confirmation_l2", context, locale)
    for _, body in bodies(rendered):
        assert shown in body


def test_times_are_converted_not_relabelled(renderer: Renderer) -> None:
    text = render(renderer, "confirmation_l2", samples.l2_final(), "en_US").text
    # executed 14:03:12 UTC = 9:03:12 AM in New York (EST); Tokyo is 23:03:12 JST.
    assert re.search(r"Nov 24, 2026, 9:03:12\s?AM EST", text)
    text = render(renderer, "confirmation_l2", samples.l2_final(), "ja").text
    assert "2026/11/24 23:03:12 JST" in text


def _expected_values(context: dict[str, Any], locale: str) -> list[str]:
    """Every value the event supplies, formatted the way the client must see it."""
    fmt = Formatter(locale, ZONES[locale][0])
    t = load_translations(LOCALES_DIR, locale).gettext
    trade, finality = context["trade"], context["finality"]
    values = [
        trade["account"],
        trade["trade_id"],
        trade["instrument"]["symbol"],
        trade["instrument"]["name"],
        trade["instrument"]["isin"],
        trade["instrument"]["cusip"],
        trade["venue_mic"],
        t({"buy": "Buy", "sell": "Sell"}[trade["side"]]),
        t({"limit": "Limit", "market": "Market"}[trade["order_type"]]),
        t({"agent": "Agent", "principal": "Principal"}[trade["capacity"]]),
        fmt.number(trade["quantity"]),
        fmt.money(trade["unit_price"], trade["currency"]),
        fmt.money(trade["gross_amount"], trade["currency"]),
        fmt.money(trade["commission"]["amount"], trade["commission"]["currency"]),
        *(fmt.money(fee["amount"], fee["currency"]) for fee in trade["fees"]),
        *(fee["kind"] for fee in trade["fees"]),
        fmt.money(trade["net_amount"], trade["currency"]),
        fmt.date(trade["trade_date"]),
        fmt.datetime(trade["executed_at"]),
        fmt.date(trade["settlement_date"]),
        t(f"Layer-{finality['layer'][1]}"),
    ]
    if trade.get("fx_rate"):
        values.append(fmt.number(trade["fx_rate"]))
    if finality.get("l1"):
        values += [finality["l1"]["settlement_system"], finality["l1"]["settlement_ref"]]
    if finality.get("l2"):
        l2 = finality["l2"]
        values += [
            l2["batch_id"],
            fmt.datetime(l2["batch_end_at"]),
            fmt.money(l2["liquidity_buffer_usd"], "USD"),
            l2["netting_set_id"],
            l2["exchange_ref"],
        ]
    if finality["status"] == "final":
        badge = f"Settled on Layer-{finality['layer'][1]} — final at %(cycle)s"
        values += [
            t(badge) % {"cycle": finality["cycle_label"]},
            finality["cycle_label"],
            fmt.datetime(finality["final_at"]),
        ]
    else:
        badge = "Pending finality on Layer-2 — batch %(batch)s ends %(end)s"
        values.append(
            t(badge)
            % {
                "batch": finality["l2"]["batch_id"],
                "end": fmt.datetime(finality["l2"]["batch_end_at"]),
            }
        )
    return values


@pytest.mark.parametrize("locale", ["en", "de", "fr", "es", "ja"])
@pytest.mark.parametrize(("kind", "variant"), CONFIRMATIONS)
def test_confirmation_shows_every_field(
    renderer: Renderer, kind: str, variant: str, locale: str
) -> None:
    context = SAMPLES[kind, variant]
    rendered = render(renderer, kind, context, locale)
    expected = _expected_values(context, locale)
    for name, body in bodies(rendered):
        missing = [
            value for value in expected if (escape(value) if name == "html" else value) not in body
        ]
        assert missing == [], f"{kind}/{variant} {locale} {name}: missing {missing}"


def test_fields_walk_checks_real_labels(renderer: Renderer) -> None:
    # Guard against a fields walk that only compares the catalog with itself.
    text = render(renderer, "confirmation_l1", SAMPLES["confirmation_l1", "final"], "de").text
    for label in (
        "Kauf",
        "Limitiert",
        "Vermittler (Agent)",
        "Abgewickelt über Layer-1 — endgültig bei T+1",
    ):
        assert label in text
    assert "0,9231" in text  # the FX rate


def test_subject_says_copy_on_a_resend(renderer: Renderer) -> None:
    for kind, variant in SAMPLES:
        context = SAMPLES[kind, variant] | {"copy": True}
        assert render(renderer, kind, context, "en").subject.startswith("COPY: ")
        assert render(renderer, kind, context, "de").subject.startswith("KOPIE: ")
        assert "KOPIE — " in render(renderer, kind, context, "de").text


@pytest.mark.parametrize("variant", samples.REVERSAL_VARIANTS)
def test_reversal_is_unmistakable(renderer: Renderer, variant: str) -> None:
    context = SAMPLES["reversal", variant]
    rendered = render(renderer, "reversal", context, "en")
    assert rendered.subject.startswith("NOT FINAL")
    for _, body in bodies(rendered):
        assert "NOT FINAL" in body
        assert context["original"]["notice_id"] in body
        assert context["original"]["event_id"] in body
        assert (
            escape(context["original"]["subject"]) in body or context["original"]["subject"] in body
        )
        if context["batch"]:
            assert context["batch"]["batch_id"] in body
        if context["reason"]:
            assert context["reason"]["code"] in body
    assert "NICHT ENDGÜLTIG" in render(renderer, "reversal", context, "de").subject
    assert render(renderer, "reversal", context, "ja").subject.startswith("未確定")


def test_delay_shows_new_batch_and_value_date(renderer: Renderer) -> None:
    context = SAMPLES["delay", "-"]
    fmt = Formatter("de", ZONES["de"][0])
    rendered = render(renderer, "delay", context, "de")
    for _, body in bodies(rendered):
        assert context["batch"]["rolled_to_batch_id"] in body
        assert fmt.date(context["batch"]["new_value_date"]) in body
        assert context["reason"]["code"] in body
        assert context["original"]["notice_id"] in body
        assert fmt.number(context["trade"]["quantity"]) in body


def test_correction_lists_changed_fields(renderer: Renderer) -> None:
    rendered = render(renderer, "correction", SAMPLES["correction", "-"], "de")
    assert "N-000413" in rendered.subject
    for _, body in bodies(rendered):
        for label in ("Stückzahl", "Kurswert", "Nettobetrag (Gesamtentgelt)", "booking_note"):
            assert label in body
        assert "Endgültigkeit" in body  # the finality block is there


def test_correction_without_finality_has_no_finality_block(renderer: Renderer) -> None:
    rendered = render(renderer, "correction", SAMPLES["correction", "no_finality"], "en")
    for _, body in bodies(rendered):
        assert "Settlement lane" not in body
        assert "Settled on" not in body
        assert "Trade details" in body


def test_escalation_counts_and_affected(renderer: Renderer) -> None:
    context = SAMPLES["escalation", "deadline_at_risk"]
    rendered = render(renderer, "escalation", context, "en")
    assert "2 trades" in rendered.subject
    deadline = Formatter("en", ZONES["en"][0]).datetime(context["deadline_at"])
    for _, body in bodies(rendered):
        assert "Affected: 2 trades, 2 clients" in body
        assert deadline in body
        for item in context["affected"]:
            for key in ("client_id", "client_name", "trade_id", "notice_id"):
                assert item[key] in body
    one = render(renderer, "escalation", SAMPLES["escalation", "delivery_failed"], "en")
    assert "Affected: 1 trade, 1 client" in one.text
    ja = render(renderer, "escalation", context, "ja")
    assert "対象：取引2件、顧客2名" in ja.text  # noqa: RUF001  (Japanese uses the full-width colon)


def test_primer_links_and_badge(renderer: Renderer) -> None:
    rendered = render(renderer, "primer_l2", SAMPLES["primer_l2", "-"], "en")
    for _, body in bodies(rendered):
        assert samples.LINKS["explainer"] in body
        assert samples.LINKS["announcement"] in body
        assert "Settled on Layer-2 — final at T+0.5" in body
    assert f'href="{samples.LINKS["explainer"]}"' in rendered.html
    ja = render(renderer, "primer_l2", SAMPLES["primer_l2", "-"], "ja")
    assert "レイヤー2で決済済み — T+0.5で確定" in ja.text


def test_a_missing_value_fails_the_render_instead_of_printing_nothing(
    renderer: Renderer,
) -> None:
    context = copy.deepcopy(SAMPLES["escalation", "batch_failed"]) | {"cause": "no_such_cause"}
    with pytest.raises(UndefinedError):
        render(renderer, "escalation", context, "en")
    # Optional fields that are only tested, not printed, still render.
    context = copy.deepcopy(SAMPLES["confirmation_l1", "final"])
    context["trade"].pop("fx_rate", None)
    assert "FX rate" not in render(renderer, "confirmation_l1", context, "en").text
