"""End to end in headless Chromium (Playwright): questions, sources, briefings, uploads, and bidi.

Direction is checked from the page itself: the computed CSS of each block, and the
geometry of its last line (right-aligned for Arabic, left-aligned for English).
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

# Where the last line of a block's text sits inside the block, and the block's bidi CSS.
GEOMETRY = """(el) => {
  const range = document.createRange(); range.selectNodeContents(el);
  const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
  const box = el.getBoundingClientRect(); const last = rects[rects.length - 1];
  const style = getComputedStyle(el);
  return {gapLeft: last.left - box.left, gapRight: box.right - last.right, lines: new Set(rects.map(r => Math.round(r.top))).size,
          bidi: style.unicodeBidi, align: style.textAlign, direction: style.direction};
}"""
LAST_CHAR_IS_RIGHTMOST = """(el) => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT); let node, lastNode = null;
  while ((node = walker.nextNode())) { if (node.textContent.trim()) lastNode = node; }
  const text = lastNode.textContent.replace(/\\s+$/, ''); const range = document.createRange();
  range.setStart(lastNode, text.length - 1); range.setEnd(lastNode, text.length);
  const dot = range.getBoundingClientRect(); const all = document.createRange(); all.selectNodeContents(el);
  const sameLine = Array.from(all.getClientRects()).filter(r => Math.abs(r.top - dot.top) < 4 && r.width > 0);
  return {char: text.slice(-1), rightmost: sameLine.every(r => r.right <= dot.right + 1)};
}"""


@pytest.fixture(scope="module")
def page(app_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: scripts/test.sh installs it (apt-get install chromium chromium-driver)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(90_000)
        pg.goto(app_url)
        yield pg
        browser.close()


def _ask(page, question: str, done: str = "\\[1\\]"):
    """Ask and wait until the last answer shows ``done`` (a JS regex)."""
    bots_before = page.locator("#isnad-chat [data-testid=bot]").count()
    page.locator("#isnad-question textarea").fill(question)
    page.locator("#isnad-ask").click()
    page.wait_for_function(
        f"""() => {{ const bots = document.querySelectorAll('#isnad-chat [data-testid=bot]');
                    return bots.length > {bots_before} && /{done}/.test(bots[bots.length - 1].innerText); }}""")
    return page.locator("#isnad-chat [data-testid=bot]").last


def test_arabic_question_renders_right_to_left(page):
    bot = _ask(page, "متى اتفق العراق والولايات المتحدة على انسحاب القوات القتالية الأمريكية؟")
    para = bot.locator("p").filter(has_text="«").first  # the quote (the short answer is its own paragraph)
    g = para.evaluate(GEOMETRY)
    assert g["bidi"] == "plaintext" and g["align"] == "start"
    assert g["gapRight"] < 4 and g["gapLeft"] > 20, g  # the last line hugs the right edge
    page.screenshot(path=str(ARTIFACTS / "chat-arabic.png"), full_page=True)


def test_source_opens_with_its_sentence_highlighted(page):
    source = page.locator("#isnad-src-1")
    source.locator("summary").click()
    assert source.evaluate("el => el.open")
    mark = source.locator("mark")
    assert mark.is_visible() and len(mark.inner_text()) > 20
    para = source.locator(".isnad-para")
    assert para.evaluate("el => getComputedStyle(el).direction") == "rtl"
    page.screenshot(path=str(ARTIFACTS / "source-open.png"), full_page=True)


def test_english_question_mixes_directions_correctly(page):
    page.get_by_role("button", name="Clear").first.click()
    bot = _ask(page, "How many coalition troops remain in Iraq?", done="not a translation")
    paragraphs = bot.locator("p")
    quote, note = paragraphs.filter(has_text="«").first, paragraphs.last
    assert "«" in quote.inner_text() and "not a translation" in note.inner_text()
    g_quote, g_note = quote.evaluate(GEOMETRY), note.evaluate(GEOMETRY)
    assert g_quote["gapRight"] < 4 and g_quote["gapLeft"] > 20, g_quote  # Arabic quote: right-to-left
    assert g_note["gapLeft"] < 4 and g_note["gapRight"] > 20, g_note  # English note: left-to-right
    end = note.evaluate(LAST_CHAR_IS_RIGHTMOST)
    assert end == {"char": ".", "rightmost": True}  # English full stop at the right end
    page.screenshot(path=str(ARTIFACTS / "chat-english.png"), full_page=True)


def test_bilingual_briefing_side_by_side(page):
    page.get_by_label("Topic", exact=True).check()
    page.locator("#isnad-topic textarea, #isnad-topic input").first.fill("US troop withdrawal from Iraq")
    page.locator("#isnad-brief-btn").click()
    page.wait_for_selector("#isnad-briefing .isnad-grid")
    row = page.locator("#isnad-briefing .isnad-grid").first
    ar, en = row.locator('[lang="ar"]'), row.locator('[lang="en"]')
    assert ar.evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert en.evaluate("el => getComputedStyle(el).direction") == "ltr"
    assert ar.bounding_box()["x"] > en.bounding_box()["x"]  # Arabic column on the right
    assert "no translation" in en.inner_text()
    text = page.locator("#isnad-briefing").inner_text()
    timeline = text.split("Timeline", 1)[1].split("Who said what", 1)[0]
    assert timeline.index("2020-01-05") < timeline.index("2021-06-05") < timeline.index("2024-01-25")
    page.screenshot(path=str(ARTIFACTS / "briefing-bilingual.png"), full_page=True)


def test_upload_adds_a_file_and_reports_a_bad_one(page, tmp_path):
    good = tmp_path / "browser_note.md"
    good.write_text("# Convoy attacked near Baghdad\n\nA roadside bomb hit a logistics convoy south of Baghdad "
                    "on Tuesday, security sources said, without casualties.", encoding="utf-8")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Caf\xe9 au lait near the embassy".encode("latin-1"))
    page.get_by_role("tab", name="Corpus / المقالات").click()
    page.locator("#isnad-upload input[type=file]").set_input_files([str(good), str(bad)])
    page.locator("#isnad-add").click()
    page.wait_for_function("() => /latin1\\.txt/.test(document.querySelector('#isnad-upload-report').innerText)")
    report = page.locator("#isnad-upload-report").inner_text()
    assert "✓ browser_note.md: added" in report and "✗ latin1.txt" in report and "UTF-8" in report
    page.wait_for_function("() => /browser_note\\.md/.test(document.querySelector('#isnad-corpus').innerText)")
    page.screenshot(path=str(ARTIFACTS / "upload.png"), full_page=True)


def test_article_markup_is_shown_as_text_and_never_fetched(page, tmp_path):
    import http.server
    import threading

    fetched: list[str] = []

    class Beacon(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server naming)
            fetched.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Beacon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    beacon = f'<img src="http://127.0.0.1:{server.server_address[1]}/beacon.png">'
    sentence = (f"قال مسؤول عسكري إن آخر وحدة ستغادر قاعدة حرير في أربيل {beacon} بحلول نهاية سبتمبر "
                "<script>alert(1)</script> وفق الخطة.")
    article = tmp_path / "beacon.txt"
    article.write_text(f"قاعدة حرير {beacon}\n\n{sentence} وأضاف أن المعدات الثقيلة نقلت بالفعل إلى الكويت.\n",
                       encoding="utf-8")
    requests: list[str] = []

    def log(request) -> None:
        requests.append(request.url)

    page.on("request", log)
    try:
        page.get_by_role("tab", name="Corpus / المقالات").click()
        page.locator("#isnad-upload input[type=file]").set_input_files([str(article)])
        page.locator("#isnad-add").click()
        page.wait_for_function("() => /✓ beacon\\.txt/.test(document.querySelector('#isnad-upload-report').innerText)")
        page.wait_for_function("() => /beacon\\.txt/.test(document.querySelector('#isnad-corpus').innerText)")
        assert beacon in page.locator("#isnad-corpus").inner_text()  # the title, as text
        page.get_by_role("tab", name="Ask & brief / اسأل ولخّص").click()
        bot = _ask(page, "متى ستغادر آخر وحدة قاعدة حرير في أربيل؟")
        assert f"«{sentence}»" in bot.evaluate("el => el.textContent")  # verbatim, tags and all
        source = page.locator("#isnad-src-1")
        source.locator("summary").click()
        assert source.locator("mark").evaluate("el => el.textContent") == sentence
        assert bot.locator("img").count() == 0 and source.locator("img, script").count() == 0
        page.screenshot(path=str(ARTIFACTS / "beacon-as-text.png"), full_page=True)
    finally:
        page.remove_listener("request", log)
        server.shutdown()
    assert fetched == [] and not [u for u in requests if "beacon" in u]
