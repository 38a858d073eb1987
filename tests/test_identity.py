""" "Who is X?": the role an article writes before a person's name, found by position and rendered by rule."""

from __future__ import annotations

import pytest

from rag.answers.identity import asked_identity, identity_span, role_before, role_english
from rag.text.lexicon import load_lexicon

LEX = load_lexicon()
RASOOL_AR = (
    "من جانبه، دعا الناطق باسم القائد العام للقوات المسلحة العراقية، اللواء يحيى رسول، المجتمع الدولي إلى "
    "تولي مسؤوليته في دعم السلم والأمن"
)


@pytest.mark.parametrize(
    "question, who",
    [
        ("Who is Yahya Rasool?", "Yahya Rasool"),
        (
            "Who is Yahya Rasul, the military spokesman?",
            "Yahya Rasool",
        ),  # an English spelling the lexicon lacks
        ("من هو يحيى رسول؟", "Yahya Rasool"),
        ("Who was Qasem Soleimani?", "Qasem Soleimani"),
        ("Who is the spokesman of the coalition?", None),  # a role asked for, not a person's role
        ("Who said the talks were not about withdrawal?", None),
        ("Who is John Doe?", None),  # not a name the articles or the lexicon know
        ("Who was killed alongside Qasem Soleimani in the air strike?", None),  # another question
        ("Who is Kadhimi meeting in Washington?", None),
        ("من هو مصطفى الكاظمي؟", "Kadhimi"),
    ],
)
def test_who_is_questions_name_a_known_person(question, who):
    found = asked_identity(question, LEX)
    assert (found.label if found else None) == who


@pytest.mark.parametrize(
    "sentence, name, role, english",
    [
        (
            RASOOL_AR,
            "يحيى رسول",
            "الناطق باسم القائد العام للقوات المسلحة العراقية، اللواء",
            "spokesman for the Commander-in-Chief of the Iraqi Armed Forces, Major General",
        ),
        (  # a given name between the role and the lexicon's name
            "قال رئيس الوزارء العراقي مصطفى الكاظمي اليوم الخميس",
            "الكاظمي",
            "رئيس الوزارء العراقي",
            "Iraqi Prime Minister",
        ),
        (
            "منذ مقتل قائد فيلق القدس الإيراني قاسم سليماني بضربة جوية",
            "سليماني",
            "قائد فيلق القدس الإيراني",
            "commander of the Iranian Quds Force",
        ),
        (  # two roles in apposition
            "وجه القائد العام للقوات المسلحة رئيس مجلس الوزراء مصطفى الكاظمي، بتشكيل لجنة",
            "الكاظمي",
            "القائد العام للقوات المسلحة رئيس مجلس الوزراء",
            "the Commander-in-Chief of the Armed Forces, Prime Minister",
        ),
    ],
)
def test_the_role_before_a_name_is_found_and_rendered_by_rule(sentence, name, role, english):
    found = role_before(sentence, sentence.index(name))
    assert found is not None and found.role == role
    assert role_english(found.role, LEX) == english


def test_no_role_when_a_verb_or_a_quote_stands_before_the_name():
    assert role_before("وقال الكاظمي إن الحوار مستمر", 5) is None
    text = "وأضاف «الكاظمي» أن"
    assert role_before(text, text.index("الكاظمي")) is None


def test_a_role_with_a_word_no_rule_covers_is_not_rendered_as_a_guess():
    assert role_english("الناطق باسم مديرية الزراعة", LEX) is None


def test_the_answer_span_is_the_articles_words_with_a_rank_before_the_name():
    who = asked_identity("Who is Yahya Rasool?", LEX)
    span = identity_span(who, RASOOL_AR, 100, LEX)
    assert span.text == "الناطق باسم القائد العام للقوات المسلحة العراقية، اللواء يحيى رسول"
    assert RASOOL_AR[span.start - 100 : span.end - 100] == span.text
    assert span.render["en"] == (
        "Major General Yahya Rasool, spokesman for the Commander-in-Chief of the Iraqi Armed Forces"
    )


@pytest.mark.parametrize(
    "question", ["Who is Yahya Rasool?", "Who is Yahya Rasul, the military spokesman?", "من هو يحيى رسول؟"]
)
def test_who_is_a_person_the_seeds_name_is_answered_from_the_role(isnad, question):
    """Four words of English are far from any Arabic sentence by similarity; the role before the name is not."""
    from tests.test_answer import assert_quotes_exact

    a = isnad.ask(question)
    assert not a.abstained and a.short is not None and a.short.method == "role"
    assert "يحيى رسول" in a.short.span and a.short.span in a.sources[0].quote
    if a.language == "en":
        assert a.answer.startswith("**Major General Yahya Rasool, spokesman for the Commander-in-Chief")
    assert_quotes_exact(isnad, a)
