"""End to end in headless Chromium (Playwright): what a reader sees, checked from the rendered page.

Direction is checked from the page itself: each block's computed ``direction`` and the
on-screen order of mixed runs (a file name's characters left to right, an English
sentence's full stop at its right end). Citations are clicked, chats reloaded and
stopped, the interface switched to Arabic, and a phone viewport laid out.
Screenshots per viewport go to test-artifacts/.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
DESK, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}
SEED_FILE = "000_93952b5621d37da0.txt"

LAST_CHAR_IS_RIGHTMOST = """(el) => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT); let node, lastNode = null;
  while ((node = walker.nextNode())) { if (node.textContent.trim()) lastNode = node; }
  const text = lastNode.textContent.replace(/\\s+$/, ''); const range = document.createRange();
  range.setStart(lastNode, text.length - 1); range.setEnd(lastNode, text.length);
  const dot = range.getBoundingClientRect(); const all = document.createRange(); all.selectNodeContents(el);
  const sameLine = Array.from(all.getClientRects()).filter(r => Math.abs(r.top - dot.top) < 4 && r.width > 0);
  return {char: text.slice(-1), rightmost: sameLine.every(r => r.right <= dot.right + 1)};
}"""
# x of each character of ``needle`` inside ``el``, in logical order (so the run reads left to right when increasing).
CHAR_XS = """([el, needle]) => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT); let node;
  while ((node = walker.nextNode())) {
    const i = node.textContent.indexOf(needle); if (i < 0) continue;
    return Array.from(needle).map((_, k) => { const r = document.createRange();
      r.setStart(node, i + k); r.setEnd(node, i + k + 1); return r.getBoundingClientRect().left; });
  }
  return null;
}"""
IN_VIEW = """(el) => { const r = el.getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }"""


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Chromium is missing: scripts/test.sh installs it (apt-get install chromium chromium-driver)"
        )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, url: str, viewport: dict = DESK):
    context = browser.new_context(viewport=viewport)
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    pg.goto(url)
    pg.wait_for_selector("#isnad-chat")
    return pg


@pytest.fixture(scope="module")
def page(browser, app_url):
    pg = _open(browser, app_url)
    yield pg
    pg.context.close()


def _ask(page, question: str, done: str = "isnad-card"):
    """Ask and wait until the last answer holds an element of class ``done``."""
    bots_before = page.locator("#isnad-chat [data-testid=bot]").count()
    page.locator("#isnad-question textarea").fill(question)
    page.locator("#isnad-ask").click()
    page.wait_for_function(
        f"""() => {{ const bots = document.querySelectorAll('#isnad-chat [data-testid=bot]');
                    return bots.length > {bots_before} && bots[bots.length - 1].querySelector('.{done}'); }}"""
    )
    return page.locator("#isnad-chat [data-testid=bot]").last


def _direction(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).direction")


def _reads_left_to_right(locator, needle: str) -> bool:
    xs = locator.evaluate(f"(el) => ({CHAR_XS})([el, {json.dumps(needle)}])")
    return xs is not None and all(a < b for a, b in zip(xs, xs[1:]))


def test_arabic_answer_is_a_card_of_blocks_each_in_its_direction(page):
    bot = _ask(page, "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟")
    card = bot.locator(".isnad-card")
    assert card.get_attribute("dir") == "rtl" and card.get_attribute("lang") == "ar"
    quote = card.locator(".isnad-src .isnad-quote").first
    assert _direction(quote) == "rtl" and quote.get_attribute("lang") == "ar"
    meta = card.locator(".isnad-src .isnad-meta").first
    assert _direction(meta) == "rtl" and SEED_FILE in meta.inner_text()
    assert _reads_left_to_right(meta, SEED_FILE)  # the file name isolated: not "75_003e…" reordered
    for el in card.locator(".isnad-block").all():  # every block says its own language and direction
        assert el.get_attribute("dir") in ("rtl", "ltr") and el.get_attribute("lang") in ("ar", "en")
    page.screenshot(path=str(ARTIFACTS / "desk-chat-arabic.png"))


def test_english_answer_keeps_english_and_arabic_in_separate_blocks(page):
    # The card is drawn again when the quotes' English is added: wait for that, the answer's final form.
    bot = _ask(
        page, "When did Iraq and the US agree to redeploy coalition forces outside the country?", "isnad-mt"
    )
    card = bot.locator(".isnad-card")
    assert card.get_attribute("dir") == "ltr"
    short = card.locator(".isnad-short")
    assert "5 June 2021" in short.inner_text() and _direction(short) == "ltr"
    english = card.locator(".isnad-src .isnad-mt").first
    assert english.get_attribute("lang") == "en" and _direction(english) == "ltr"
    assert "Key facts" in english.inner_text() and "«" not in english.inner_text()
    quote = card.locator(".isnad-src .isnad-quote").first
    assert _direction(quote) == "rtl" and not any(
        w in quote.inner_text() for w in ("Key facts", "translation")
    )
    meta = card.locator(".isnad-src .isnad-meta").first
    text = meta.inner_text()
    assert (
        text.startswith("[1]") and _reads_left_to_right(meta, "[1]") and _reads_left_to_right(meta, SEED_FILE)
    )
    note = card.locator(".isnad-note").last  # English notice: left to right, full stop at its right end
    assert _direction(note) == "ltr" and note.evaluate(LAST_CHAR_IS_RIGHTMOST) == {
        "char": ".",
        "rightmost": True,
    }
    assert card.locator(".isnad-src").first.evaluate(IN_VIEW)  # the first source shows without scrolling
    page.screenshot(path=str(ARTIFACTS / "desk-chat-english.png"))


def test_a_citation_click_opens_scrolls_to_and_highlights_the_source(page):
    page.locator("#isnad-chat [data-testid=bot]").last.locator(".isnad-short a.isnad-cite").first.click()
    source = page.locator("#isnad-sources #isnad-src-1")
    page.wait_for_function("() => document.querySelector('#isnad-sources #isnad-src-1').open")
    assert "isnad-flash" in source.get_attribute("class")
    mark = source.locator("mark.isnad-answer")  # the short answer, inside the quoted sentence
    assert mark.is_visible() and "2021" in mark.inner_text() and mark.evaluate(IN_VIEW)
    assert source.locator("mark").first.inner_text().startswith("اتفق العراق")
    heading = page.locator("#isnad-sources h3")
    assert "Sources" in heading.inner_text()
    chat_box, panel_box = page.locator("#isnad-chat").bounding_box(), heading.bounding_box()
    assert panel_box["y"] > chat_box["y"] + chat_box["height"]  # under the chat, with its heading
    page.screenshot(path=str(ARTIFACTS / "desk-citation-clicked.png"))


def test_bilingual_briefing_says_each_sentence_once_and_links_its_sources(page):
    page.get_by_role("radio", name="Topic").check()
    page.locator("#isnad-topic textarea").fill("US troop withdrawal from Iraq")
    page.locator("#isnad-brief-btn").click()
    page.wait_for_selector("#isnad-briefing .isnad-grid")
    row = page.locator("#isnad-briefing .isnad-grid").first
    ar, en = row.locator(":scope > [lang=ar]"), row.locator(":scope > [lang=en]")
    assert _direction(ar) == "rtl" and _direction(en) == "ltr"
    assert ar.bounding_box()["x"] > en.bounding_box()["x"]  # Arabic column on the right
    quotes = page.locator("#isnad-briefing .isnad-grid > [lang=ar]").all_inner_texts()
    sentences = [q.split("«", 1)[1].split("»", 1)[0] for q in quotes if "«" in q]
    assert sentences and len(sentences) == len(set(sentences))  # no sentence twice
    text = page.locator("#isnad-briefing").inner_text()
    assert "see key point" in text  # the timeline points back to a key point instead of repeating it
    timeline = text.split("Timeline", 1)[1].split("Who said what", 1)[0]
    assert timeline.index("2020-01-05") < timeline.index("2021-06-05") < timeline.index("2024-01-25")
    assert "«" not in text.rsplit("Sources", 1)[1]  # the reference list does not quote again
    link = page.locator("#isnad-briefing .isnad-grid a.isnad-cite").first
    target = link.get_attribute("href")[1:]
    link.click()
    page.wait_for_function(f"() => document.getElementById('{target}').open")
    assert page.locator(f"#{target} mark").evaluate(IN_VIEW)
    assert "isnad-briefing-us-troop-withdrawal-from-iraq-" in page.locator("#isnad-download").inner_text()
    page.screenshot(path=str(ARTIFACTS / "desk-briefing.png"), full_page=True)


def test_a_topic_outside_the_corpus_says_so_and_shows_what_is_covered(page):
    page.locator("#isnad-topic textarea").fill("Chinese economy")
    page.locator("#isnad-brief-btn").click()
    page.wait_for_function("() => /do not cover/.test(document.querySelector('#isnad-briefing').innerText)")
    text = page.locator("#isnad-briefing").inner_text()
    assert "What the articles cover" in text and "لا تتناول المقالات هذا الموضوع" in text
    assert "Key points" not in text


def test_regenerate_answers_the_last_question_again_in_place(page):
    bots = page.locator("#isnad-chat [data-testid=bot]")
    before, last_question = bots.count(), page.locator("#isnad-chat [data-testid=user]").last.inner_text()
    old_id = bots.last.locator(".isnad-card").get_attribute("id")
    page.locator("#isnad-regenerate").click()
    page.wait_for_function(f"""() => {{ const c = document.querySelectorAll('#isnad-chat .isnad-card');
        return c.length && c[c.length - 1].id !== '{old_id}'; }}""")
    assert (
        bots.count() == before
        and page.locator("#isnad-chat [data-testid=user]").last.inner_text() == last_question
    )


def test_the_chat_survives_a_reload_and_can_be_cleared(page):
    before = page.locator("#isnad-chat [data-testid=bot]").count()
    assert before >= 2
    page.reload()
    page.wait_for_function(
        f"() => document.querySelectorAll('#isnad-chat [data-testid=bot]').length === {before}"
    )
    assert page.locator("#isnad-chat .isnad-card").count() == before
    page.locator("#isnad-clear").click()
    page.wait_for_function("() => document.querySelectorAll('#isnad-chat [data-testid=bot]').length === 0")
    page.reload()
    page.wait_for_selector("#isnad-chat")
    time.sleep(2)
    assert page.locator("#isnad-chat [data-testid=bot]").count() == 0


def test_labelled_inputs_and_the_arabic_interface(page):
    assert page.get_by_role("textbox", name="Your question").count() == 1
    page.locator("#isnad-ui-lang label", has_text="العربية").click()
    page.wait_for_function("() => document.documentElement.dir === 'rtl'")
    assert page.evaluate("document.documentElement.lang") == "ar"
    page.get_by_role("button", name="اسأل", exact=True).wait_for()
    chat, brief = page.locator("#isnad-chat").bounding_box(), page.locator("#isnad-brief-btn").bounding_box()
    assert chat["x"] > brief["x"]  # the chat on the right
    page.screenshot(path=str(ARTIFACTS / "desk-arabic-interface.png"))
    page.locator("#isnad-ui-lang label", has_text="English").click()
    page.wait_for_function("() => document.documentElement.dir === 'ltr'")


def test_phone_layout_stacks_the_briefing_and_keeps_the_tabs(browser, app_url):
    pg = _open(browser, app_url, PHONE)
    try:
        for name in ("Ask & brief", "Corpus", "Evaluate", "Settings"):
            assert pg.get_by_role("tab", name=name).is_visible()
        _ask(pg, "How many coalition troops remain in Iraq?")
        pg.screenshot(path=str(ARTIFACTS / "phone-chat.png"))
        pg.get_by_role("radio", name="Article", exact=True).check()
        pg.locator("#isnad-article input").click()
        pg.get_by_role("option").first.click()
        pg.locator("#isnad-brief-btn").click()
        pg.wait_for_selector("#isnad-briefing .isnad-grid")
        row = pg.locator("#isnad-briefing .isnad-grid").first
        ar, en = (
            row.locator(":scope > [lang=ar]").bounding_box(),
            row.locator(":scope > [lang=en]").bounding_box(),
        )
        assert en["y"] > ar["y"] and en["width"] > 300  # stacked, each the screen's width
        pg.locator("#isnad-briefing").scroll_into_view_if_needed()
        pg.screenshot(path=str(ARTIFACTS / "phone-briefing.png"))
    finally:
        pg.context.close()


# ---------------------------------------------------------------- a slow generator: announce, count, stop


class _SlowModel(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that thinks for 3 s, then writes a word a second."""

    def do_POST(self):  # noqa: N802 (http.server naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        time.sleep(3)
        try:
            for word in ["About ", "3,000 ", "coalition ", "troops "] * 10:
                chunk = {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(1)
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def slow_app_url(settings, tmp_path_factory):
    import shutil

    from rag.interfaces import app as isnad_app
    from rag.models.llm import free_port

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = tmp_path_factory.mktemp("slow")
    shutil.copytree(settings.index_dir, root / "index")
    slow = settings.model_copy(
        update={
            "index_dir": root / "index",
            "uploads_dir": root / "uploads",
            "port": free_port(),
            "generator": "remote",
            "llm_base_url": f"http://127.0.0.1:{server.server_address[1]}/v1",
            "llm_model": "m",
            "llm_timeout": 120.0,
            "pretranslate": False,
        }
    )
    demo = isnad_app.launch(slow, wait=False)
    yield f"http://127.0.0.1:{slow.port}/"
    demo.close()
    server.shutdown()


def test_a_generation_announces_its_wait_counts_words_and_can_be_stopped(browser, slow_app_url):
    pg = _open(browser, slow_app_url)
    try:
        pg.get_by_role("tab", name="Settings").click()
        pg.get_by_role("radio", name="Generator (machine-written, verified)").check()
        pg.get_by_role("tab", name="Ask & brief").click()
        pg.locator("#isnad-question textarea").fill("How many coalition troops remain in Iraq?")
        pg.locator("#isnad-ask").click()
        pg.wait_for_function(
            "() => /is reading the sources/.test(document.querySelector('#isnad-chat').innerText)"
        )
        pg.wait_for_function(
            "() => /writing \\(not yet verified\\), [2-9] words/.test("
            "document.querySelector('#isnad-chat').innerText)"
        )
        pg.screenshot(path=str(ARTIFACTS / "desk-generation-writing.png"))
        pg.locator("#isnad-stop-chat").click()
        pg.wait_for_function("() => /Stopped/.test(document.querySelector('#isnad-chat').innerText)")
        time.sleep(2.5)  # the stopped generation writes nothing more
        last = pg.locator("#isnad-chat [data-testid=bot]").last
        assert last.locator(".isnad-card").count() == 1 and last.locator(".isnad-writing").count() == 0
        assert "not yet verified" not in last.inner_text()
        # still usable
        bot = _ask(pg, "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟")
        assert bot.locator(".isnad-card").count() == 1
        pg.locator("#isnad-stop-chat").click()
    finally:
        pg.context.close()


def test_upload_adds_a_file_and_reports_a_bad_one(page, tmp_path):
    good = tmp_path / "browser_note.md"
    good.write_text(
        "# Convoy attacked near Baghdad\n\nA roadside bomb hit a logistics convoy south of Baghdad "
        "on Tuesday, security sources said, without casualties.",
        encoding="utf-8",
    )
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Caf\xe9 au lait near the embassy".encode("latin-1"))
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#isnad-upload input[type=file]").set_input_files([str(good), str(bad)])
    page.locator("#isnad-add").click()
    page.wait_for_function(
        "() => /latin1\\.txt/.test(document.querySelector('#isnad-upload-report').innerText)"
    )
    report = page.locator("#isnad-upload-report").inner_text()
    assert "✓ browser_note.md: added" in report and "✗ latin1.txt" in report and "UTF-8" in report
    page.wait_for_function(
        "() => /browser_note\\.md/.test(document.querySelector('#isnad-corpus').innerText)"
    )
    font = page.locator("#isnad-corpus td").first.evaluate("el => getComputedStyle(el).fontFamily")
    assert "mono" not in font.lower()
    page.screenshot(path=str(ARTIFACTS / "desk-upload.png"), full_page=True)


def test_a_pdf_and_a_word_file_go_in_and_answers_cite_them(page, tmp_path):
    """Uploaded in the Corpus tab: a PDF whose Arabic is stored in visual order, a Word file, and a scan
    (refused, with the reason); questions are then answered from the PDF, quoting it in reading order,
    and from the Word file."""
    from tests.documents import BODY, HEADLINE, MEMO, MEMO_QUESTION, docx, pdf, scanned_pdf

    files = [
        pdf(tmp_path / "kuwait_report.pdf", [HEADLINE, *BODY], visual=True),
        docx(tmp_path / "kuwait_note.docx", MEMO),
        scanned_pdf(tmp_path / "scan.pdf"),
    ]
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#isnad-upload input[type=file]").set_input_files([str(f) for f in files])
    page.locator("#isnad-add").click()
    page.wait_for_function(
        "() => /scan\\.pdf/.test(document.querySelector('#isnad-upload-report').innerText)"
    )
    report = page.locator("#isnad-upload-report").inner_text()
    assert "✓ kuwait_report.pdf: added" in report and "✓ kuwait_note.docx: added" in report
    assert "✗ scan.pdf" in report and "no text layer" in report
    page.screenshot(path=str(ARTIFACTS / "desk-upload-pdf-docx.png"), full_page=True)
    page.get_by_role("tab", name="Ask & brief").click()
    bot = _ask(page, "متى غادرت آخر وحدة قتالية أمريكية قاعدة عين الأسد؟")
    sources = bot.locator(".isnad-src")
    cited = [s for s in sources.all() if "kuwait_report.pdf" in s.locator(".isnad-meta").inner_text()]
    assert cited, [s.inner_text() for s in sources.all()]
    assert "عين الأسد" in cited[0].locator(".isnad-quote").inner_text()  # reading order, not «دسلأا نيع»
    page.screenshot(path=str(ARTIFACTS / "desk-answer-from-pdf.png"), full_page=True)
    bot = _ask(page, MEMO_QUESTION)
    metas = [s.locator(".isnad-meta").inner_text() for s in bot.locator(".isnad-src").all()]
    assert any("kuwait_note.docx" in m for m in metas), metas


def test_removing_an_article_asks_first_and_then_it_is_gone(page):
    """A click on the Word file's row chooses it; Remove… asks, naming it; Cancel keeps it; confirmed, it
    leaves the table and the answers."""
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#isnad-corpus").get_by_text("kuwait_note.docx", exact=True).click()
    chosen = page.locator("#isnad-remove-pick")
    page.wait_for_function(
        "() => /kuwait_note\\.docx/.test(document.querySelector('#isnad-remove-pick').innerText)"
    )
    page.locator("#isnad-remove").click()
    question = page.locator("#isnad-remove-question")
    page.wait_for_function(
        "() => /Remove 1 article/.test(document.querySelector('#isnad-remove-question').innerText)"
    )
    assert "kuwait_note.docx" in question.inner_text() and "trash" in question.inner_text()
    page.screenshot(path=str(ARTIFACTS / "desk-remove-confirm.png"), full_page=True)
    page.locator("#isnad-remove-cancel").click()
    page.wait_for_function(
        "() => /Nothing was removed/.test(document.querySelector('#isnad-remove-question').innerText)"
    )
    assert "kuwait_note.docx" in page.locator("#isnad-corpus").inner_text()
    page.locator("#isnad-remove").click()
    page.locator("#isnad-remove-confirm").click()
    page.wait_for_function(
        "() => /removed kuwait_note\\.docx/.test(document.querySelector('#isnad-remove-question').innerText)"
    )
    page.wait_for_function(
        "() => !/kuwait_note\\.docx/.test(document.querySelector('#isnad-corpus').innerText)"
    )
    assert (
        "kuwait_note.docx" not in chosen.inner_text()
        and "kuwait_report.pdf" in page.locator("#isnad-corpus").inner_text()
    )
    page.get_by_role("tab", name="Ask & brief").click()
    from tests.documents import MEMO_QUESTION

    bot = _ask(page, MEMO_QUESTION)
    assert "kuwait_note.docx" not in bot.inner_text()


def test_article_markup_is_shown_as_text_and_never_fetched(page, tmp_path):
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
    sentence = (
        f"قال مسؤول عسكري إن آخر وحدة ستغادر قاعدة حرير في أربيل {beacon} بحلول نهاية سبتمبر "
        "<script>alert(1)</script> وفق الخطة."
    )
    article = tmp_path / "beacon.txt"
    article.write_text(
        f"قاعدة حرير {beacon}\n\n{sentence} وأضاف أن المعدات الثقيلة نقلت بالفعل إلى الكويت.\n",
        encoding="utf-8",
    )
    requests: list[str] = []

    def log(request) -> None:
        requests.append(request.url)

    page.on("request", log)
    try:
        page.get_by_role("tab", name="Corpus").click()
        page.locator("#isnad-upload input[type=file]").set_input_files([str(article)])
        page.locator("#isnad-add").click()
        page.wait_for_function(
            "() => /✓ beacon\\.txt/.test(document.querySelector('#isnad-upload-report').innerText)"
        )
        page.wait_for_function("() => /beacon\\.txt/.test(document.querySelector('#isnad-corpus').innerText)")
        assert beacon in page.locator("#isnad-corpus").inner_text()  # the title, as text
        page.get_by_role("tab", name="Ask & brief").click()
        bot = _ask(page, "متى ستغادر آخر وحدة قاعدة حرير في أربيل؟")
        assert f"«{sentence}»" in bot.evaluate("el => el.textContent")  # verbatim, tags and all
        source = page.locator("#isnad-sources #isnad-src-1")
        source.locator("summary").click()
        assert source.locator("mark").first.evaluate("el => el.textContent") == sentence
        assert bot.locator("img").count() == 0 and source.locator("img, script").count() == 0
        page.screenshot(path=str(ARTIFACTS / "desk-beacon-as-text.png"), full_page=True)
    finally:
        page.remove_listener("request", log)
        server.shutdown()
    assert fetched == [] and not [u for u in requests if "beacon" in u]


def test_a_page_by_address_and_a_feed_that_republishes_it(page, web_server):
    """ "Fetch and add" takes a page by its address (the operator allows the local server); a followed feed
    then lists that page and a copy another outlet republished: "Check feeds now" adds neither, the copy
    named as the same story; a question is answered from the page. (The English page: the Arabic one is
    added by URL in test_security.py on the same server.)"""
    from tests.test_feeds import rss
    from tests.webserver import ENGLISH_PAGE, Handler

    page.get_by_role("tab", name="Corpus").click()
    page.locator("#isnad-url textarea, #isnad-url input").first.fill(web_server.url("/en.html"))
    page.locator("#isnad-add-url").click()
    page.wait_for_function(
        "() => /✓ .*en\\.html/.test(document.querySelector('#isnad-upload-report').innerText)"
    )
    assert "added" in page.locator("#isnad-upload-report").inner_text()
    copy = ENGLISH_PAGE.read_bytes().replace(b"CNN", b"Wire Weekly")
    Handler.pages["/feeds/storm-wire.html"] = ("text/html; charset=utf-8", copy)
    feed = rss(web_server.url("/en.html"), web_server.url("/feeds/storm-wire.html"), title="Weather wire")
    Handler.pages["/feeds/app.xml"] = ("application/rss+xml", feed)
    try:
        page.locator("#isnad-feed-url textarea, #isnad-feed-url input").first.fill(
            web_server.url("/feeds/app.xml")
        )
        page.locator("#isnad-follow").click()
        page.wait_for_function(
            "() => /feeds\\/app\\.xml/.test(document.querySelector('#isnad-feeds').innerText)"
        )
        page.locator("#isnad-check-feeds").click()
        page.wait_for_function(
            "() => /article\\(s\\) added/.test(document.querySelector('#isnad-feed-report').innerText)"
        )
        report = page.locator("#isnad-feed-report").inner_text()
        assert (
            "storm-wire.html" in report
            and "same story; kept once" in report
            and "0 article(s) added" in report
        )
        assert "Weather wire" in page.locator("#isnad-feeds").inner_text()
        page.screenshot(path=str(ARTIFACTS / "desk-feeds.png"), full_page=True)
    finally:
        Handler.pages.pop("/feeds/app.xml", None)
        Handler.pages.pop("/feeds/storm-wire.html", None)
    page.get_by_role("tab", name="Ask & brief").click()
    bot = _ask(page, "What do forecasters expect for Thanksgiving travel after the storm?")
    assert "fetched from" in bot.inner_text()


def test_the_evaluate_tab_compares_presets_and_opens_a_failure(browser, app_url, tmp_path):
    """A user's JSONL set (one question carrying markup) compared under three presets: the table has each
    configuration with its difference from the baseline, the failing question opens its ranked chunks
    with each leg's score, and the markup is shown as text."""
    rows = [json.loads(line) for line in (ROOT / "eval/data/seeds_qa.jsonl").read_text().splitlines() if line]
    rows = [{k: r[k] for k in ("question", "gold", "evidence", "answer")} for r in rows if r["gold"]][:20]
    rows.append({"question": "<img src=x onerror=alert(1)> How many troops remain?", "answer": "1066"})
    qs = tmp_path / "my-questions.jsonl"
    qs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    pg = _open(browser, app_url)
    pg.locator("#isnad-tab-evaluate-button").click()
    pg.locator("#isnad-eval-file input[type=file]").set_input_files(str(qs))
    pg.locator("#isnad-eval-run").click()
    pg.wait_for_function("() => /done/.test(document.querySelector('#isnad-eval-status').innerText)")
    status = pg.locator("#isnad-eval-status").inner_text()
    assert "21 questions" in status and "3 configurations" in status
    table = pg.locator("#isnad-eval-table").inner_text()
    assert "Hybrid (as configured) (baseline)" in table and "Dense only" in table and "BM25 only" in table
    assert "▼" in table  # BM25 alone loses the English questions, with a significant difference
    assert "worse than the baseline" in pg.locator("#isnad-eval-verdicts").inner_text()
    failure = pg.locator("#isnad-eval-failure")  # worst first: the markup question finds nothing
    pg.wait_for_function("() => /1066/.test(document.querySelector('#isnad-eval-failure').innerText)")
    assert failure.locator("img").count() == 0 and "<img src=x onerror=alert(1)>" in failure.inner_text()
    pg.locator("#isnad-eval-failures input").click()
    pg.locator("[role=option]", has_text="strategic dialogue").first.click()
    pg.wait_for_function(
        "() => /gold document at rank/.test(document.querySelector('#isnad-eval-failure').innerText)"
    )
    failure.locator("summary").first.click()
    assert "dense rank · cosine" in failure.inner_text()
    pg.screenshot(path=str(ARTIFACTS / "desk-evaluate.png"), full_page=True)
    pg.locator("#isnad-eval-starter").click()  # no question set yet: one is written from the corpus
    pg.wait_for_function(
        "() => /candidate questions kept/.test(document.querySelector('#isnad-eval-status').innerText)"
    )
    assert "generated" in pg.locator("#isnad-eval-status").inner_text()
    assert "starter-" in pg.locator("#isnad-eval-file").inner_text()  # it is now the set to compare on
    pg.context.close()


def test_the_retrieval_test_tab_shows_each_legs_rank_and_score(browser, app_url):
    pg = _open(browser, app_url)
    pg.locator("#isnad-tab-evaluate-button").click()
    pg.locator("#isnad-tab-retrieval-button").click()
    pg.locator("#isnad-rt-query textarea").fill("كم عدد الجنود الأمريكيين الباقين في العراق؟")
    pg.locator("#isnad-rt-search").click()
    pg.wait_for_selector("#isnad-rt-results table")
    cells = pg.locator("#isnad-rt-results tbody tr").first.locator("td").all_inner_texts()
    assert cells[0].startswith("1") and "·" in cells[2] and "·" in cells[3]  # dense and BM25 rank · score
    assert pg.locator("#isnad-rt-results tbody tr").count() == 10
    pg.locator("#isnad-rt-mode label", has_text="bm25").click()
    pg.locator("#isnad-rt-search").click()
    pg.wait_for_function(
        "() => [...document.querySelectorAll('#isnad-rt-results tbody tr td:nth-child(3)')]"
        ".every(td => td.innerText.startsWith('—'))"
    )
    pg.locator("#isnad-ui-lang label", has_text="العربية").click()
    pg.wait_for_function("() => document.documentElement.dir === 'rtl'")
    pg.locator("#isnad-rt-search").click()
    pg.wait_for_function("() => /الترتيب/.test(document.querySelector('#isnad-rt-results').innerText)")
    pg.locator("#isnad-rt-query textarea").fill("x")
    pg.locator("#isnad-rt-from textarea, #isnad-rt-from input").first.fill("2021-13-40")
    pg.locator("#isnad-rt-search").click()
    pg.wait_for_function("() => /is not a date/.test(document.querySelector('#isnad-rt-results').innerText)")
    pg.locator("#isnad-rt-from textarea, #isnad-rt-from input").first.fill("")
    pg.locator("#isnad-rt-query textarea").fill("انسحاب القوات القتالية")
    pg.locator("#isnad-rt-search").click()
    pg.wait_for_function("() => /الترتيب/.test(document.querySelector('#isnad-rt-results').innerText)")
    pg.screenshot(path=str(ARTIFACTS / "desk-retrieval-test-arabic.png"), full_page=True)
    pg.context.close()
