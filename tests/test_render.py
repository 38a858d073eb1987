"""The HTML a reader gets: blocks with their own direction, isolated runs, citation links, escaped data."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from rag.interfaces.messages import download_name
from rag.rendering.html import answer_card, block, briefing_html, isolate, notice_language, sources_html
from rag.text.escape import md_escape, md_unescape

AR_Q = "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟"
EN_Q = "When did Iraq and the US agree to redeploy coalition forces outside the country?"


@pytest.fixture(scope="module")
def answers(isnad):
    engine = isnad.extractive()
    return engine.answer(AR_Q), engine.answer(EN_Q)


def test_runs_of_the_other_script_are_isolated():
    assert (
        isolate("المصدر: 003_75e3133bff7c7106.txt", "ar")
        == 'المصدر: <bdi dir="ltr" lang="en">003_75e3133bff7c7106.txt</bdi>'
    )
    html = isolate("'العراق: رغم تهديدات' has no publication date.", "en")
    assert html.startswith('&#x27;<bdi dir="rtl" lang="ar">العراق: رغم تهديدات</bdi>&#x27; has no')
    assert isolate("في 5 يونيو 2021", "ar") == "في 5 يونيو 2021"  # digits read the same both ways
    assert isolate("نهاية 2021-05", "ar") == 'نهاية <bdi dir="ltr" lang="en">2021-05</bdi>'  # not "05-2021"
    assert isolate("<img src=x> قال", "en") == '&lt;img src=x&gt; <bdi dir="rtl" lang="ar">قال</bdi>'


def test_a_block_takes_direction_from_its_language():
    assert block("قال المتحدث.").startswith('<div class="isnad-block " dir="rtl" lang="ar">')
    assert 'dir="ltr" lang="en"' in block("The spokesman said.")
    assert notice_language("'عنوان عربي طويل جدا' has no publication date.") == "en"
    assert notice_language("لا تتناول المقالات هذا الموضوع.") == "ar"


def test_arabic_answer_card(answers):
    ar, _ = answers
    card = answer_card(ar, "t1")
    assert card.startswith('<div class="isnad-card" id="isnad-answer-t1" dir="rtl" lang="ar">')
    # the short answer links its source
    assert f'<a class="isnad-cite" href="#isnad-src-t1-{ar.short.n}">' in card
    assert f'id="isnad-src-t1-{ar.short.n}"' in card and '<mark class="isnad-answer">' in card
    assert "Key facts" not in card  # an Arabic reader gets no English renderings


def test_english_answer_card_puts_english_in_its_own_blocks(answers):
    _, en = answers
    card = answer_card(en, "t2")
    assert 'dir="ltr" lang="en"' in card.split(">", 1)[0]
    quotes = re.findall(r'<div class="isnad-block isnad-quote" dir="(\w+)" lang="(\w+)">(.*?)</div>', card)
    assert quotes and all(d == "rtl" and lang == "ar" for d, lang, _ in quotes)
    assert all("Key facts" not in q and "translation" not in q for _, _, q in quotes)
    facts = re.findall(r'<div class="isnad-block isnad-mt" dir="ltr" lang="en">(.*?)</div>', card)
    assert facts and "5 June 2021" in facts[0]
    assert "<bdi>000_93952b5621d37da0.txt</bdi>" in card  # file names isolated in the where-from line


def test_sources_panel_belongs_to_its_answer(answers, isnad):
    ar, _ = answers
    html = sources_html(ar, isnad.searcher.documents(), "t1")
    assert 'class="isnad-panel isnad-for-t1"' in html and "<h3" in html and 'id="isnad-src-1"' in html
    assert "<mark>" in html


def test_briefing_html_links_citations_to_a_compact_source_list(isnad):
    b = isnad.brief(topic="US troop withdrawal from Iraq", lang="both", length="short")
    html = briefing_html(b, isnad.searcher.documents(), "x")
    links = set(re.findall(r'href="#(isnad-bsrc-x-\d+)"', html))
    targets = set(re.findall(r'<details class="isnad-source" id="(isnad-bsrc-x-\d+)"', html))
    assert links and links == targets
    summaries = re.findall(r"<summary>(.*?)</summary>", html)
    assert summaries and not any("«" in s for s in summaries)  # a reference, not the quote again


def test_markdown_escaping_only_where_markdown_acts():
    text = "The U.S.-led coalition's 2,500 troops: *not* [a link](x) <img src=y> https://example.org"
    escaped = md_escape(text)
    assert "U.S.-led coalition's 2,500 troops:" in escaped  # ordinary punctuation left alone
    assert (
        r"\*not\*" in escaped
        and r"\[a link\]" in escaped
        and "&lt;img" in escaped
        and r"https\://" in escaped
    )
    assert md_escape("- item\n1. first\n# heading") == "\\- item\n1\\. first\n\\# heading"
    assert md_unescape(escaped) == text


def test_download_named_after_subject_and_date():
    day = dt.date(2026, 11, 25)
    assert (
        download_name("US troop withdrawal from Iraq", day)
        == "isnad-briefing-us-troop-withdrawal-from-iraq-2026-11-25.md"
    )
    assert download_name("انسحاب القوات: 2021", day) == "isnad-briefing-انسحاب-القوات-2021-2026-11-25.md"
    assert download_name("../../etc/passwd", day) == "isnad-briefing-etc-passwd-2026-11-25.md"


def test_a_withheld_translation_reads_in_plain_words_with_the_check_on_hover():
    from rag.rendering.html import _withheld

    html = _withheld("translation withheld: name(s) Rattle not in the original")
    assert ">English withheld: could not be checked<" in html
    assert 'title="translation withheld: name(s) Rattle not in the original"' in html
    assert "Rattle" not in html.split(">", 1)[1]  # only on hover, never in the text a reader sees


LONG_AR = (
    "وقال المتحدث باسم الحكومة العراقية في مؤتمر صحفي عقده اليوم في العاصمة بغداد إن المفاوضات مستمرة مع "
    "الجانب الأمريكي، وأضاف أن اللجان الفنية ستحدد موعد انسحاب القوات القتالية من البلاد بحلول نهاية 2021"
)


def _long_answer(question: str, short_words: str | None):
    from rag.types import Answer, ShortAnswer, Source

    start = 1000
    src = Source(1, "d1", "a.txt", "t", "", "2021-06-05", LONG_AR, start, start + len(LONG_AR), 0.8)
    short = None
    if short_words:
        at = start + LONG_AR.index(short_words)
        short = ShortAnswer("date", f"**{short_words}** [1]", 1, short_words, at, at + len(short_words))
    return Answer.found(
        question, "en", "extractive", text="", support=0.8, sources=[src], short=short, kind="date"
    )


def test_a_long_quote_is_translated_in_the_clause_that_carries_the_answer():
    """The clause holding the short answer, else the one sharing most words with the question."""
    from rag.answers.extractive import answer_unit

    clause = LONG_AR.split("، ")[1]
    a = _long_answer("When will the combat troops withdraw?", "نهاية 2021")
    assert answer_unit(a.sources[0], a) == clause
    b = _long_answer("ما الذي قاله المتحدث في المؤتمر الصحفي؟", None)
    assert answer_unit(b.sources[0], b) == LONG_AR.split("، ")[0]
    short_quote = _long_answer("When?", None)
    short_quote.sources[0].quote = "قال المتحدث إن المفاوضات مستمرة"
    assert answer_unit(short_quote.sources[0], short_quote) == "قال المتحدث إن المفاوضات مستمرة"


def test_the_translated_clause_is_underlined_in_the_quote_with_the_answer_marked_inside():
    a = _long_answer("When will the combat troops withdraw?", "نهاية 2021")
    s = a.sources[0]
    s.translation = "He added that the technical committees will set the date, by the end of 2021."
    s.translated = LONG_AR.split("، ")[1]
    card = answer_card(a, "u1")
    assert "Machine translation of the underlined words:" in card
    underlined = re.search(
        r'<span class="isnad-translated">(.*?)</span>(?!<span class="isnad-translated">)', card
    )
    assert underlined and "وأضاف أن" in underlined.group(1)
    assert '<span class="isnad-translated"><mark class="isnad-answer">نهاية 2021</mark></span>' in card
    assert "المتحدث باسم" not in "".join(re.findall(r'<span class="isnad-translated">(.*?)</span>', card))
