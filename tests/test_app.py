"""The app's endpoints through gradio_client, against the real app on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from rag.interfaces.layout import EXTRACTIVE, GENERATIVE
from rag.interfaces.messages import message_text
from rag.text.escape import md_unescape


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def _last_text(history) -> str:
    return message_text(history[-1])


def ask(client, question, engine=EXTRACTIVE, history=None):
    return client.predict(question, history or [], engine, "", "", "", 8, "hybrid", api_name="/ask")


def test_ask_arabic_gets_cited_quotes_and_sources(client):
    history, sources, box = ask(
        client, "متى اتفق العراق والولايات المتحدة على خطة لإعادة انتشار قوات التحالف؟"
    )
    text = _last_text(history)
    assert "[1]" in text and "5 يونيو/حزيران 2021" in text
    assert 'id="isnad-src-1"' in sources and "<mark>" in sources and "عربي بوست" in sources
    assert box == ""  # the box is cleared once the question is taken


def test_ask_english_says_no_translation_without_generator(client):
    history, sources, _ = ask(client, "How many coalition troops remain in Iraq?")
    text = _last_text(history)
    assert "3000" in text and "[1]" in text and "Key facts (no translation): about 3,000 soldiers" in text


@pytest.mark.parametrize("question,needle", [("   ", "empty"), ("x" * 2500, "2000")])
def test_bad_questions_get_a_message_not_an_error(client, question, needle):
    history, _, box = ask(client, question)
    assert history[-1]["role"] == "assistant" and needle in _last_text(history)
    assert box == question  # nothing the user typed is lost


def test_generator_choice_without_generator_explains(client):
    history, _, _ = ask(client, "How many coalition troops remain in Iraq?", engine=GENERATIVE)
    assert "No generator is configured" in _last_text(history)


def test_brief_both_languages(client):
    html, md_file = client.predict(
        "Topic",
        None,
        "US troop withdrawal from Iraq",
        "both",
        "short",
        EXTRACTIVE,
        "",
        "",
        "",
        api_name="/brief",
    )
    assert 'class="isnad-grid"' in html and 'lang="ar"' in html and 'lang="en"' in html
    text = Path(md_file).read_text(encoding="utf-8")
    assert (
        text.startswith("# موجز / Briefing: US troop withdrawal from Iraq") and "## Sources / المصادر" in text
    )


def test_brief_article_needs_a_choice(client):
    html, _ = client.predict("Article", None, "", "ar", "short", EXTRACTIVE, "", "", "", api_name="/brief")
    assert "choose an article" in html


def test_corpus_lists_the_seeds(client):
    table = client.predict(api_name="/corpus")
    rows = table["data"]
    assert len(rows) >= 5 and {r[4] for r in rows} >= {"000_93952b5621d37da0.txt", "004_a599bde84ebe1120.txt"}
    assert all(isinstance(r[3], int) and r[3] > 0 for r in rows)


def test_upload_reports_each_file(client, tmp_path):
    good = tmp_path / "kuwait_note.txt"
    good.write_text(
        "US unit arrives in Kuwait\n\nA coalition unit that left Iraq arrived at its base in Kuwait "
        "on Sunday, officials said, in the first such move of the year.",
        encoding="utf-8",
    )
    bad = tmp_path / "broken.txt"
    bad.write_bytes(b"\xff\xfe\x00\x00binary\x00\x01\x02")
    report, table, _ = client.predict(
        [handle_file(str(good)), handle_file(str(bad))], False, api_name="/upload"
    )
    report = md_unescape(report)
    assert "✓ kuwait_note.txt: added" in report
    assert "✗ broken.txt" in report
    assert any(r[4] == "kuwait_note.txt" for r in table["data"])
    history, _, _ = ask(client, "Where did the coalition unit that left Iraq arrive?")
    assert "Kuwait" in _last_text(history)


def test_follow_up_uses_the_chat_history(client):
    first, _, _ = ask(client, "How many coalition troops are still in Iraq?")
    history, _, _ = ask(client, "And how many of them are American?", history=first)
    assert len(history) == 4 and ("2500" in _last_text(history) or "2,500" in _last_text(history))
