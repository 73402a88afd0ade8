"""The built book as a reader meets it: every page opened in headless Chromium.

Usage:
    python -m tools.book_browser check [--html _build/html]        report every problem on every page
    python -m tools.book_browser screenshots [--html _build/html]  full-page PNGs, desktop and phone

The browser is Debian's ``chromium`` package driven by Playwright (its own browser download is
never used: ``executable_path`` points at the system binary). Pages are served from a local
HTTP server on 127.0.0.1, and every request that leaves it is refused and reported, so a page
that needs the network to render (a CDN script, a remote font) fails here as it would offline.

What counts as a problem on a page (:func:`check_page`), each reported as ``(kind, detail)``:

- ``console``: a console error or an uncaught script error;
- ``request``: a resource that failed to load (status >= 400, refused, or outside the book);
- ``image``: an ``<img>`` that did not load, or a ``<figure>`` with no loaded image in it;
- ``link``: an internal link to a missing page, or to an anchor that page does not have;
- ``placeholder``: a glue placeholder or an object repr (``<Figure size ...>``,
  ``<... object at 0x...>``), raw MyST role syntax (``{glue}`name```), or an unresolved
  cross-reference or citation;
- ``tex``: math that MathJax did not typeset, or ``$...$`` / TeX commands left as text;
- ``overflow``: the page scrolls sideways, or content reaches past the text column, or is
  clipped by a box that does not scroll, or sits in a sideways-scrolling box taller than the
  window (whose scrollbar the reader then cannot see);
- ``layout``: a table cell squeezed into more than eight lines in a column under 12 em wide;
- ``content``: a chapter page that shows fewer figures or tables than its executed notebook made,
  or has no download link to that notebook.

Apart from those, :attr:`PageReport.reading` lists where a page departs from the reading
conventions of book/conventions.md: an output image without a numbered caption, code visible on
the first screen.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import html.parser
import http.server
import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"
SCREENSHOTS = REPO / "_build" / "screenshots"
INSTALL_CHROMIUM = "apt-get install -y chromium"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
# A desktop window and a phone (the width of most phones in CSS pixels).
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# Pages Sphinx writes besides those of the table of contents.
SPHINX_PAGES = ("index.html", "genindex.html", "search.html")


def chromium_path() -> str | None:
    """The system Chromium (``$HANDBOOK_CHROMIUM`` overrides), or None where it is not installed."""
    override = os.environ.get("HANDBOOK_CHROMIUM")
    if override:
        return override if Path(override).is_file() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def book_pages() -> list[str]:
    """Every page of the book, as paths under the HTML folder: the table of contents in reading
    order, then the pages Sphinx adds (the redirecting index, the general index, search)."""
    import yaml

    from tools.build_book import toc_files

    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [f"{entry}.html" for entry in toc_files(toc)] + list(SPHINX_PAGES)


def built_pages(html_dir: Path) -> list[str]:
    """Every HTML page present in a built book (not the theme's static files)."""
    return sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html")
                  if p.relative_to(html_dir).parts[0] not in ("_static", "_sources", "_images"))


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) for as long as the context lasts."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def browser(executable: str | None = None):
    """A headless Chromium (the system one) under Playwright."""
    from playwright.sync_api import sync_playwright

    executable = executable or chromium_path()
    if executable is None:
        raise RuntimeError(f"Chromium is not installed; install it with: {INSTALL_CHROMIUM}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value or "")


@functools.lru_cache(maxsize=256)
def _anchors(path: Path) -> frozenset[str]:
    parser = _Anchors()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.ids)


def expected_outputs(notebook: Path) -> dict[str, int]:
    """Figures and tables an executed notebook shows: image and HTML-table outputs of cells that
    are not removed (``remove-cell``/``remove-output``), not counting glue values (those appear
    where the prose references them)."""
    counts = {"figures": 0, "tables": 0}
    for cell in json.loads(notebook.read_text())["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or tags & {"remove-cell", "remove-output"}:
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "scrapbook" in output.get("metadata", {}):
                continue
            if any(m.startswith("image/") for m in data):
                counts["figures"] += 1
            elif "<table" in "".join(data.get("text/html", "")):
                counts["tables"] += 1
    return counts


# Runs in the page once it has loaded: waits for images and MathJax, then measures.
_MEASURE = r"""
async () => {
  for (const img of document.images) img.loading = "eager";
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(done => { img.addEventListener("load", done); img.addEventListener("error", done); })));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const main = document.querySelector("article") || document.querySelector("main") || document.body;
  const visible = el => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && (!el.checkVisibility || el.checkVisibility()); };
  const describe = el => {
    const what = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
        (el.classList.length ? "." + [...el.classList].slice(0, 2).join(".") : "");
    return what + " \"" + (el.innerText || el.getAttribute("src") || "").trim().replace(/\s+/g, " ").slice(0, 60) + "\"";
  };
  const out = {images: [], figures: [], links: [], unresolved: [], texts: [], math: [],
               overflow: [], layout: [], reading: [], counts: {}, downloads: []};
  for (const img of document.images)
    if (!img.complete || img.naturalWidth === 0) out.images.push(img.getAttribute("src") || "(no src)");
  for (const fig of main.querySelectorAll("figure")) {
    const media = [...fig.querySelectorAll("img, svg, object, video, canvas")];
    if (!media.some(m => m.tagName !== "IMG" || (m.complete && m.naturalWidth > 0)))
      out.figures.push(describe(fig));
  }
  for (const a of document.querySelectorAll("a[href]")) out.links.push(a.href);
  for (const el of document.querySelectorAll(
      ".problematic, .system-message, span.xref, code.xref, span.pending_xref"))
    if (!el.closest("a")) out.unresolved.push(describe(el));
  // Visible prose text, outside code, scripts and typeset math.
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, {acceptNode: node =>
      node.parentElement.closest("pre, code, kbd, samp, script, style, textarea, mjx-container, .math, .highlight")
          ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const chunks = [];
  while (walker.nextNode()) chunks.push(walker.currentNode.textContent);
  out.texts = chunks;
  for (const el of main.querySelectorAll(".math"))
    if (!el.querySelector("mjx-container") && !el.closest("mjx-container"))
      out.math.push(el.textContent.trim().slice(0, 60));
  // Sideways: the document itself, then every element against the box that bounds it.
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1)
    out.overflow.push(`the page is ${doc.scrollWidth} px wide in a ${window.innerWidth} px window`);
  const column = main.getBoundingClientRect();
  const hidden = el => el.closest("mjx-assistive-mml, .visually-hidden, .sr-only") ||
      getComputedStyle(el).clip.startsWith("rect");
  const reported = [], tallBoxes = new Set();
  for (const el of main.querySelectorAll("*")) {
    if (!visible(el) || hidden(el) || reported.some(r => r.contains(el))) continue;
    let box = el.parentElement, mode = "visible";
    while (box && box !== main) {
      const style = getComputedStyle(box);
      if (style.overflowX !== "visible") { mode = style.overflowX; break; }
      box = box.parentElement;
    }
    const right = el.getBoundingClientRect().right;
    if (mode === "auto" || mode === "scroll") {
      // Wider than a box that scrolls: fine while that box fits the window, so that its
      // sideways scrollbar is on screen together with the content it moves.
      const height = box.getBoundingClientRect().height;
      if (right > box.getBoundingClientRect().right + 1 && height > window.innerHeight && !tallBoxes.has(box)) {
        tallBoxes.add(box);
        out.overflow.push(`${describe(box)} scrolls sideways but is ${Math.round(height)} px tall, ` +
            `taller than the ${window.innerHeight} px window: its scrollbar is out of sight`);
      }
      continue;
    }
    const bound = mode === "visible" ? column : box.getBoundingClientRect();
    if (right > bound.right + 1) {
      reported.push(el);
      out.overflow.push(`${describe(el)} ends ${Math.round(right - bound.right)} px past ` +
          (mode === "visible" ? "the text column" : "its box, which clips it"));
    }
  }
  // Rows squeezed into many lines: a cell more than eight lines tall in a column narrower than
  // 12 em (long text wrapping in a column of readable width is fine).
  for (const table of main.querySelectorAll("table")) {
    if (!visible(table)) continue;
    for (const cell of table.querySelectorAll("td, th")) {
      const style = getComputedStyle(cell);
      const em = parseFloat(style.fontSize);
      const line = parseFloat(style.lineHeight) || 1.5 * em;
      const r = cell.getBoundingClientRect();
      const lines = Math.round((r.height - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom)) / line);
      if (lines > 8 && r.width < 12 * em && cell.innerText.trim().split(/\s+/).length > lines / 2) {
        out.layout.push(`${describe(table)}: a cell squeezed into ${lines} lines ` +
            `${Math.round(r.width / em)} em wide: ${describe(cell)}`);
        break;
      }
    }
  }
  // Reading conventions: captioned figures, and a first screen of prose and results.
  for (const img of main.querySelectorAll(".cell_output img")) {
    const fig = img.closest("figure");
    const number = fig && fig.querySelector("figcaption .caption-number");
    if (!number) out.reading.push(`image without a numbered caption: ${describe(img)}`);
  }
  for (const input of main.querySelectorAll(".cell_input")) {
    const r = input.getBoundingClientRect();
    const shown = input.checkVisibility ? input.checkVisibility() : input.innerText.trim() !== "";
    if (shown && r.height > 0 && r.top + window.scrollY < window.innerHeight)
      out.reading.push(`code on the first screen (${Math.round(r.height)} px at ${Math.round(r.top + window.scrollY)} px): ${describe(input)}`);
  }
  out.counts = {
    figures: main.querySelectorAll(".cell_output img, figure img").length,
    tables: main.querySelectorAll("table").length,
  };
  for (const a of document.querySelectorAll("a[href$='.ipynb']")) out.downloads.push(a.href);
  return out;
}
"""

# Text a reader should never see: what a failed glue, a stray repr or an unparsed role leaves.
PLACEHOLDERS = {
    "object repr": r"<[\w.]+ object at 0x[0-9a-fA-F]+>",
    "figure repr": r"<Figure size \d+(\.\d+)?x\d+(\.\d+)? with \d+ Axes>",
    "display repr": r"<IPython\.core\.display\.\w+ object>",
    "raw MyST role": r"\{[a-z][\w-]*(:[\w-]+)*\}`[^`]*`",
    "unresolved citation": r"\[\?\]|\?\?",
}
RAW_TEX = {
    "dollar math": r"(?<![\w$\\])\$(?!\s)[^$\n]{1,200}?(?<![\s\\])\$(?![\w$])|\$\$",
    "TeX command": r"\\(frac|mathrm|mathbb|mathbf|sum|int|sqrt|begin|end|left|right|cdot|times|"
                   r"sigma|alpha|beta|lambda|leq|geq|le|ge|in|operatorname|text)(?![a-zA-Z])",
    "TeX delimiter": r"\\\(|\\\)|\\\[|\\\]",
}


@dataclass
class PageReport:
    page: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # departures from the reading conventions (book/conventions.md), reported apart from problems
    reading: list[str] = field(default_factory=list)

    def add(self, kind: str, detail: str) -> None:
        if (kind, detail) not in self.problems:
            self.problems.append((kind, detail))

    def kinds(self) -> set[str]:
        return {kind for kind, _ in self.problems}

    def __str__(self) -> str:
        lines = [f"{self.page}: {len(self.problems)} problem(s)"]
        lines += [f"  [{kind}] {detail}" for kind, detail in self.problems]
        return "\n".join(lines)


def _check_link(url: str, base: str, html_dir: Path) -> str | None:
    """Why an internal link does not resolve (None where it does, or where it is external)."""
    if not url.startswith(base):
        return None
    target, fragment = urldefrag(url)
    relative = unquote(urlparse(target).path)[len(urlparse(base).path):]
    path = html_dir / relative
    if path.is_dir():
        path = path / "index.html"
    if not path.is_file():
        return f"{url}: no such file {relative or '/'}"
    if fragment and path.suffix == ".html" and unquote(fragment) not in _anchors(path):
        return f"{url}: {relative} has no anchor #{fragment}"
    return None


def check_page(page, base: str, html_dir: Path, relative: str,
               notebook: Path | None = None) -> PageReport:
    """Open ``base + relative`` in ``page`` (a Playwright page) and report every problem.

    ``notebook`` is the executed notebook the page was rendered from, if any: the page must show
    at least its figures and tables and link to it for download.
    """
    import re

    report = PageReport(relative)
    events: list[tuple[str, str]] = []

    def on_console(message):
        if message.type == "error":
            events.append(("console", f"console error: {message.text}"))

    def on_route(route):
        if route.request.url.startswith(base) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            events.append(("request", f"requests {route.request.url} from outside the book "
                                      "(a reader offline would not get it)"))
            route.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda error: events.append(("console", f"script error: {error}")))
    page.on("requestfailed", lambda request: request.url.startswith(base) and events.append(
        ("request", f"failed to load {request.url}: {request.failure}")))
    page.on("response", lambda response: response.status >= 400 and events.append(
        ("request", f"HTTP {response.status} for {response.url}")))
    page.route("**/*", on_route)
    try:
        page.goto(base + relative, wait_until="load")
        page.wait_for_load_state("networkidle")
        found = page.evaluate(_MEASURE)
    finally:
        page.remove_listener("console", on_console)
        page.unroute("**/*")
    for kind, detail in events:
        report.add(kind, detail)
    for src in found["images"]:
        report.add("image", f"image did not load: {src}")
    for what in found["figures"]:
        report.add("image", f"figure without a loaded image: {what}")
    for url in found["links"]:
        why = _check_link(url, base, html_dir)
        if why:
            report.add("link", f"broken internal link {why}")
    for what in found["unresolved"]:
        report.add("placeholder", f"unresolved reference: {what}")
    text = "\n".join(found["texts"])
    for name, pattern in PLACEHOLDERS.items():
        for match in re.finditer(pattern, text):
            report.add("placeholder", f"{name} in the text: {match.group(0)[:80]!r}")
    for math in found["math"]:
        report.add("tex", f"math not typeset: {math!r}")
    for name, pattern in RAW_TEX.items():
        for match in re.finditer(pattern, text):
            start = max(0, match.start() - 30)
            report.add("tex", f"raw TeX ({name}) in the text: {text[start:match.end() + 30]!r}")
    for what in found["overflow"]:
        report.add("overflow", what)
    for what in found["layout"]:
        report.add("layout", what)
    report.counts = found["counts"]
    report.reading = found["reading"]
    if notebook is not None:
        expected = expected_outputs(notebook)
        for what, count in expected.items():
            if found["counts"][what] < count:
                report.add("content", f"shows {found['counts'][what]} {what}, but its notebook "
                                      f"{notebook.name} made {count}")
        if not any(url.split("?")[0].endswith(notebook.name) for url in found["downloads"]):
            report.add("content", f"no download link to the executed {notebook.name}")
    return report


def notebook_for(html_dir: Path, relative: str) -> Path | None:
    """The executed notebook a page was rendered from (Sphinx keeps it for the download button)."""
    source = html_dir / "_sources" / Path(relative).with_suffix(".ipynb")
    return source if source.is_file() else None


@contextlib.contextmanager
def _using(chromium=None):
    """The given Playwright browser, or a fresh one for the duration (Playwright's sync API
    allows one at a time in a thread)."""
    if chromium is not None:
        yield chromium
    else:
        with browser() as fresh:
            yield fresh


def check_book(html_dir: Path = HTML, pages: list[str] | None = None,
               viewport: dict | None = None, chromium=None) -> list[PageReport]:
    """Check every page of a built book at desktop width."""
    pages = pages or built_pages(html_dir)
    reports = []
    with serve(html_dir) as base, _using(chromium) as chromium:
        for relative in pages:  # a fresh context each: no page sees another's local storage
            context = chromium.new_context(viewport=viewport or VIEWPORTS["desktop"])
            reports.append(check_page(context.new_page(), base, html_dir, relative,
                                      notebook_for(html_dir, relative)))
            context.close()
    return reports


def screenshots(html_dir: Path = HTML, out: Path = SCREENSHOTS, chromium=None) -> list[Path]:
    """A full-page PNG of every page at every width in :data:`VIEWPORTS`, under ``out/<width>/``."""
    written = []
    with serve(html_dir) as base, _using(chromium) as chromium:
        for name, viewport in VIEWPORTS.items():
            phone = name == "phone"
            context = chromium.new_context(viewport=viewport, device_scale_factor=1,
                                           is_mobile=phone, has_touch=phone)
            for relative in built_pages(html_dir):
                if relative == "index.html":  # a redirect to the intro
                    continue
                page = context.new_page()
                page.goto(base + relative, wait_until="load")
                page.wait_for_load_state("networkidle")
                page.evaluate(_MEASURE)  # the same waits: images, MathJax
                target = out / name / (relative.replace("/", "__").removesuffix(".html") + ".png")
                target.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
                page.close()
            context.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("check", "screenshots"))
    parser.add_argument("--html", type=Path, default=HTML, help="the built book (default %(default)s)")
    parser.add_argument("--out", type=Path, default=SCREENSHOTS, help="where screenshots go")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").is_file():
        sys.exit(f"no built book at {args.html}: run `make book PROFILE=smoke` first")
    if chromium_path() is None:
        sys.exit(f"Chromium is not installed; install it with: {INSTALL_CHROMIUM}")
    if args.command == "screenshots":
        for path in screenshots(args.html, args.out):
            print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
        return 0
    reports = check_book(args.html)
    for report in reports:
        print(report if report.problems else f"{report.page}: ok {report.counts}")
        for what in report.reading:
            print(f"  [reading] {what}")
    return 1 if any(r.problems for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
