"""Extractive briefings of the real seeds with the real model."""

from __future__ import annotations

import json

import pytest

from rag.briefing.briefing import speaker_of
from rag.errors import BriefingError
from rag.evaluation.briefing import timeline_in_order
from rag.evaluation.datasets import SEED_KEY_FACTS
from rag.interfaces.cli import main
from rag.rendering.markdown import render_markdown
from rag.text.escape import md_escape
from rag.verification.facts import numbers

TOPIC = "US troop withdrawal from Iraq"


@pytest.fixture(scope="module")
def topic_brief(isnad):
    return isnad.brief(topic=TOPIC, lang="both", length="medium")


def test_every_line_is_an_exact_cited_sentence(isnad, topic_brief):
    numbering = {}
    for line in topic_brief.lines():
        assert line.sources and line.text == line.sources[0].quote and not line.translated
        for c in line.sources:
            assert isnad.searcher.documents()[c.doc_id].text[c.start : c.end] == c.quote
            assert numbering.setdefault((c.doc_id, c.start), c.n) == c.n  # one number per sentence


def test_timeline_orders_the_seed_events(topic_brief):
    events = json.loads(SEED_KEY_FACTS.read_text(encoding="utf-8"))["timeline"]["events"]
    result = timeline_in_order(topic_brief, events)
    assert result["missing"] == [] and result["in_order"], result
    whens = [line.when for line in next(s for s in topic_brief.sections if s.name == "timeline").lines]
    assert (
        whens.index("2020-01-05")
        < whens.index("2021-06-05")
        < whens.index("end of 2021")
        < whens.index("2024-01-25")
    )


def test_repeated_fact_appears_once_citing_each_article(topic_brief):
    key = next(s for s in topic_brief.sections if s.name == "key_points").lines
    troops = [line for line in key if {"3000", "2500"} <= numbers(line.text)]
    assert len(troops) == 1
    assert len({c.doc_id for c in troops[0].sources}) >= 2


def test_english_column_without_generator_lists_facts(isnad):
    b = isnad.brief(["000_93952b5621d37da0.txt"], lang="en", length="short")
    assert b.scope == "article" and any("No machine translation" in n for n in b.notices)
    lead = next(line for line in b.lines() if "5 يونيو/حزيران 2021" in line.text)
    assert "5 June 2021" in lead.facts and "Iraq" in lead.facts
    assert numbers(lead.facts) <= numbers(lead.text)  # a readable line, no stray numbers
    md = render_markdown(b)
    assert (
        "## Key points" in md
        and f"_{md_escape('key facts (no translation):')}_ {md_escape(lead.facts)}" in md
    )


def test_article_accepted_by_id_or_file_name(isnad):
    doc = next(
        d for d in isnad.searcher.documents().values() if d.source.endswith("003_75e3133bff7c7106.txt")
    )
    by_id = isnad.brief([doc.doc_id], lang="ar", length="short")
    by_name = isnad.brief(["003_75e3133bff7c7106.txt"], lang="ar", length="short")
    assert by_id.doc_ids == by_name.doc_ids == [doc.doc_id]
    assert by_id.to_dict() == by_name.to_dict()


def test_lengths_grow(isnad):
    counts = [
        len(isnad.brief(topic=TOPIC, lang="ar", length=n).sections[0].lines)
        for n in ("short", "medium", "long")
    ]
    assert counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"articles": ["no-such-article"]}, "no indexed article"),
        ({"topic": "   "}, "empty"),
        ({"lang": "fr"}, "unknown language"),
        ({"length": "huge"}, "unknown length"),
    ],
)
def test_bad_requests_say_why(isnad, kwargs, needle):
    with pytest.raises(BriefingError, match=needle):
        isnad.brief(**kwargs)


def test_speakers():
    assert "يحيى رسول" in speaker_of(
        "وقال الناطق باسم القائد العام للقوات المسلحة العراقية اللواء يحيى رسول: "
        'إنّ "القوات الأميركية باشرت الانسحاب".'
    )
    assert speaker_of("أعلنت وزارة الدفاع الأمريكية (البنتاجون) أن المحادثات مستمرة.").startswith(
        "وزارة الدفاع"
    )
    assert speaker_of("The Pentagon spokeswoman Sabrina Singh said no request was received.") is not None
    assert speaker_of("وصلت قوة تابعة للتحالف إلى الكويت خلال الساعات الأخيرة.") is None


def test_cli_json_and_markdown(isnad, settings, tmp_path, capsys):
    assert (
        main(
            ["--index-dir", str(settings.index_dir), "brief", "--article", "000", "--lang", "both", "--json"]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    line = data["sections"][0]["lines"][0]
    assert {"text", "language", "translated", "sources"} <= set(line)
    assert {"doc_id", "source", "quote", "start", "end"} <= set(line["sources"][0])
    out = tmp_path / "brief.md"
    assert main(["--index-dir", str(settings.index_dir), "brief", "--topic", TOPIC, "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("# موجز / Briefing: " + TOPIC)
    assert main(["--index-dir", str(settings.index_dir), "brief", "--article", "nope"]) == 2


class _Echo:
    """Replies with the Arabic it was given: every translation fails its checks (pure protocol, no model)."""

    label = "echo"

    def complete(self, messages, max_tokens=None, **options):
        return messages[-1].content


def test_english_column_fills_line_by_line_for_a_caller_to_show(isnad):
    b = isnad.briefer().brief(["000_93952b5621d37da0.txt"], None, "en", "short", translate=False)
    seen = []

    def on_line(done, total):
        lines = [line for line in b.lines() if line.language == "ar" and not line.see]
        seen.append((done, total, sum(line.translation_note is not None for line in lines)))

    isnad.briefer().translate(b, _Echo(), on_line=on_line)
    n = sum(line.language == "ar" and not line.see for line in b.lines())  # a pointer needs no translation
    assert [(d, t) for d, t, _ in seen] == [(i, n) for i in range(1, n + 1)]
    assert [filled for _, _, filled in seen] == list(range(1, n + 1))  # each call sees one more line filled
    assert all(
        line.translation is None and "Arabic" in line.translation_note for line in b.lines() if not line.see
    )


def test_each_sentence_is_shown_once_and_repeats_point_back(topic_brief):
    shown = [(line.sources[0].doc_id, line.sources[0].start) for line in topic_brief.lines() if not line.see]
    assert len(shown) == len(set(shown))
    pointers = [line for line in topic_brief.lines() if line.see]
    assert pointers  # dated key points: the timeline gives the date and points back
    key = next(s for s in topic_brief.sections if s.name == "key_points").lines
    for line in pointers:
        section, i = line.see.split(":")
        target = (
            key
            if section == "key_points"
            else next(s for s in topic_brief.sections if s.name == section).lines
        )[int(i) - 1]
        assert target.sources[0].start == line.sources[0].start and not target.see
    assert "see key point" in render_markdown(topic_brief)


@pytest.mark.parametrize("topic", ["Chinese economy", "الاقتصاد الصيني", "football world cup"])
def test_a_topic_the_articles_do_not_cover_says_so(isnad, topic):
    b = isnad.brief(topic=topic, lang="both", length="short")
    assert not b.covered and "do not cover" in b.notices[0]
    assert [s.name for s in b.sections] == ["coverage"] and b.sections[0].lines


@pytest.mark.parametrize("topic", [TOPIC, "انسحاب القوات الأمريكية من العراق", "Pentagon talks January 2024"])
def test_a_covered_topic_gets_a_briefing(isnad, topic):
    assert isnad.brief(topic=topic, lang="ar", length="short").covered
