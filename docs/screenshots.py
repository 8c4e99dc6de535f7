"""Screenshot the built docs site in headless Chromium, 1280 px wide, and check its layout.

    python docs/screenshots.py SITE_DIR OUT_DIR

Run by `make screenshots`, which builds the site and installs Chromium first. The site is
served on 127.0.0.1 from a free port for the duration, and Chromium resolves no other
host, so nothing leaves the machine.

Every page is loaded once at 1280 px: a script the server adds to each page reports the
page's height and any table or code block wider than its box (one a reader would have
to scroll sideways). The index, reference and performance pages are then shot as tall as
they are (Chromium shoots its window, not the document), into OUT_DIR/NAME-1280.png;
docs/README.md describes the images. The run fails if any page has a cut-off block.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WIDTH = 1280
MEASURING_HEIGHT = 2000
MAX_HEIGHT = 16000  # Chromium fails on taller windows
# (output name, page path in the site)
SHOTS = (("index", ""), ("reference", "reference/"), ("performance", "performance/"))
REPORT_PATH = "/__layout-report__"
# Once the page has loaded: its height, and the blocks whose content is wider than they
# are (a table's columns or a code line hidden past the right-hand edge).
REPORT_LAYOUT = (
    """<script>addEventListener("load", () => setTimeout(() => {
  const cut = [...document.querySelectorAll(
      ".md-content pre > code, .md-content table, .md-content .md-typeset__scrollwrap")]
    .filter((block) => block.scrollWidth > block.clientWidth + 1)
    .map((block) => block.tagName.toLowerCase() + ": " + block.textContent.trim().slice(0, 60));
  const height = document.documentElement.scrollHeight;
  const report = {page: location.pathname, height, cut};
  fetch("REPORT_PATH", {method: "POST", body: JSON.stringify(report)});
}))</script>""".replace("REPORT_PATH", REPORT_PATH)
).encode()
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Only the local server resolves: no font, analytics or update request leaves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # Let the page's scripts and images settle before the shot.
    "--virtual-time-budget=5000",
)


class _Site(ThreadingHTTPServer):
    reports: dict[str, dict[str, Any]]  # page path -> what the page reported


class _Handler(SimpleHTTPRequestHandler):
    """The site's files, with REPORT_LAYOUT added to every page."""

    server: _Site

    def send_head(self) -> Any:
        path = Path(self.translate_path(self.path))
        page = path / "index.html" if path.is_dir() else path
        if page.suffix != ".html" or not page.is_file() or not self.path.endswith(("/", "html")):
            return super().send_head()
        body = page.read_bytes().replace(b"</body>", REPORT_LAYOUT + b"</body>", 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == REPORT_PATH:
            report = json.loads(body)
            self.server.reports[report["page"]] = report
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """One line per request would bury Chromium's own messages."""


@contextmanager
def serve(site: Path) -> Iterator[_Site]:
    """Serve `site` on 127.0.0.1 from a free port in a daemon thread."""
    server = _Site(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
    server.reports = {}
    thread = threading.Thread(target=server.serve_forever, name="docs-site", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found is not None:
            return found
    raise SystemExit("Chromium not found: `make screenshots` installs Debian's chromium")


def run_chromium(browser: str, url: str, height: int, action: str) -> None:
    """Load `url` in a fresh headless Chromium with a window WIDTH x height, then `action`."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{height}",
                action,
                url,
            ],
            check=True,
            timeout=180,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Chromium's crash handler and D-Bus lookups need a writable home.
            env={**os.environ, "HOME": profile},
        )


def measure(browser: str, site: _Site, path: str) -> dict[str, Any]:
    """Load the page at `path` once; return its report (`height`, `cut`)."""
    run_chromium(browser, url(site, path), MEASURING_HEIGHT, "--dump-dom")
    report = site.reports.get("/" + path)
    if report is None:
        raise SystemExit(f"{url(site, path)} never reported its layout: did the page load?")
    return report


def shoot(browser: str, site: _Site, path: str, height: int, out: Path) -> None:
    out.unlink(missing_ok=True)
    run_chromium(browser, url(site, path), height, f"--screenshot={out}")
    if not out.is_file():
        raise SystemExit(f"Chromium wrote no screenshot of {url(site, path)}")


def url(site: _Site, path: str) -> str:
    return f"http://127.0.0.1:{site.server_address[1]}/{path}"


def pages(site_dir: Path) -> list[str]:
    """The path of every page of the built site, `""` for the home page."""
    found = sorted(p.parent.relative_to(site_dir).as_posix() for p in site_dir.rglob("index.html"))
    return ["" if p == "." else p + "/" for p in found]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built site (mkdocs build)")
    parser.add_argument("out", type=Path, help="where the PNGs go")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        raise SystemExit(f"{args.site} holds no built site: run `mkdocs build` first")
    args.out.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    cut: list[str] = []
    with serve(args.site) as site:
        reports = {path: measure(browser, site, path) for path in pages(args.site)}
        for path, report in reports.items():
            cut += [f"/{path}: {block}" for block in report["cut"]]
        for name, path in SHOTS:
            out = (args.out / f"{name}-{WIDTH}.png").resolve()
            height = max(600, min(reports[path]["height"], MAX_HEIGHT))
            shoot(browser, site, path, height, out)
            print(f"{os.path.relpath(out)}: /{path} at {WIDTH}x{height}")
    print(f"{len(reports)} pages checked at {WIDTH} px: {len(cut)} cut-off blocks")
    if cut:
        raise SystemExit(
            "Blocks wider than the page (a reader must scroll sideways):\n" + "\n".join(cut)
        )


if __name__ == "__main__":
    main()
