"""Screenshot of the chat page answering a question, in headless Chromium (the README's picture).

    python -m ui.screenshot docs/chat.png

Indexes seeds/ into a temporary index, serves the app on a free port, asks through the page like a
person would, and saves the PNG. Uses Debian's /usr/bin/chromium; never downloads a browser.
"""
from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

from rag.config import Config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ANSWER_TIMEOUT_MS = 60_000


def launch_chromium(playwright):
    """Headless Debian Chromium via Playwright (no Playwright browser download)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask_in_page(page, question: str) -> None:
    """Type a question into the chat box, press Enter, and wait for the bot's reply to appear."""
    replies = page.locator('#chat [data-testid="bot"]')
    before = replies.count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    replies.nth(before).wait_for(timeout=ANSWER_TIMEOUT_MS)


def take(out: Path, questions: list[str], seeds: Path = Path("seeds"), scheme: str = "light") -> None:
    from playwright.sync_api import sync_playwright

    from rag.indexer import index_seeds
    from ui.app import start
    from ui.backend import Backend

    with tempfile.TemporaryDirectory() as tmp:
        config = Config.from_env(seeds_dir=seeds, index_dir=Path(tmp) / "index")  # nothing is uploaded
        index_seeds(config)
        backend = Backend(config)
        backend.warm_up()
        demo, url = start(backend, port=free_port())
        try:
            with sync_playwright() as p:
                browser = launch_chromium(p)
                # The browser's colour scheme, which the page follows (prefers-color-scheme).
                page = browser.new_page(viewport={"width": 1280, "height": 860}, color_scheme=scheme)
                page.goto(url)
                for question in questions:
                    ask_in_page(page, question)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
                browser.close()
        finally:
            demo.close()
            backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--question", action="append", help="question(s) to ask first (repeatable)")
    parser.add_argument("--scheme", choices=("light", "dark"), default="light", help="the browser's colour scheme")
    args = parser.parse_args()
    take(args.out, args.question or ["Who succeeded Stoltenberg?", "Where was he prime minister?"], scheme=args.scheme)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
