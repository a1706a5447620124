"""Load every HTML body in headless Chromium and check that it renders cleanly on a phone.

Each kind and variant of ``tests/support/samples.py`` is rendered in en_US (the L2
confirmations and the primer also in de and ja) to a file, opened over ``file://`` at
phone width, and checked as a client would see it: nothing wider than the screen, a title
and a heading, no template markers or None, links and images that work from a mailbox,
and the page's language. Screenshots of the L2 final confirmation and the primer go to
``docs/screenshots/`` when ``NOTIFIER_WRITE_SCREENSHOTS=1`` and to the test's tmp_path
otherwise, so an ordinary run leaves the checkout clean.

Chromium missing is a failure, not a skip: install ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.config import PROJECT_ROOT
from notifier.rendering.renderer import Renderer
from tests.support import samples
from tests.support.browser import (
    DESKTOP,
    PHONE,
    SMALL_PHONE,
    Browser,
    PageReport,
    Viewport,
    missing_browser,
    png_size,
)

pytestmark = pytest.mark.timeout(60)

SCREENSHOTS_DIR = PROJECT_ROOT / "docs" / "screenshots"
WRITE_SCREENSHOTS = os.environ.get("NOTIFIER_WRITE_SCREENSHOTS") == "1"
ZONES = {"en_US": "America/New_York", "de": "Europe/Berlin", "ja": "Asia/Tokyo"}
SAMPLES = samples.all_samples()
TRANSLATED = [("confirmation_l2", "provisional"), ("confirmation_l2", "final"), ("primer_l2", "-")]
CASES = [(kind, variant, "en_US") for kind, variant in SAMPLES] + [
    (kind, variant, locale) for locale in ("de", "ja") for kind, variant in TRANSLATED
]
SHOTS = [
    ("confirmation_l2", "final", "en_US", PHONE),
    ("primer_l2", "-", "en_US", PHONE),
    ("confirmation_l2", "final", "en_US", DESKTOP),
    ("confirmation_l2", "final", "ja", PHONE),
]
TEMPLATE_MARKERS = ("{{", "}}", "{%", "%}", "{#", "#}", "%(")
# What a missing value turns into on the way from Python or JavaScript to the page.
LEAKED_VALUE = re.compile(r"\b(None|undefined|null|NaN|Undefined)\b")
LINK_SCHEMES = ("https://", "http://", "mailto:")


def page_name(kind: str, variant: str, locale: str) -> str:
    return "-".join([kind] if variant == "-" else [kind, variant]) + f"-{locale}"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(PROJECT_ROOT / "templates", PROJECT_ROOT / "locales")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    problem = missing_browser()
    if problem:
        pytest.fail(problem, pytrace=False)
    with Browser(tmp_path_factory.mktemp("chromium")) as running:
        yield running


def render_to_file(
    renderer: Renderer, kind: str, variant: str, locale: str, directory: Path
) -> Path:
    """Write the HTML body a client in ``locale`` gets to ``directory``; return its path."""
    html = renderer.render(kind, SAMPLES[kind, variant], locale, ZONES[locale]).html
    page = directory / f"{page_name(kind, variant, locale)}.html"
    page.write_text(html, encoding="utf-8")
    return page


def problems(report: PageReport, locale: str, viewport: Viewport) -> list[str]:
    """Everything a client would notice as broken on this page; empty when clean."""
    found: list[str] = []
    # A phone zooms out to fit content that is too wide (or a page without a viewport
    # meta tag), which widens innerWidth: so compare with the screen's width as well.
    if report.inner_width != viewport.width:
        found.append(
            f"zoomed out: innerWidth is {report.inner_width}px on a {viewport.width}px screen"
        )
    if report.scroll_width > min(report.inner_width, viewport.width):
        found.append(
            f"scrolls sideways: content {report.scroll_width}px > screen {viewport.width}px"
        )
    found += [f"sticks out of the screen: {element}" for element in report.overflowing]
    if not report.title.strip():
        found.append("empty <title>")
    if len(report.h1) != 1 or not report.h1[0]:
        found.append(f"expected one non-empty <h1>, found {report.h1!r}")
    for shown in (report.title, report.text):
        found += [f"template marker {m!r} in the page" for m in TEMPLATE_MARKERS if m in shown]
        found += [f"leaked value {m!r}" for m in sorted(set(LEAKED_VALUE.findall(shown)))]
    language = locale.replace("_", "-")
    if report.lang not in {language, language.split("-")[0]}:
        found.append(f'<html lang="{report.lang}"> does not match locale {locale}')
    for link in report.links:
        if not link["href"].startswith(LINK_SCHEMES):
            # A relative link resolves against file:// here and against nothing in a mailbox.
            found.append(f"link {link['href']!r} is not absolute http(s)/mailto")
        if not link["text"]:
            found.append(f"link {link['href']!r} has no visible text")
    for image in report.images:
        if not image["src"].startswith(("https://", "data:", "cid:")):
            found.append(f"image {image['src']!r} would not load in a mail client")
        if image["alt"] is None:
            found.append(f"image {image['src']!r} has no alt text")
        if image["src"].startswith("data:") and image["natural_width"] == 0:
            found.append(f"image {image['src'][:40]!r}… is broken")
    return found


@pytest.mark.parametrize("viewport", [PHONE, SMALL_PHONE], ids=lambda viewport: viewport.name)
@pytest.mark.parametrize(
    ("kind", "variant", "locale"), CASES, ids=[page_name(*case) for case in CASES]
)
def test_html_renders_cleanly_on_a_phone(
    renderer: Renderer,
    browser: Browser,
    tmp_path: Path,
    kind: str,
    variant: str,
    locale: str,
    viewport: Viewport,
) -> None:
    page = render_to_file(renderer, kind, variant, locale, tmp_path)
    source = page.read_text(encoding="utf-8")
    assert [m for m in TEMPLATE_MARKERS[:-1] if m in source] == [], "template syntax in the HTML"
    report = browser.open(page, viewport)
    assert problems(report, locale, viewport) == [], page.name
    assert samples.FIRM["name"] in report.text
    assert SAMPLES[kind, variant]["event_id"] in report.text


def test_missing_chromium_is_a_failure_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import browser as browser_module

    monkeypatch.setattr(browser_module, "CHROMIUM", Path("/nonexistent/chromium"))
    message = browser_module.missing_browser()
    assert message is not None
    assert "apt-get install -y chromium chromium-driver" in message


def _japanese_font_installed() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    listed = subprocess.run(
        [fc_list, ":lang=ja", "family"], capture_output=True, text=True, timeout=20, check=False
    )
    return bool(listed.stdout.strip())


@pytest.mark.parametrize(
    ("kind", "variant", "locale", "viewport"),
    SHOTS,
    ids=[f"{page_name(k, v, loc)}-{vp.name}" for k, v, loc, vp in SHOTS],
)
def test_screenshot(
    renderer: Renderer,
    browser: Browser,
    tmp_path: Path,
    kind: str,
    variant: str,
    locale: str,
    viewport: Viewport,
) -> None:
    if WRITE_SCREENSHOTS and locale == "ja" and not _japanese_font_installed():
        # Without a CJK font Chromium draws boxes, and the README would show them.
        pytest.fail("no Japanese font for the ja screenshot: apt-get install -y fonts-noto-cjk")
    page = render_to_file(renderer, kind, variant, locale, tmp_path)
    report = browser.open(page, viewport)
    assert problems(report, locale, viewport) == [], page.name
    png = browser.screenshot(viewport)
    width, height = png_size(png)
    assert width == round(viewport.width * viewport.scale)
    # The whole page, not just the first screen.
    assert height == round(report.scroll_height * viewport.scale)
    directory = SCREENSHOTS_DIR if WRITE_SCREENSHOTS else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{page.stem}-{viewport.name}.png").write_bytes(png)
