"""Every notice renders byte for byte as pinned (tests/data/render/digests.json).

The renderer keeps compiled templates, translated labels and Babel patterns between
renders to be cheap; these tests say that what a client reads did not change, in any
kind, variant, locale or format, and that no render depends on what was rendered before
it. ``tests/support/render_corpus.py`` says how to inspect and re-pin a deliberate change.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import babel

from notifier.notices.kinds import KINDS
from notifier.rendering.renderer import Renderer
from tests.support import render_corpus

HOW = (
    "differ from tests/data/render/digests.json; inspect with "
    "`python -m tests.support.render_corpus --dump DIR` before and after, `diff -r`, "
    "and re-pin with --write only if the change is meant (or Babel's CLDR data changed)"
)


def test_every_notice_renders_as_pinned() -> None:
    renderer = Renderer(render_corpus.TEMPLATES, render_corpus.LOCALES_DIR)
    changed = render_corpus.differences(render_corpus.digests(renderer), render_corpus.pinned())
    babel_then = json.loads(render_corpus.DIGESTS.read_text())["babel"]
    versions = f"pinned with Babel {babel_then}, running {babel.__version__}"
    assert not changed, f"{len(changed)} cases {HOW} ({versions}): {changed[:20]}"


def test_the_pins_cover_every_kind_in_every_locale() -> None:
    covered = {tuple(case.split("/")[::3]) for case in render_corpus.pinned()}
    wanted = {(kind, locale) for kind in KINDS for locale in render_corpus.LOCALE_ZONES}
    assert wanted <= covered
    assert ("ack", "ja") in covered


def test_a_render_does_not_depend_on_the_renders_before_it() -> None:
    """A fresh renderer taking the corpus backwards (pages first, then the notices, the
    last locale and kind first) shows the same bytes as one that goes forwards."""
    renderer = Renderer(render_corpus.TEMPLATES, render_corpus.LOCALES_DIR)
    outputs = render_corpus.render_all(renderer, reverse=True)
    actual = {case: render_corpus.digest(parts) for case, parts in outputs.items()}
    changed = render_corpus.differences(actual, render_corpus.pinned())
    assert not changed, f"{len(changed)} cases rendered backwards {HOW}: {changed[:20]}"


def test_a_one_byte_change_in_a_template_is_seen(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(render_corpus.TEMPLATES, templates)
    partial = templates / "partials" / "confirmation.txt"
    partial.write_text(partial.read_text().replace("\n  {{ labels.row", "\n {{ labels.row"))
    renderer = Renderer(templates, render_corpus.LOCALES_DIR)
    actual = render_corpus.digests(renderer, "confirmation_l1/final/base/")
    assert len(actual) == len(render_corpus.LOCALE_ZONES)
    pins = render_corpus.pinned()
    assert [case for case in actual if actual[case] != pins[case]] == list(actual)
