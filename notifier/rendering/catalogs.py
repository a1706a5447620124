"""Gettext catalogs for the templates: extract, update, compile, and load for rendering.

The templates are the only source of messages (``babel.cfg`` says how to read them).
``locales/messages.pot`` is extracted from them; each ``locales/<lang>/LC_MESSAGES/
messages.po`` is updated from the .pot and holds the translations. ``.mo`` files are build
output (gitignored): :func:`load_translations` compiles a ``.po`` in memory whenever its
``.mo`` is missing or older, so a fresh checkout renders translated notices without a
build step. A string that is missing, empty or fuzzy falls back to English (the msgid).
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable, Iterator
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

DOMAIN = "messages"
# English is the source language: its catalog exists so every language is listed in one
# place, but its msgstrs stay empty and the msgids are shown.
LOCALES = ("en", "de", "fr", "es", "ja")


# The support console's own messages (notifier/api/console/templates), kept apart so
# notice translators and console translators never edit the same file.
CONSOLE_DOMAIN = "console"


def pot_path(locales_dir: Path, domain: str = DOMAIN) -> Path:
    return locales_dir / f"{domain}.pot"


def po_path(locales_dir: Path, locale: str, domain: str = DOMAIN) -> Path:
    return locales_dir / locale / "LC_MESSAGES" / f"{domain}.po"


def read_catalog(path: Path, locale: str | None = None, domain: str = DOMAIN) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, domain=domain)


def _write_catalog(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        # Obsolete messages are dropped, not kept as #~ comments: git keeps their history.
        write_po(
            handle,
            catalog,
            width=100,
            sort_output=True,
            include_previous=True,
            ignore_obsolete=True,
        )


def extract_messages(templates_dir: Path, mapping_file: Path, domain: str = DOMAIN) -> Catalog:
    """Return every message the templates use, as a catalog template."""
    with mapping_file.open(encoding="utf-8") as handle:
        # Babel leaves parse_mapping_cfg unannotated; it returns (method_map, options_map).
        method_map, options_map = parse_mapping_cfg(handle, str(mapping_file))  # type: ignore[no-untyped-call]
    catalog = Catalog(project="notifier", domain=domain, charset="utf-8")
    found = extract_from_dir(templates_dir, method_map, options_map, keywords=DEFAULT_KEYWORDS)
    for filename, lineno, message, comments, context in found:
        location = (str(Path(templates_dir.name) / filename), lineno)
        catalog.add(message, None, [location], auto_comments=comments, context=context)
    return catalog


def extract_catalog(
    templates_dir: Path, mapping_file: Path, locales_dir: Path, domain: str = DOMAIN
) -> Path:
    """Write ``locales/<domain>.pot`` from the templates."""
    path = pot_path(locales_dir, domain)
    _write_catalog(extract_messages(templates_dir, mapping_file, domain), path)
    return path


def update_catalogs(
    locales_dir: Path, locales: Iterable[str] = LOCALES, domain: str = DOMAIN
) -> list[Path]:
    """Merge ``messages.pot`` into each locale's ``messages.po``, keeping its translations.

    New messages arrive untranslated; changed ones arrive fuzzy with the old translation
    as a hint. Both render in English until a translator fills them in.
    """
    template = read_catalog(pot_path(locales_dir, domain), domain=domain)
    written = []
    for locale in locales:
        path = po_path(locales_dir, locale, domain)
        if path.exists():
            catalog = read_catalog(path, locale, domain)
        else:
            catalog = Catalog(locale=locale, domain=domain, project="notifier", charset="utf-8")
        catalog.update(template)
        _write_catalog(catalog, path)
        written.append(path)
    return written


def _mo_bytes(catalog: Catalog) -> bytes:
    buffer = BytesIO()
    # Fuzzy and empty msgstrs are left out, so gettext falls back to the English msgid.
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def compile_catalogs(locales_dir: Path, domain: str = DOMAIN) -> list[Path]:
    """Compile every ``locales/*/LC_MESSAGES/<domain>.po`` to ``.mo``."""
    written = []
    for path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{domain}.po")):
        mo_path = path.with_suffix(".mo")
        mo_path.write_bytes(_mo_bytes(read_catalog(path, path.parent.parent.name, domain)))
        written.append(mo_path)
    return written


def _lookup_names(locale: str) -> Iterator[str]:
    """Yield ``de_AT``, ``de`` for ``de_AT``: the most specific catalog first."""
    seen = set()
    parsed = Locale.parse(locale.replace("-", "_"))
    for name in (str(parsed), parsed.language):
        if name not in seen:
            seen.add(name)
            yield name


def _load_one(locales_dir: Path, name: str, domain: str) -> Translations | None:
    po = po_path(locales_dir, name, domain)
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return Translations(handle, domain=domain)
    if po.exists():
        return Translations(BytesIO(_mo_bytes(read_catalog(po, name, domain))), domain=domain)
    return None


def load_translations(
    locales_dir: Path, locale: str, domain: str = DOMAIN
) -> gettext.NullTranslations:
    """Return the translations for ``locale``, falling back to its language, then English."""
    chain: Translations | None = None
    for name in _lookup_names(locale):
        loaded = _load_one(locales_dir, name, domain)
        if loaded is None:
            continue
        if chain is None:
            chain = loaded
        else:
            chain.add_fallback(loaded)
    return chain if chain is not None else gettext.NullTranslations()
