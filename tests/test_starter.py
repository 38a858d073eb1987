"""A starter question set from the seed articles: typed questions, each kept only after its round trip."""

from __future__ import annotations

import json
from collections import Counter

from rag.evaluation.metrics import normalize_answer
from rag.evaluation.starter import CHECKS, _check, starter_set, template_questions


def test_typed_questions_read_the_sentence_facts():
    sentence = (
        "وقال الناطق باسم القائد العام للقوات المسلحة العراقية يحيى رسول إن 2500 جندي أميركي "
        "لا يزالون في العراق، وإن الجانبين اتفقا في 26 يوليو/تموز 2021 على انسحاب القوات القتالية."
    )
    written = {(kind, answer): question for kind, question, answer in template_questions(sentence)}
    assert written[("person", "يحيى رسول")] == "من هو الناطق باسم القائد العام للقوات المسلحة العراقية؟"
    assert written[("number", "2500")].startswith("كم جندي أميركي")
    date = next(q for (kind, _), q in written.items() if kind == "date")
    assert date == "متى الجانبين اتفقا على انسحاب القوات القتالية؟"
    assert not template_questions("هذه جملة لا تحمل تاريخًا ولا عددًا ولا اسمًا بعد لقب على الإطلاق.")


def test_each_check_drops_what_it_should(isnad):
    docs = list(isnad.searcher.documents().values())
    doc = next(d for d in docs if "يحيى رسول" in d.text)
    sentence = next(s for s in doc.text.split(".") if "يحيى رسول" in s).strip()
    searcher = isnad.searcher
    assert _check("في какой شهر كانون الثاني؟", "يحيى رسول", sentence, doc, searcher, 5) == CHECKS[1]
    assert _check("من هو الناطق", "يحيى رسول", sentence, doc, searcher, 5) == CHECKS[1]  # no question mark
    assert _check("من هو الناطق باسمه؟", "قاسم سليماني", sentence, doc, searcher, 5) == CHECKS[2]
    assert _check("هل قال يحيى رسول ذلك؟", "يحيى رسول", sentence, doc, searcher, 5) == CHECKS[3]
    assert _check("هل قال رسول ذلك؟", "يحيى رسول", sentence, doc, searcher, 5) == CHECKS[3]  # half of it
    assert _check("ما عاصمة البرازيل؟", "يحيى رسول", sentence, doc, searcher, 1) == CHECKS[4]
    question = "من هو الناطق باسم القائد العام للقوات المسلحة العراقية؟"
    assert _check(question, "يحيى رسول", sentence, doc, searcher, 5) is None
    assert _check(question, "يحيى رسول", sentence, doc, searcher, 5, lambda q: "مصطفى الكاظمي") == CHECKS[5]
    assert _check(question, "يحيى رسول", sentence, doc, searcher, 5, lambda q: None) == CHECKS[5]
    assert _check(question, "يحيى رسول", sentence, doc, searcher, 5, lambda q: "اللواء يحيى رسول") is None


def test_a_starter_set_from_the_seeds_keeps_only_checked_questions(isnad, tmp_path):
    docs = list(isnad.searcher.documents().values())
    result = starter_set(docs, isnad.searcher, n=12, k=3)
    assert 5 <= len(result.rows) <= 12 and result.candidates == len(result.rows) + sum(
        result.dropped.values()
    )
    assert result.method == "template" and "generated" in result.summary()
    kinds = Counter(r["type"] for r in result.rows)
    assert kinds["number"] and kinds["person"], kinds
    for row in result.rows:
        assert normalize_answer(row["answer"]) in normalize_answer(row["evidence"])
        assert normalize_answer(row["answer"]) not in normalize_answer(row["question"])
        assert row["generated"] == "template" and row["source"] in {d.source for d in docs}
        hits = isnad.searcher.search(row["question"], 3)
        assert any(row["evidence"] in h.text for h in hits), row["question"]
    path = tmp_path / "starter.jsonl"
    path.write_text(result.jsonl(), encoding="utf-8")
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()][:2] == [
        "starter-001",
        "starter-002",
    ]
