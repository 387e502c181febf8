"""Open every page of the built book in headless Chromium, offline, and check what a reader sees.

    python tools/check_book.py [--html _build/html] [--chromium /usr/bin/chromium]

The book (``make book``) is served on 127.0.0.1 and Chromium is driven through
its DevTools protocol, over the pipe that ``--remote-debugging-pipe`` opens, so
no driver package is needed. Every request to another host is blocked. A page
fails on:

- a console error or an uncaught exception;
- a request that failed: blocked (it went to another host), refused, or
  answered with an HTTP error;
- an image that did not load;
- TeX left untypeset, or typeset as an error, by MathJax;
- for a chapter: no Colab link to the chapter's notebook in the repository, or
  a search for a word of the chapter's title that does not find the chapter.

A screenshot of each page is saved in ``_build/screenshots/`` for a person to
look at. The last line reads ``N passed, M failed``; the exit status is 1 when
a page failed. Pages given as arguments (``book/part1.html``) are the only ones checked.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import functools
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book_pages  # noqa: E402  (the chapters and their titles)
import notebooks  # noqa: E402  (the repository URL, set once in _config.yml)

BROWSERS = min(2, os.cpu_count() or 1)  # browsers checking pages side by side
TIMEOUT_S = 60  # for one page to load and settle (a bound on a hang; a page takes about a second)
VIEWPORT = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
SCREENSHOT_MAX_HEIGHT = 16000  # px; Chromium cannot capture much more in one image
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no name resolves: offline
    "--remote-debugging-pipe",
]

# Run in each page once it has loaded: waits for MathJax and the images, then reports.
PAGE_REPORT_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const broken = [];
  await Promise.all([...document.images].map(img => {
    img.loading = "eager";
    return img.decode().catch(() => broken.push(img.getAttribute("src")));
  }));
  // Sphinx wraps each formula in a .math element; MathJax puts an mjx-container inside.
  const untypeset = [...document.querySelectorAll(".math")]
    .filter(e => !e.querySelector("mjx-container") && !e.closest("mjx-container"))
    .map(e => e.textContent.trim().slice(0, 80));
  // TeX delimiters in the text outside code: formulas that never became math elements.
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode()); ) {
    if (node.parentElement.closest("pre, code, script, style, textarea, mjx-container, .math")) continue;
    const m = node.textContent.match(/\\\(|\\\[|\\begin\{|\$\$/);
    if (m) untypeset.push(node.textContent.trim().slice(0, 80));
  }
  const texErrors = [...document.querySelectorAll("mjx-merror")]
    .map(e => e.getAttribute("data-mjx-error") || e.textContent);
  const resources = [...document.querySelectorAll(
    "script[src], link[href][rel~=stylesheet], link[href][rel~=preload], link[href][rel~=icon], " +
    "img[src], iframe[src], source[src], video[src], audio[src], object[data], embed[src]")]
    .map(e => e.src || e.href || e.data);
  return {
    title: (document.querySelector("h1") || {textContent: ""}).textContent.replace(/[#¶]\s*$/, "").trim(),
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    mathElements: document.querySelectorAll(".math").length,
    untypeset, texErrors, broken, resources,
  };
})()
"""

# Run in search.html?q=...: waits for Sphinx's search to finish and returns the pages found.
SEARCH_RESULTS_JS = r"""
(async () => {
  const deadline = Date.now() + 45000;
  let summary = null;
  while (Date.now() < deadline) {
    summary = document.querySelector("#search-results .search-summary");
    if (summary && /finished|did not match/.test(summary.textContent)) break;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  return {
    summary: summary ? summary.textContent : "(the search did not finish)",
    hits: [...document.querySelectorAll("#search-results ul.search li a")].map(a => a.href.split("#")[0].split("?")[0]),
  };
})()
"""


class DevToolsError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium and its DevTools protocol: JSON messages ending in a NUL byte, written to
    the browser's fd 3 and read from its fd 4."""

    def __init__(self, executable: str, profile: Path, log) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # copies numbered 10 and up, so that moving them to 3 and 4 in the child cannot overwrite each other
        read_end = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD_CLOEXEC, 10)
        write_end = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD_CLOEXEC, 10)

        def use_fds_3_and_4() -> None:  # in the child, before exec; dup2 makes them inheritable
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=False, preexec_fn=use_fds_3_and_4,
        )
        for fd in (to_browser_read, from_browser_write, read_end, write_end):
            os.close(fd)
        self._buffer = bytearray()
        self._last_id = 0
        self.handlers: dict[str, callable] = {}  # event method -> handler(params)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data):]
        return self._last_id

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and wait for its reply, handling the events that arrive meanwhile."""
        sent = self.send(method, params, session)
        reply = self.wait_for(lambda m: m.get("id") == sent, TIMEOUT_S, f"a reply to {method}")
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error'].get('message')}")
        return reply["result"]

    def wait_for(self, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = self._next_message(deadline, what)
            if "method" in message and message["method"] in self.handlers:
                self.handlers[message["method"]](message.get("params", {}))
            if predicate(message):
                return message

    def pump(self, seconds: float) -> None:
        """Handle the events that arrive within ``seconds``."""
        try:
            self.wait_for(lambda m: False, seconds, "")
        except TimeoutError:
            pass

    def _next_message(self, deadline: float, what: str) -> dict:
        while (end := self._buffer.find(b"\0")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._from_browser], [], [], remaining)[0]:
                raise TimeoutError(f"timed out waiting for {what}")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise DevToolsError("Chromium closed its DevTools pipe (see _build/chromium.log)")
            self._buffer += chunk
        message = json.loads(self._buffer[:end])
        del self._buffer[: end + 1]
        return message

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


class Tab:
    """One page of the browser, with every problem its loads produce collected in ``problems``."""

    def __init__(self, browser: Chromium) -> None:
        self.browser = browser
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.problems: list[str] = []
        self.in_flight: dict[str, str] = {}  # request id -> URL
        self.blocked: set[str] = set()
        self.loaded = False
        browser.handlers.update({
            "Fetch.requestPaused": self._on_request,
            "Network.requestWillBeSent": lambda p: self.in_flight.__setitem__(p["requestId"], p["request"]["url"]),
            "Network.loadingFinished": lambda p: self.in_flight.pop(p["requestId"], None),
            "Network.loadingFailed": self._on_failed,
            "Network.responseReceived": self._on_response,
            "Runtime.exceptionThrown": self._on_exception,
            "Runtime.consoleAPICalled": self._on_console,
            "Log.entryAdded": self._on_log,
            "Page.loadEventFired": lambda p: setattr(self, "loaded", True),
        })
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})
        self.call("Emulation.setDeviceMetricsOverride", VIEWPORT)

    def call(self, method: str, params: dict | None = None) -> dict:
        return self.browser.call(method, params, self.session)

    # --- events

    def _on_request(self, p: dict) -> None:
        url = p["request"]["url"]
        if urlsplit(url).hostname in ("127.0.0.1", None):  # None: data: and blob: URLs
            self.browser.send("Fetch.continueRequest", {"requestId": p["requestId"]}, self.session)
        else:
            self.blocked.add(url)
            self.problems.append(f"request to another host (blocked): {url}")
            self.browser.send("Fetch.failRequest", {"requestId": p["requestId"], "errorReason": "BlockedByClient"},
                              self.session)

    def _on_failed(self, p: dict) -> None:
        url = self.in_flight.pop(p["requestId"], None)
        if url is not None and url not in self.blocked:  # None: a request of the page opened before
            self.problems.append(f"request failed ({p.get('errorText')}): {url}")

    def _on_response(self, p: dict) -> None:
        # the browser asks for /favicon.ico by itself; the book has no icon, and no page asks for one
        if p["response"]["status"] >= 400 and urlsplit(p["response"]["url"]).path != "/favicon.ico":
            self.problems.append(f"HTTP {p['response']['status']}: {p['response']['url']}")

    def _on_exception(self, p: dict) -> None:
        details = p["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "")
        self.problems.append(f"uncaught exception: {text.splitlines()[0] if text else details}")

    def _on_console(self, p: dict) -> None:
        if p["type"] in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.problems.append(f"console.{p['type']}: {args}")

    def _on_log(self, p: dict) -> None:
        entry = p["entry"]
        if entry["level"] == "error" and entry.get("source") != "network":  # network errors: reported above
            self.problems.append(f"browser error ({entry.get('source')}): {entry['text']} {entry.get('url', '')}")

    # --- actions

    def open(self, url: str) -> None:
        self.problems, self.blocked, self.in_flight, self.loaded = [], set(), {}, False
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            self.problems.append(f"navigation failed: {result['errorText']}")
            return
        if not self.loaded:  # (the load event may have come with the reply to navigate)
            self.browser.wait_for(lambda m: self.loaded, TIMEOUT_S, f"{url} to load")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True, "timeout": TIMEOUT_S * 1000})
        if "exceptionDetails" in result:
            raise DevToolsError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def settle(self) -> None:
        """Wait until no request has been in flight for a moment (fonts and scripts load late)."""
        deadline = time.monotonic() + TIMEOUT_S
        quiet_since = None
        while time.monotonic() < deadline:
            self.browser.pump(0.05)
            if self.in_flight:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.25:
                return
        self.problems.append(f"requests still in flight after {TIMEOUT_S} s: {sorted(self.in_flight.values())}")

    def screenshot(self, path: Path) -> None:
        """The whole page: the viewport is made as tall as the page, captured, then restored."""
        height = int(self.call("Page.getLayoutMetrics")["cssContentSize"]["height"])
        self.call("Emulation.setDeviceMetricsOverride", dict(VIEWPORT, height=min(height, SCREENSHOT_MAX_HEIGHT)))
        shot = self.call("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True})
        self.call("Emulation.setDeviceMetricsOverride", VIEWPORT)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


# ----------------------------------------------------------------------------- the book


def serve(directory: Path) -> http.server.ThreadingHTTPServer:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def book_pages_in(html: Path) -> list[Path]:
    skip = {"_static", "_sources", "_images"}
    return sorted(p for p in html.rglob("*.html") if not skip & set(p.relative_to(html).parts))


def colab_link(md_path: Path) -> str:
    """The Colab URL the chapter page must link: the chapter's notebook in the repository."""
    repository = notebooks.repository_url().removeprefix("https://github.com/").strip("/")
    branch = re.search(r"^\s+branch:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M).group(1)
    notebook = md_path.with_suffix(".ipynb").relative_to(ROOT).as_posix()
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/{notebook}"


def search_word(title: str) -> str:
    """The longest word of a chapter's title (its number left out): the query that must find it."""
    words = re.findall(r"[A-Za-z]{4,}", re.sub(r"^\d+(\.\d+)*\s*", "", title))
    return max(words, key=len) if words else title


def check_page(tab: Tab, base: str, html: Path, page: Path, chapters: dict[str, Path], shots: Path) -> list[str]:
    relative = page.relative_to(html).as_posix()
    text = page.read_text(errors="replace")
    refresh = re.search(r'http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', text, re.I)
    if refresh:  # a redirect stub (index.html): its target must exist
        target = (page.parent / refresh.group(1)).resolve()
        return [] if target.is_file() else [f"redirects to a missing page: {refresh.group(1)}"]

    tab.open(f"{base}/{relative}")
    report = tab.evaluate(PAGE_REPORT_JS)
    tab.settle()
    problems = list(tab.problems)
    problems += [f"image did not load: {src}" for src in report["broken"]]
    problems += [f"TeX left untypeset: {tex!r}" for tex in report["untypeset"]]
    problems += [f"TeX error: {error}" for error in report["texErrors"]]
    problems += [f"resource from another host: {url}" for url in report["resources"]
                 if urlsplit(url).hostname not in ("127.0.0.1", None)]
    tab.screenshot(shots / relative.replace("/", "__").replace(".html", ".png"))

    md_path = chapters.get(relative)
    if md_path is not None:
        expected = colab_link(md_path)
        if expected not in report["links"]:
            colab = [link for link in report["links"] if "colab" in link]
            problems.append(f"no Colab link to {expected} (Colab links: {colab or 'none'})")
        word = search_word(report["title"])
        tab.open(f"{base}/search.html?q={quote(word)}")
        found = tab.evaluate(SEARCH_RESULTS_JS)
        tab.settle()
        problems += [f"search page: {p}" for p in tab.problems]
        if f"{base}/{relative}" not in found["hits"]:
            problems.append(f"a search for {word!r} does not find the chapter ({found['summary']})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built book")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"), help="the browser to run")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots")
    parser.add_argument("pages", nargs="*", help="only these pages, relative to the book (book/part1.html ...)")
    args = parser.parse_args(argv)

    executable = shutil.which(args.chromium)
    if executable is None:
        print(f"{args.chromium} not found: install Chromium (`make chromium` installs Debian's as root)")
        return 2
    if not (args.html / "search.html").is_file():
        print(f"no built book in {args.html}: run `make book` first")
        return 2
    pages = book_pages_in(args.html)
    chapters = {md.relative_to(ROOT).with_suffix(".html").as_posix(): md for md in book_pages.chapter_sources()}
    missing = sorted(set(chapters) - {p.relative_to(args.html).as_posix() for p in pages})
    if args.pages:
        pages = [args.html / page for page in args.pages]
        missing = [page for page in args.pages if not (args.html / page).is_file()]
        pages = [page for page in pages if page.is_file()]

    start = time.monotonic()
    if not args.pages:
        shutil.rmtree(args.screenshots, ignore_errors=True)  # no screenshot of a page that is gone
    results: dict[int, list[str]] = {}
    work = list(enumerate(pages))
    lock = threading.Lock()

    def check_pages(browser: Chromium) -> None:
        """One browser's share: it takes the next unchecked page until none is left."""
        tab = Tab(browser)
        while True:
            with lock:
                if not work:
                    return
                index, page = work.pop(0)
            try:
                results[index] = check_page(tab, base, args.html, page, chapters, args.screenshots)
            except (DevToolsError, TimeoutError) as error:
                results[index] = [str(error)]

    with tempfile.TemporaryDirectory() as profiles, open(ROOT / "_build" / "chromium.log", "w") as log:
        # one browser per core (the pages are independent), all started before the server's thread: they fork
        browsers = [Chromium(executable, Path(profiles) / str(i), log) for i in range(BROWSERS)]
        server = serve(args.html)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            threads = [threading.Thread(target=check_pages, args=(browser,)) for browser in browsers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for browser in browsers:
                browser.close()
            server.shutdown()
    failed = 0
    for index, page in enumerate(pages):
        problems = results.get(index, ["not checked (its browser stopped)"])
        name = page.relative_to(args.html).as_posix()
        print(("ok    " if not problems else "FAIL  ") + name + "".join(f"\n      - {p}" for p in problems))
        failed += bool(problems)
    for name in missing:
        print(f"FAIL  {name}\n      - no such page in the built book")
    failed += len(missing)
    print(f"{len(pages) + len(missing)} pages in {time.monotonic() - start:.0f} s; screenshots in "
          f"{args.screenshots.relative_to(ROOT) if args.screenshots.is_relative_to(ROOT) else args.screenshots}")
    print(f"{len(pages) + len(missing) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
