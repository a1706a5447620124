"""Headless Chromium for tests: Debian's ``chromium`` and ``chromedriver``, nothing downloaded.

Selenium is given both paths, so Selenium Manager never runs (it would try to fetch a
driver from the network). Every browser gets a fresh profile directory and the flags that
keep Chromium off the network; the page size comes from the DevTools protocol, so one
browser serves a phone and a desktop viewport.
"""

from __future__ import annotations

import math
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = (
    "headless-Chromium tests need Debian's Chromium and its driver at {chromium} and "
    "{driver}: run `apt-get install -y chromium chromium-driver` (CI's .ci/run installs them)"
)
# Only these flags: no sandbox (CI runs as root), and nothing that phones home.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
)
PAGE_LOAD_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Viewport:
    """A screen in CSS pixels; ``mobile`` makes Chromium honour the viewport meta tag."""

    name: str
    width: int
    height: int
    scale: float
    mobile: bool


PHONE = Viewport("phone", 412, 915, 2.0, mobile=True)
SMALL_PHONE = Viewport("small-phone", 360, 800, 2.0, mobile=True)  # many Android phones
DESKTOP = Viewport("desktop", 1280, 800, 1.0, mobile=False)


@dataclass(frozen=True)
class PageReport:
    """What a client would see on the loaded page, as the browser laid it out."""

    lang: str
    title: str
    h1: list[str]
    text: str
    inner_width: int
    scroll_width: int
    scroll_height: int
    overflowing: list[str]  # elements whose right edge lies beyond the screen's width
    images: list[dict[str, Any]]
    links: list[dict[str, Any]]


def missing_browser() -> str | None:
    """Say what to install when Chromium or its driver is absent, else None."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if not absent:
        return None
    hint = INSTALL_HINT.format(chromium=CHROMIUM, driver=CHROMEDRIVER)
    return f"{', '.join(absent)} not found; {hint}"


def png_size(png: bytes) -> tuple[int, int]:
    """Return (width, height) of a PNG from its IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


_INSPECT = """
const root = document.documentElement;
const limit = arguments[0];  // the screen's width: a zoomed-out page widens innerWidth
const overflowing = [];
for (const el of document.body.querySelectorAll('*')) {
  const box = el.getBoundingClientRect();
  if (overflowing.length < 10 && box.width > 0 && box.right > limit + 0.5) {
    overflowing.push(`<${el.tagName.toLowerCase()}> right=${Math.round(box.right)}px: `
      + (el.textContent || '').trim().slice(0, 60));
  }
}
return {
  lang: root.getAttribute('lang') || '',
  title: document.title,
  h1: Array.from(document.querySelectorAll('h1'), (h) => h.innerText.trim()),
  text: document.body.innerText,
  inner_width: window.innerWidth,
  scroll_width: root.scrollWidth,
  scroll_height: Math.max(root.scrollHeight, document.body.scrollHeight),
  overflowing: overflowing,
  images: Array.from(document.images, (img) => ({
    src: img.getAttribute('src') || '', resolved: img.src, alt: img.getAttribute('alt'),
    complete: img.complete, natural_width: img.naturalWidth,
  })),
  links: Array.from(document.querySelectorAll('a'), (a) => ({
    href: a.getAttribute('href') || '', resolved: a.href, text: a.innerText.trim(),
  })),
};
"""


class Browser:
    """One headless Chromium, driven by chromedriver; use as a context manager."""

    def __init__(self, profile_dir: Path) -> None:
        self.profile_dir = profile_dir
        self._driver: webdriver.Chrome | None = None

    def __enter__(self) -> Browser:
        problem = missing_browser()
        if problem:
            raise RuntimeError(problem)
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile_dir / 'profile'}")
        service = Service(
            executable_path=str(CHROMEDRIVER),
            log_output=str(self.profile_dir / "chromedriver.log"),
        )
        self._driver = webdriver.Chrome(service=service, options=options)
        self._driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_SECONDS)
        self._driver.set_script_timeout(PAGE_LOAD_TIMEOUT_SECONDS)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._driver is not None:
            self._driver.quit()
            self._driver = None
        shutil.rmtree(self.profile_dir / "profile", ignore_errors=True)

    @property
    def driver(self) -> webdriver.Chrome:
        if self._driver is None:
            raise RuntimeError("the browser is not running; use `with Browser(...)`")
        return self._driver

    def _resize(self, viewport: Viewport, height: int) -> None:
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": viewport.width,
                "height": height,
                "deviceScaleFactor": viewport.scale,
                "mobile": viewport.mobile,
            },
        )

    def open(self, page: Path, viewport: Viewport) -> PageReport:
        """Load a local HTML file at the viewport's size and report how it laid out."""
        self._resize(viewport, viewport.height)
        self.driver.get(page.resolve().as_uri())
        return self.inspect(viewport)

    def visit(self, url: str, viewport: Viewport) -> PageReport:
        """Load a URL (a live server on 127.0.0.1) at the viewport's size and report it."""
        self._resize(viewport, viewport.height)
        self.driver.get(url)
        return self.inspect(viewport)

    def inspect(self, viewport: Viewport) -> PageReport:
        data: dict[str, Any] = self.driver.execute_script(_INSPECT, viewport.width)
        return PageReport(**data)

    def screenshot(self, viewport: Viewport) -> bytes:
        """Capture the whole page: the viewport is stretched to the document's height."""
        height = math.ceil(self.inspect(viewport).scroll_height)
        self._resize(viewport, max(height, 1))
        png: bytes = self.driver.get_screenshot_as_png()
        self._resize(viewport, viewport.height)
        return png
