"""The gettext catalogs: complete, really translated, placeholders intact, English fallback."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message

from notifier.config import PROJECT_ROOT
from notifier.rendering.catalogs import (
    LOCALES,
    compile_catalogs,
    extract_catalog,
    extract_messages,
    load_translations,
    po_path,
    pot_path,
    read_catalog,
    update_catalogs,
)
from notifier.rendering.renderer import Renderer
from tests.support import samples

TEMPLATES = PROJECT_ROOT / "templates"
LOCALES_DIR = PROJECT_ROOT / "locales"
BABEL_CFG = PROJECT_ROOT / "babel.cfg"
TRANSLATED = ("de", "fr", "es", "ja")

# Strings that are rightly the same as the English: proper nouns and words spelt alike.
SAME_AS_ENGLISH = {
    # "label: value" and "old → new" are punctuation only; French and Japanese change the colon.
    "de": {"Layer-1", "Layer-2", "%(label)s: %(value)s", "%(field)s: %(old)s → %(new)s"},
    "fr": {
        "Cause",
        "Client",
        "Commission",
        "%(text)s (code %(code)s)",
        ("%(num)s client", "%(num)s clients"),
    },
    "es": {"Stop", "%(label)s: %(value)s", "%(field)s: %(old)s → %(new)s"},
    "ja": set(),
}

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _messages(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return extract_messages(TEMPLATES, BABEL_CFG)


@pytest.fixture(scope="module", params=LOCALES)
def catalog(request: pytest.FixtureRequest) -> Catalog:
    locale: str = request.param
    return read_catalog(po_path(LOCALES_DIR, locale), locale)


def test_templates_have_messages(extracted: Catalog) -> None:
    ids = {message.id for message in _messages(extracted)}
    assert len(ids) > 100
    assert ("%(num)s trade", "%(num)s trades") in ids
    assert "Settled on Layer-2 — final at %(cycle)s" in ids


def test_pot_is_up_to_date(extracted: Catalog) -> None:
    committed = read_catalog(pot_path(LOCALES_DIR))
    assert {m.id for m in _messages(committed)} == {m.id for m in _messages(extracted)}


def test_every_message_is_in_the_catalog(extracted: Catalog, catalog: Catalog) -> None:
    missing = [m.id for m in _messages(extracted) if catalog.get(m.id) is None]
    assert missing == [], f"{catalog.locale}: not in messages.po: {missing}"


def test_every_message_is_translated(extracted: Catalog, catalog: Catalog) -> None:
    locale = str(catalog.locale)
    if locale == "en":
        pytest.skip("English is the source language: its msgids are shown")
    untranslated = []
    for wanted in _messages(extracted):
        message = catalog.get(wanted.id)
        assert message is not None
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(forms):
            untranslated.append(wanted.id)
        if message.pluralizable:
            assert len(forms) == catalog.num_plurals, (locale, message.id)
    assert untranslated == [], f"{locale}: untranslated or fuzzy: {untranslated}"


def test_translations_are_not_english(catalog: Catalog) -> None:
    locale = str(catalog.locale)
    if locale == "en":
        pytest.skip("English is the source language")
    same = set()
    for message in _messages(catalog):
        if message.pluralizable:
            if tuple(message.string) == tuple(message.id[: len(message.string)]):
                same.add(message.id)
        elif message.string == message.id:
            same.add(message.id)
    assert same == SAME_AS_ENGLISH[locale]


def test_placeholders_match(catalog: Catalog) -> None:
    locale = str(catalog.locale)
    assert list(catalog.check()) == []
    for message in _messages(catalog):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        # Only %(name)s: newstyle gettext always %-formats, so a bare % would break it.
        for text in ids:
            assert text.count("%") == len(PLACEHOLDER.findall(text)), text
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            if form:
                assert set(PLACEHOLDER.findall(form)) == wanted, (locale, message.id, form)
                assert form.count("%") == len(PLACEHOLDER.findall(form)), (locale, form)


def test_japanese_has_one_plural_form() -> None:
    ja = read_catalog(po_path(LOCALES_DIR, "ja"), "ja")
    assert ja.num_plurals == 1
    translations = load_translations(LOCALES_DIR, "ja")
    for count in (1, 2, 11):
        text = translations.ngettext("%(num)s trade", "%(num)s trades", count)
        assert text == "取引%(num)s件"


def _copy_locales(tmp_path: Path) -> Path:
    target = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, target, ignore=shutil.ignore_patterns("*.mo"))
    return target


def _edit(path: Path, locale: str, changes: dict[str, str | None], fuzzy: set[str]) -> None:
    """Rewrite one .po: set msgstrs (None removes the message), mark some fuzzy."""
    from babel.messages.pofile import write_po

    catalog = read_catalog(path, locale)
    for msgid, string in changes.items():
        if string is None:
            catalog.delete(msgid)
        else:
            message = catalog.get(msgid)
            assert message is not None
            message.string = string
    for msgid in fuzzy:
        message = catalog.get(msgid)
        assert message is not None
        message.flags.add("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog)


def test_missing_empty_or_fuzzy_strings_fall_back_to_english(tmp_path: Path) -> None:
    locales = _copy_locales(tmp_path)
    _edit(
        po_path(locales, "de"),
        "de",
        {"Trade details": None, "Quantity": "", "Unit price": "Stückpreis"},
        fuzzy={"Unit price"},
    )
    translations = load_translations(locales, "de")
    assert translations.gettext("Trade details") == "Trade details"
    assert translations.gettext("Quantity") == "Quantity"
    assert translations.gettext("Unit price") == "Unit price"
    assert translations.gettext("Account") == "Konto"

    rendered = Renderer(TEMPLATES, locales).render(
        "confirmation_l2", samples.l2_final(), "de", "Europe/Berlin"
    )
    for body in (rendered.text, rendered.html, rendered.markdown):
        assert "Trade details" in body
        assert "Quantity" in body
        assert "Konto" in body


def test_regional_locale_falls_back_to_language_then_english(tmp_path: Path) -> None:
    locales = _copy_locales(tmp_path)
    assert load_translations(locales, "de_AT").gettext("Account") == "Konto"
    assert load_translations(locales, "pt_BR").gettext("Account") == "Account"
    assert load_translations(locales, "en_US").gettext("Account") == "Account"


def test_po_is_used_when_mo_is_missing_or_stale(tmp_path: Path) -> None:
    locales = _copy_locales(tmp_path)
    po = po_path(locales, "fr")
    assert load_translations(locales, "fr").gettext("Account") == "Compte"

    (mo,) = [p for p in compile_catalogs(locales) if p.parent == po.parent]
    _edit(po, "fr", {"Account": "Compte titres"}, fuzzy=set())
    os.utime(mo, (1_000_000_000, 1_000_000_000))  # the .mo is now older than the .po
    assert load_translations(locales, "fr").gettext("Account") == "Compte titres"

    compile_catalogs(locales)
    _edit(po, "fr", {"Account": "Compte espèces"}, fuzzy=set())
    os.utime(po, (1_000_000_000, 1_000_000_000))  # a fresh .mo wins over an older .po
    assert load_translations(locales, "fr").gettext("Account") == "Compte titres"


def test_extract_and_update_keep_translations(tmp_path: Path) -> None:
    locales = _copy_locales(tmp_path)
    extract_catalog(TEMPLATES, BABEL_CFG, locales)
    update_catalogs(locales)
    for locale in TRANSLATED:
        before = read_catalog(po_path(LOCALES_DIR, locale), locale)
        after = read_catalog(po_path(locales, locale), locale)
        assert {m.id: m.string for m in _messages(after)} == {
            m.id: m.string for m in _messages(before)
        }


# Issue 7: a reversal of settlement finality is not a cancellation, and finance terms are
# the ones a compliance reader expects (docs/events.md, "Translations of finance terms").
CORRECTED_TERMS = {
    "de": {
        "Market": "Market-Order",
        "Reverted": "Rückabgewickelt",
        "Trade reverted": "Geschäft rückabgewickelt",
        "Principal": "Handel für eigene Rechnung (Principal)",
        "Riskless principal": "Zusammenführung sich deckender Kundenaufträge (Riskless Principal)",
    },
    "fr": {
        "Net amount (total consideration)": "Montant net (montant total de la transaction)",
        "Reverted": "Règlement révoqué",
        "Principal": "Pour compte propre",
        "Riskless principal": "Compte propre avec interposition (riskless principal)",
        "%(label)s: %(value)s": "%(label)s\u202f: %(value)s",
    },
    "es": {"Stop": "Stop", "Stop limit": "Stop con límite"},
    "ja": {
        "Reverted": "決済巻き戻し",
        "Trade reverted": "取引の決済巻き戻し",
        "%(label)s: %(value)s": "%(label)s\uff1a%(value)s",  # a full-width colon
    },
}
# Words that mean "cancelled" must not translate a reversal; cancellations keep them.
CANCEL_WORDS = {
    "de": ("Storn",),
    "fr": ("annul",),
    "ja": ("取消", "取り消"),
    "es": ("cancel", "anul"),
}


@pytest.mark.parametrize("locale", TRANSLATED)
def test_corrected_finance_terms_are_in_the_catalogs(locale: str) -> None:
    catalog = read_catalog(po_path(LOCALES_DIR, locale), locale)
    for msgid, wanted in CORRECTED_TERMS[locale].items():
        message = catalog.get(msgid)
        assert message is not None and message.string == wanted, (locale, msgid)
    for message in _messages(catalog):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if any("revers" in i.lower() or "revert" in i.lower() for i in ids):
            forms = message.string if isinstance(message.string, tuple) else (message.string,)
            for word in CANCEL_WORDS[locale]:
                assert not any(word in form for form in forms), (locale, message.id, word)
    assert catalog.get("Market").string not in {"Bestens", "Billigst"}
