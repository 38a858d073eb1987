"""Screenshots for the documentation: the app over an index, an English answer and a bilingual briefing.

    .venv/bin/python scripts/screenshots.py --index-dir data/index [--out docs/screenshots]

Starts the app on a free port of 127.0.0.1, drives it in headless Chromium (/usr/bin/chromium) and
writes app-desktop.png (the chat and the briefing side by side) and app-phone.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTION = "How many coalition troops remain in Iraq, and how many are American?"
TOPIC = "US troop withdrawal from Iraq"


def _asked(browser, port: int, viewport: dict):
    """A page of the app at ``viewport`` with QUESTION asked and answered."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(180_000)
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_selector("#isnad-chat")
    page.locator("#isnad-question textarea").fill(QUESTION)
    page.locator("#isnad-ask").click()
    page.wait_for_selector("#isnad-chat [data-testid=bot] .isnad-card")
    return page


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index-dir", default="data/index")
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = p.parse_args()

    from playwright.sync_api import sync_playwright

    from rag.config import Settings
    from rag.interfaces import app as isnad_app
    from rag.models.llm import free_port

    settings = Settings(
        index_dir=Path(args.index_dir), port=free_port(), host="127.0.0.1", pretranslate=False
    )
    demo = isnad_app.launch(settings, wait=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = _asked(browser, settings.port, {"width": 1440, "height": 1000})
            page.get_by_role("radio", name="Topic").check()
            page.locator("#isnad-topic textarea").fill(TOPIC)
            page.get_by_role("radio", name="short").check()
            page.locator("#isnad-brief-btn").click()
            page.wait_for_selector("#isnad-briefing .isnad-grid")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / "app-desktop.png"))
            phone = _asked(browser, settings.port, {"width": 390, "height": 844})
            phone.wait_for_timeout(1000)
            phone.screenshot(path=str(out / "app-phone.png"))
            browser.close()
    finally:
        demo.close()
    print(f"wrote {out / 'app-desktop.png'} and {out / 'app-phone.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
