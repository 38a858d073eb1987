"""Metrics on hand-computed cases, dataset loaders on small files, the seed QA set itself."""

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from rag.evaluation.datasets import SEED_KEY_FACTS, SEED_QA, load_seed_set, load_squad
from rag.evaluation.metrics import MRR, NDCG, EvidenceRecallAtK, RecallAtK, bootstrap_ci


def test_recall_counts_each_gold_document_once():
    ranked = ["a", "a", "b", "c", "d"]
    assert RecallAtK(1)(ranked, {"b"}) == 0
    assert RecallAtK(3)(ranked, {"b"}) == 1
    assert RecallAtK(5)(ranked, {"b", "d", "x"}) == pytest.approx(2 / 3)


def test_mrr():
    assert MRR(10)(["x", "y", "g"], {"g"}) == pytest.approx(1 / 3)
    assert MRR(2)(["x", "y", "g"], {"g"}) == 0
    assert MRR(10)(["g"], {"g", "h"}) == 1


def test_ndcg_by_hand():
    # gold {a, b}; ranking a, x, b, a: gains at ranks 1 and 3, the repeated a earns nothing
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert NDCG(10)(["a", "x", "b", "a"], {"a", "b"}) == pytest.approx(dcg / ideal)
    assert NDCG(10)(["x", "y"], {"a"}) == 0
    assert NDCG(10)(["a", "b"], {"a", "b"}) == pytest.approx(1)


def test_evidence_recall_ignores_space_variants():
    texts = ["قال إن\xa0القوات انسحبت. ثم", "شيء آخر"]
    assert EvidenceRecallAtK(1)(texts, ["إن القوات انسحبت", "غير موجود"]) == 0.5
    assert EvidenceRecallAtK(2)(texts, ["شيء آخر"]) == 1


def test_bootstrap_is_reproducible_and_brackets_the_mean():
    values = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    lo, hi = bootstrap_ci(values)
    assert (lo, hi) == bootstrap_ci(values)
    assert lo <= 0.7 <= hi and 0 <= lo < hi <= 1
    assert bootstrap_ci([1, 1, 1]) == (1.0, 1.0)


def _squad(path: Path, rows):
    data = {
        "version": "1.1",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": ctx,
                        "qas": [
                            {"id": qid, "question": q, "answers": [{"text": a, "answer_start": ctx.find(a)}]}
                            for qid, q, a in qas
                        ],
                    }
                    for ctx, qas in rows
                ],
            }
        ],
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_squad_loader_contexts_become_documents(tmp_path):
    p = tmp_path / "mini.json"
    _squad(
        p,
        [
            ("Paris is the capital of France.", [("q1", "Capital of France?", "Paris")]),
            (
                "Baghdad lies on the Tigris.",
                [("q2", " - Which river? ", "Tigris"), ("q3", "Where is Baghdad?", "Tigris")],
            ),
            ("Paris is the capital of France.", [("q4", "Again?", "Paris")]),
        ],
    )
    ds = load_squad(p)
    assert len(ds.documents) == 2  # distinct contexts
    gold = {q.qid: next(iter(q.gold)) for q in ds.questions}
    assert gold["q1"] == gold["q4"] != gold["q2"] == gold["q3"]
    assert [q.text for q in ds.questions][1] == "Which river?"


def test_cross_lingual_loader_matches_by_question_id(tmp_path):
    ar, en = tmp_path / "ar.json", tmp_path / "en.json"
    _squad(
        ar,
        [
            ("باريس عاصمة فرنسا.", [("q1", "ما عاصمة فرنسا؟", "باريس")]),
            ("بغداد على نهر دجلة.", [("q2", "على أي نهر تقع بغداد؟", "دجلة")]),
        ],
    )
    _squad(
        en,
        [
            ("Paris is the capital of France.", [("q1", "What is the capital of France?", "Paris")]),
            ("Baghdad is on the Tigris.", [("q2", "Which river is Baghdad on?", "Tigris")]),
        ],
    )
    ds = load_squad(ar, questions_from=en)
    assert [q.text for q in ds.questions] == ["What is the capital of France?", "Which river is Baghdad on?"]
    assert {d.text.strip() for d in ds.documents} == {"باريس عاصمة فرنسا.", "بغداد على نهر دجلة."}
    assert ds.name == "en->ar"


def test_squad_loader_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("[1, 2]")
    with pytest.raises(ValueError, match="SQuAD"):
        load_squad(p)


def test_seed_qa_set_is_sound(seeds_dir):
    rows = [json.loads(line) for line in SEED_QA.read_text(encoding="utf-8").splitlines()]
    texts = {p.name: p.read_text(encoding="utf-8") for p in seeds_dir.glob("*.txt")}
    assert len(rows) >= 60
    langs = Counter(r["lang"] for r in rows)
    assert abs(langs["ar"] - langs["en"]) <= 4
    assert sum(not r["answerable"] for r in rows) >= 8
    assert sum(len(r["gold"]) > 1 for r in rows) >= 5
    assert {g for r in rows for g in r["gold"]} == set(texts)  # every article is covered
    assert {"date", "number", "person", "factoid"} <= {r["type"] for r in rows}
    for r in rows:
        assert r["answer"]["ar"] and r["answer"]["en"]
        for ev in r["evidence"]:
            assert any(ev in texts[g] for g in r["gold"]), (r["id"], ev)  # exact substring
    facts = json.loads(SEED_KEY_FACTS.read_text(encoding="utf-8"))["articles"]
    assert set(facts) == set(texts)
    for name, items in facts.items():
        for f in items:
            assert any(a in texts[name] for a in f["any_of"]), (name, f)


def test_seed_set_loader_maps_gold_to_sources():
    ds = load_seed_set()
    sources = {d.source for d in ds.documents}
    assert len(ds.documents) == 5
    assert all(q.gold <= sources for q in ds.questions)


def test_engines_are_compared_on_the_same_vectors(settings, embedder, postgres):
    """The seed questions on each store in one run: dense retrieval is exact and BM25 is one formula over
    exact frequencies in every engine, so every metric of every mode is identical."""
    from rag.evaluation.datasets import load_seed_set
    from rag.evaluation.retrieval import evaluate_retrieval
    from tests.conftest import fresh_database

    folders, sqlite, pg = evaluate_retrieval(
        load_seed_set(),
        settings,
        ["dense", "bm25", "hybrid"],
        [1, 5],
        stores=("folders", "sqlite", fresh_database(postgres)),
    )
    assert (sqlite.store, pg.store, sqlite.n_chunks, pg.n_chunks) == (
        "sqlite",
        "postgresql",
        folders.n_chunks,
        folders.n_chunks,
    )
    assert sqlite.summary == folders.summary and pg.summary == folders.summary
