"""Render every notice kind, variant, locale and format through the real Renderer."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jinja2 import UndefinedError
from markupsafe import escape

from notifier.config import PROJECT_ROOT
from notifier.notices.kinds import KINDS as NOTICE_KINDS
from notifier.rendering.catalogs import load_translations
from notifier.rendering.renderer import FORMATS, Formatter, Rendered, Renderer, escape_markdown
from tests.support import samples

TEMPLATES = PROJECT_ROOT / "templates"
LOCALES_DIR = PROJECT_ROOT / "locales"

# Each locale with a client timezone and the abbreviation Python gives it in November.
# Each is followed by the UTC offset: "CST" alone could be Chicago, Shanghai or Havana.
ZONES = {
    "en": ("Europe/London", "GMT (UTC+00:00)"),
    "en_US": ("America/New_York", "EST (UTC\u221205:00)"),
    "de": ("Europe/Berlin", "CET (UTC+01:00)"),
    "fr": ("Europe/Paris", "CET (UTC+01:00)"),
    "es": ("Europe/Madrid", "CET (UTC+01:00)"),
    "ja": ("Asia/Tokyo", "JST (UTC+09:00)"),
}
KINDS = tuple(NOTICE_KINDS)
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


def shown(name: str, value: str) -> str:
    """How a data value appears in the body ``name``: Markdown escapes its syntax."""
    return escape_markdown(value) if name == "markdown" else value


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
        # Markdown channels show or render Markdown: data is Markdown-escaped, not
        # turned into HTML entities a chat shows literally.
        assert "&lt;" not in rendered.markdown
        assert "Firm \\<script\\>alert\\(1\\)\\</script\\>" in rendered.markdown
        if kind.startswith("confirmation") or kind in {"correction", "escalation"}:
            assert "Acme &lt;script&gt;alert(1)&lt;/script&gt;" in html


# Producer data that would make a link, an image, a heading, emphasis, a table cell or
# code in Markdown if it were printed as it is.
HOSTILE_MARKDOWN = (
    "# Click [here](https://evil.example) ![x](https://evil.example/x.png) *b* _i_ `c` | > q \\ ~s~"
)


def _hostile(context: dict[str, Any]) -> dict[str, Any]:
    context = copy.deepcopy(context)
    if context.get("trade"):
        context["trade"]["instrument"]["name"] = HOSTILE_MARKDOWN
    if context.get("reason"):
        context["reason"]["text"] = HOSTILE_MARKDOWN
    context["client"] = {"id": "acme", "name": HOSTILE_MARKDOWN}
    for item in context.get("affected", []):
        item["client_name"] = HOSTILE_MARKDOWN
    return context


def _markdown_html(markdown: str) -> str:
    """Render Markdown as a chat or mail client would (CommonMark + GFM tables)."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))


@pytest.mark.parametrize(("kind", "variant"), SAMPLES)
def test_markdown_escapes_data_so_it_cannot_make_markup(
    renderer: Renderer, kind: str, variant: str
) -> None:
    rendered = render(renderer, kind, _hostile(SAMPLES[kind, variant]), "en")
    markdown = rendered.markdown
    escaped = (
        "\\# Click \\[here\\]\\(https://evil.example\\) \\!\\[x\\]\\(https://evil.example/x.png\\)"
        " \\*b\\* \\_i\\_ \\`c\\` \\| \\> q \\\\ \\~s\\~"
    )
    if kind != "primer_l2":  # the primer prints no producer data
        assert escaped in markdown
    html = _markdown_html(markdown)
    assert "evil.example" not in re.sub(r">[^<]*<", "><", html)  # in no tag or attribute
    assert "<script" not in html and "<img" not in html and "<em>b" not in html
    assert "<code>c" not in html
    # The template's own structure is still Markdown.
    assert "<h2>" in html


def test_markdown_keeps_plain_values_readable(renderer: Renderer) -> None:
    rendered = render(renderer, "confirmation_l2", SAMPLES["confirmation_l2", "final"], "en")
    # Ids, amounts, dates and apostrophes need no escaping and get none.
    for plain in ("T-20261124-0003", "B-2026-11-24-PM", "$2,500,000.00", "XL2-99812", "T+0"):
        assert plain in rendered.markdown
    assert "&#39;" not in rendered.markdown and "&amp;" not in rendered.markdown


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
    executed = Formatter(locale, zone).datetime(context["trade"]["executed_at"])
    assert executed.endswith(f" {abbreviation}")
    rendered = render(renderer, "confirmation_l2", context, locale)
    for name, body in bodies(rendered):
        assert shown(name, executed) in body


def test_times_are_converted_not_relabelled(renderer: Renderer) -> None:
    text = render(renderer, "confirmation_l2", samples.l2_final(), "en_US").text
    # executed 14:03:12 UTC = 9:03:12 AM in New York (EST); Tokyo is 23:03:12 JST.
    assert re.search(r"Nov 24, 2026, 9:03:12\s?AM EST", text)
    text = render(renderer, "confirmation_l2", samples.l2_final(), "ja").text
    assert "2026/11/24 23:03:12 JST" in text


def _settlement_date(trade: dict[str, Any], finality: dict[str, Any]) -> str:
    # A final L2 trade settled on the venue business day its batch became final.
    if finality["layer"] == "L2" and finality["status"] == "final":
        return str(finality["final_on"])
    return str(trade["settlement_date"])


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
        fmt.price(trade["unit_price"], trade["currency"]),
        fmt.money(trade["gross_amount"], trade["currency"]),
        fmt.money(trade["commission"]["amount"], trade["commission"]["currency"]),
        *(fmt.money(fee["amount"], fee["currency"]) for fee in trade["fees"]),
        *(fee["kind"] for fee in trade["fees"]),
        fmt.money(trade["net_amount"], trade["currency"]),
        fmt.date(trade["trade_date"]),
        fmt.datetime(trade["executed_at"]),
        fmt.date(_settlement_date(trade, finality)),
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
            value
            for value in expected
            # a Markdown body escapes data values but not the catalog's own labels
            if (escape(value) if name == "html" else value) not in body
            and shown(name, value) not in body
        ]
        assert missing == [], f"{kind}/{variant} {locale} {name}: missing {missing}"


def test_fields_walk_checks_real_labels(renderer: Renderer) -> None:
    # Guard against a fields walk that only compares the catalog with itself.
    text = render(renderer, "confirmation_l1", SAMPLES["confirmation_l1", "final"], "de").text
    for label in (
        "Kauf",
        "Limitiert",
        "Kommissionär (Agent)",
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
    for name, body in bodies(rendered):
        assert "NOT FINAL" in body
        # Named as the client saw it: by subject, never by an id the client never got.
        assert context["original"]["notice_id"] not in body
        assert (
            escape(context["original"]["subject"]) in body or context["original"]["subject"] in body
        )
        if context["batch"]:
            assert context["batch"]["batch_id"] in body
        if context["reason"]:
            assert shown(name, context["reason"]["code"]) in body
    assert "NICHT ENDGÜLTIG" in render(renderer, "reversal", context, "de").subject
    assert render(renderer, "reversal", context, "ja").subject.startswith("未確定")


def test_delay_shows_new_batch_and_value_date(renderer: Renderer) -> None:
    context = SAMPLES["delay", "-"]
    fmt = Formatter("de", ZONES["de"][0])
    rendered = render(renderer, "delay", context, "de")
    for name, body in bodies(rendered):
        assert context["batch"]["rolled_to_batch_id"] in body
        assert fmt.date(context["batch"]["new_value_date"]) in body
        assert shown(name, context["reason"]["code"]) in body
        assert context["original"]["notice_id"] not in body
        assert shown(name, fmt.datetime(context["original"]["sent_at"])) in body
        assert fmt.number(context["trade"]["quantity"]) in body


def test_correction_lists_changed_fields(renderer: Renderer) -> None:
    rendered = render(renderer, "correction", SAMPLES["correction", "-"], "de")
    # The subject names the trade the client knows, not an internal notice number.
    assert "T-20261124-0003" in rendered.subject
    assert "N-000413" not in rendered.subject
    for name, body in bodies(rendered):
        for label in ("Stückzahl", "Kurswert", "Nettobetrag (Gesamtentgelt)"):
            assert label in body  # translated labels are the template's, not data
        assert shown(name, "booking_note") in body  # an unknown key is data, shown raw
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
    for name, body in bodies(rendered):
        assert "Affected: 2 trades, 2 clients" in body
        assert shown(name, deadline) in body
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
        assert "Settled on Layer-2 — final at T+0" in body
    assert f'href="{samples.LINKS["explainer"]}"' in rendered.html
    ja = render(renderer, "primer_l2", SAMPLES["primer_l2", "-"], "ja")
    assert "レイヤー2で決済済み — T+0で確定" in ja.text


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


REFERENCING = [("reversal", v) for v in samples.REVERSAL_VARIANTS] + [
    ("delay", "-"),
    ("correction", "-"),
    ("cancellation", "-"),
]


@pytest.mark.parametrize(("kind", "variant"), REFERENCING)
@pytest.mark.parametrize("locale", ["en", "de", "ja"])
def test_a_reference_to_a_notice_never_sent_says_so(
    renderer: Renderer, kind: str, variant: str, locale: str
) -> None:
    """Issue 6: 'The confirmation "None" (notice 21 …) is void' for a notice never sent."""
    context = samples.never_sent(SAMPLES[kind, variant])
    rendered = render(renderer, kind, context, locale)
    for _, body in (("subject", rendered.subject), *bodies(rendered)):
        assert "None" not in body
        assert "“”" not in body and '""' not in body
    said = {
        "en": "not yet sent you",
        "de": "noch",
        "ja": "まだ",
    }[locale]
    assert said in rendered.text, rendered.text
    assert context["trade"]["trade_id"] in rendered.text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("<script>alert(1)</script>", "\\<script\\>alert\\(1\\)\\</script\\>"),
        ("[x](https://evil.example)", "\\[x\\]\\(https://evil.example\\)"),
        ("# Heading", "\\# Heading"),
        ("line\n# two\r\n- three", "line \\# two - three"),
        ("- item", "\\- item"),
        ("1. item", "1\\. item"),
        ("===", "\\==="),
        ("a | b \\ c", "a \\| b \\\\ c"),
        # Nothing to escape: numbers, ids, apostrophes and ampersands stay as they are.
        ("-5", "-5"),
        ("1.5", "1.5"),
        ("T-20261124-0003", "T-20261124-0003"),
        ("O'Brien & Co", "O'Brien & Co"),
    ],
)
def test_escape_markdown(value: str, shown: str) -> None:
    assert escape_markdown(value) == shown


@pytest.mark.parametrize("locale", ZONES)
@pytest.mark.parametrize(("kind", "variant"), [k for k in SAMPLES if SAMPLES[k].get("trade")])
def test_subjects_name_the_trade(renderer: Renderer, kind: str, variant: str, locale: str) -> None:
    """Two notices about two trades are told apart in an inbox: trade id and instrument."""
    context = SAMPLES[kind, variant]
    subject = render(renderer, kind, context, locale).subject
    assert context["trade"]["trade_id"] in subject
    assert context["trade"]["instrument"]["symbol"] in subject
    other = copy.deepcopy(context)
    other["trade"]["trade_id"] = "T-20261124-0099"
    assert render(renderer, kind, other, locale).subject != subject


def test_confirmation_subjects_read_as_designed(renderer: Renderer) -> None:
    expected = {
        ("confirmation_l1", "final"): "Trade confirmation T-20261124-0001 · Buy 1,500 ACME"
        " — settled on Layer-1",
        ("confirmation_l2", "final"): "Trade confirmation T-20261124-0003 · Buy 1,500 ACME"
        " — final on Layer-2",
        ("confirmation_l2", "provisional"): "Provisional trade confirmation T-20261124-0002 ·"
        " Buy 1,500 ACME — pending Layer-2 finality",
    }
    for (kind, variant), subject in expected.items():
        assert render(renderer, kind, SAMPLES[kind, variant], "en").subject == subject


# --- money, FX and times as a compliance reader checks them (issue 7) ----------------------

JPY_TRADE = {
    "quantity": "1500",
    "unit_price": "1012.5003",
    "currency": "JPY",
    "gross_amount": "1518750.45",
    "commission": {"amount": "1500.4", "currency": "JPY"},
    "fees": [{"kind": "Exchange fee", "amount": "110.3", "currency": "JPY"}],
    "net_amount": "1520361.15",
}
JPY_KINDS = [key for key, context in SAMPLES.items() if context.get("trade")]


def _jpy(context: dict[str, Any]) -> dict[str, Any]:
    context = copy.deepcopy(context)
    context["trade"].update(copy.deepcopy(JPY_TRADE))
    return context


@pytest.mark.parametrize("locale", ZONES)
@pytest.mark.parametrize(("kind", "variant"), JPY_KINDS)
def test_jpy_amounts_show_no_decimals(
    renderer: Renderer, kind: str, variant: str, locale: str
) -> None:
    context = _jpy(SAMPLES[kind, variant])
    fmt = Formatter(locale, ZONES[locale][0])
    net = fmt.money("1520361.15", "JPY")
    assert re.fullmatch(r"[^\d]*1[.,\s\u00a0\u202f]?520[.,\s\u00a0\u202f]?361[^\d]*", net), net
    rendered = render(renderer, kind, context, locale)
    for name, body in bodies(rendered):
        assert (escape(net) if name == "html" else net) in body, (kind, name)
        for unrounded in ("1,520,361.15", "1.520.361,15", "1 520 361,15", "361.1", "361,1"):
            assert unrounded not in body.replace("\u202f", " ").replace("\u00a0", " ")


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_jpy_confirmation_rounds_gross_and_charges(renderer: Renderer, locale: str) -> None:
    context = _jpy(SAMPLES["confirmation_l1", "final"])
    context["trade"].pop("fx_rate")
    fmt = Formatter(locale, ZONES[locale][0])
    rendered = render(renderer, "confirmation_l1", context, locale)
    for _, body in bodies(rendered):
        assert fmt.money("1518750.45", "JPY") in body  # gross: ￥1,518,750, not ￥1,518,750.45
        assert fmt.money("1611", "JPY") in body  # total charges 1500.4 + 110.3 = 1610.7 → 1,611
        assert fmt.price("1012.5003", "JPY") in body  # a price keeps its precision
    assert "￥1,518,750" in render(renderer, "confirmation_l1", context, "ja").text
    assert "￥1,518,750." not in render(renderer, "confirmation_l1", context, "ja").text


def test_money_rounds_to_each_currencys_minor_units() -> None:
    fmt = Formatter("en_US", "America/New_York")
    assert fmt.money("1518750.45", "JPY") == "¥1,518,750"
    assert fmt.money("1518750.5", "JPY") == "¥1,518,751"  # half up, not to even
    assert fmt.money("12.345", "USD") == "$12.35"
    assert fmt.money("12.5", "USD") == "$12.50"
    assert fmt.money("1.2345", "KWD").endswith("1.235")  # three minor units
    assert fmt.price("101.2345", "USD") == "$101.2345"


def test_charges_are_totalled_per_currency(renderer: Renderer) -> None:
    context = copy.deepcopy(SAMPLES["confirmation_l1", "final"])
    context["trade"]["fees"].append({"kind": "Stamp duty", "amount": "3.505", "currency": "GBP"})
    fmt = Formatter("en_US", "America/New_York")
    # 12.50 + 0.42 + 1.10 USD; 3.505 GBP rounds to 3.51 (half up).
    assert fmt.money_totals([context["trade"]["commission"], *context["trade"]["fees"]]) == (
        "$14.02, £3.51"
    )
    text = renderer.render("confirmation_l1", context, "en_US", "America/New_York").text
    assert "Total charges: $14.02, £3.51" in text


def test_fx_rate_shows_pair_direction_and_converted_amount(renderer: Renderer) -> None:
    context = copy.deepcopy(SAMPLES["confirmation_l1", "final"])
    text = renderer.render("confirmation_l1", context, "en_US", "America/New_York").text
    # Contract v1 names no settlement currency: the direction is said, no pair is guessed.
    assert "FX rate: 1 USD = 0.9231 in the settlement currency" in text
    context["trade"]["settlement_currency"] = "EUR"
    rendered = renderer.render("confirmation_l1", context, "en_US", "America/New_York")
    # 151,865.77 USD x 0.9231 = 140,187.29 EUR (140,187.2922...)
    for name, body in bodies(rendered):
        assert shown(name, "USD/EUR 0.9231 (1 USD = 0.9231 EUR)") in body
        assert "€140,187.29" in body


def test_final_notices_do_not_show_expected_final_by(renderer: Renderer) -> None:
    for kind, variant in CONFIRMATIONS:
        context = copy.deepcopy(SAMPLES[kind, variant])
        context["finality"]["expected_final_by"] = "2026-11-26T21:00:00Z"
        text = render(renderer, kind, context, "en").text
        assert ("Expected final by" in text) is (variant != "final"), (kind, variant)


def test_l2_final_settlement_date_is_the_day_it_became_final(renderer: Renderer) -> None:
    context = SAMPLES["confirmation_l2", "final"]
    assert context["trade"]["settlement_date"] == "2026-11-25"
    text = renderer.render("confirmation_l2", context, "en_US", "America/New_York").text
    # Final at 02:00 UTC on the 25th = 21:00 on the 24th in New York, the venue.
    assert "Final at: Nov 24, 2026, 9:00:00\u202fPM EST (UTC\u221205:00)" in text
    assert "Settlement date: Nov 24, 2026" in text
    assert "Settled on Layer-2 — final at T+0" in text


@pytest.mark.parametrize(
    ("locale", "separator"), [("en", ": "), ("de", ": "), ("fr", "\u202f: "), ("ja", "\uff1a")]
)
def test_label_value_separator_is_the_locales(
    renderer: Renderer, locale: str, separator: str
) -> None:
    t = load_translations(LOCALES_DIR, locale).gettext
    text = render(renderer, "confirmation_l1", SAMPLES["confirmation_l1", "final"], locale).text
    assert f"  {t('Account')}{separator}ACME-001" in text
    primer = render(renderer, "primer_l2", SAMPLES["primer_l2", "-"], locale).text
    assert f"{separator}{samples.LINKS['explainer']}" in primer
    delay = render(renderer, "delay", SAMPLES["delay", "-"], locale).text
    assert f"  {t('Account')}{separator}ACME-001" in delay
