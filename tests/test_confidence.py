"""The short answers' confidence (rag/confidence.py): fitting keeps the precision it is asked for, the
saved model reads back the same, and the shipped model is sane."""

from __future__ import annotations

import random

from rag.answers.confidence import KINDS, ConfidenceModel, SpanEvidence, fit, load_model


def evidence_text(rng: random.Random, good: bool) -> dict[str, float]:
    e = SpanEvidence(
        kind=rng.choice(KINDS),
        span_score=rng.gauss(0.08 if good else 0.03, 0.02),
        runner_up_gap=rng.random() * 0.1,
        competitors=rng.randint(0, 4),
        support=rng.gauss(0.62 if good else 0.52, 0.05),
        above_floor=rng.gauss(0.1, 0.05),
        sentence_rank=rng.randint(0, 2),
        agree=rng.randint(0, 1),
        disagree=rng.randint(0, 1),
        cross=False,
        clause_terms=rng.gauss(0.6 if good else 0.3, 0.15),
        sentence_terms=rng.random(),
        clause_names=1.0,
        span_words=rng.randint(1, 4),
    )
    return e.vector()


def test_the_fitted_line_keeps_the_precision_asked_for_and_the_model_reads_back(tmp_path):
    rng = random.Random(7)
    rows = [
        {"evidence": evidence_text(rng, good), "right": good}
        for good in [rng.random() < 0.45 for _ in range(600)]
    ]
    model = fit(rows, target_precision=0.85, margin=0.03)
    shown = [r for r in rows if model.probability_of(r["evidence"]) >= model.threshold]
    assert len(shown) >= 50 and sum(r["right"] for r in shown) / len(shown) >= 0.88
    assert len(shown) < len(rows)  # a line that shows everything would keep no promise
    path = tmp_path / "model.json"
    model.save(path)
    again = load_model(path)
    assert isinstance(again, ConfidenceModel) and again.threshold == model.threshold
    assert all(
        abs(again.probability_of(r["evidence"]) - model.probability_of(r["evidence"])) < 1e-12 for r in rows
    )


def test_the_shipped_model_reads_the_features_the_engine_computes():
    model = load_model()
    assert model is not None and 0.0 < model.threshold < 1.0 and model.fitted_on
    assert set(model.weights) == set(SpanEvidence("date", 0, 0, 0, 0, 0, 0, 0, 0, False, 0, 0, 0, 1).vector())
