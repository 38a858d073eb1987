"""How far a short answer can be trusted, and the line under which it is not shown in bold.

A short answer is a typed span of a quoted sentence. Whether it is the right span depends on what
Isnad already knows at that point: how well the span's type and position fit the question, whether
the clause around it carries the question's own words and names, how many spans of the same type
compete in the sentence, whether a count is of the noun the question counts, how far above the
abstention line the sentence is, and whether other quoted sentences give the same value. A logistic
model over these features (fitted by ``isnad eval fit-confidence`` on ARCD-train and the even XQuAD
articles; coefficients in ``rag/data/short_confidence.json``) turns them into a probability that the
span is right; under the fitted threshold the bold line is withheld and the quotes lead.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from rag.data import DATA_DIR

DATA = DATA_DIR / "short_confidence.json"
KINDS = ("date", "number", "person", "place", "org")
WINDOW = 60  # characters either side of a span that count as its clause


@dataclass
class SpanEvidence:
    """What is known about the best span when it is chosen (the confidence's inputs)."""

    kind: str
    span_score: float  # rank_spans' score of the span
    runner_up_gap: float  # its lead over the next span of the sentence (0.1 when alone)
    competitors: int  # other spans of the asked type in the sentence
    support: float  # the sentence's similarity to the question
    above_floor: float  # support minus the abstention threshold
    sentence_rank: int  # 0 when the span's sentence is the best one
    agree: int  # other close sentences whose best span gives the same value
    disagree: int  # ... and a different one
    cross: bool  # question and sentence in different languages
    clause_terms: float  # share of the question's terms in the span's clause
    sentence_terms: float  # share of the question's terms in the sentence
    clause_names: float  # share of the question's names in the span's clause (1 when it names none)
    span_words: int
    unit_match: float = 0.5  # a count's noun is the one asked (1) or another (0); 0.5 when it cannot tell

    def vector(self) -> dict[str, float]:
        v = {f"kind_{k}": float(self.kind == k) for k in KINDS}
        v.update(
            span_score=self.span_score,
            runner_up_gap=min(self.runner_up_gap, 0.1),
            competitors=math.log1p(self.competitors),
            support=self.support,
            above_floor=self.above_floor,
            sentence_rank=float(min(self.sentence_rank, 3)),
            agree=float(min(self.agree, 3)),
            disagree=float(min(self.disagree, 3)),
            cross=float(self.cross),
            clause_terms=self.clause_terms,
            sentence_terms=self.sentence_terms,
            clause_names=self.clause_names,
            span_words=math.log1p(self.span_words),
            unit_match=self.unit_match,
        )
        return v


@dataclass
class ConfidenceModel:
    """Standardised logistic regression: p = sigmoid(b + Σ w·(x − mean)/scale)."""

    weights: dict[str, float]
    means: dict[str, float]
    scales: dict[str, float]
    bias: float
    threshold: float
    fitted_on: list[str] = field(default_factory=list)
    note: str = ""

    def probability(self, evidence: SpanEvidence) -> float:
        return self.probability_of(evidence.vector())

    def probability_of(self, x: dict[str, float]) -> float:
        z = self.bias + sum(
            w * (x.get(k, 0.0) - self.means[k]) / (self.scales[k] or 1.0) for k, w in self.weights.items()
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path = DATA) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


@lru_cache(maxsize=4)
def load_model(path: Path = DATA) -> ConfidenceModel | None:
    """The fitted model, or None where none was fitted (every short answer is then shown)."""
    try:
        return ConfidenceModel(**json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def fit(
    rows: list[dict], target_precision: float = 0.85, margin: float = 0.03, sources: list[str] | None = None
) -> ConfidenceModel:
    """Fit on rows of ``{"evidence": SpanEvidence.vector(), "right": bool}`` and choose the lowest threshold
    whose precision is at least ``target_precision + margin`` on out-of-fold probabilities (5-fold: each row
    scored by a model that did not see it, so the line is not drawn on the rows that drew the model; the
    margin leaves room for the drop from the fitted split to a held-out one)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    names = sorted(rows[0]["evidence"])
    x = np.array([[r["evidence"][k] for k in names] for r in rows], dtype=float)
    y = np.array([bool(r["right"]) for r in rows])
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    z = (x - means) / scales
    model = LogisticRegression(C=1.0, max_iter=2000).fit(z, y)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    p = cross_val_predict(LogisticRegression(C=1.0, max_iter=2000), z, y, cv=folds, method="predict_proba")[
        :, 1
    ]
    threshold = 1.0
    # lowering the line shows more; stop where precision falls
    for t in sorted(set(np.round(p, 4)), reverse=True):
        shown = p >= t
        if shown.sum() >= 20 and y[shown].mean() >= target_precision + margin:
            threshold = float(t)
    return ConfidenceModel(
        dict(zip(names, map(float, model.coef_[0]))),
        dict(zip(names, map(float, means))),
        dict(zip(names, map(float, scales))),
        float(model.intercept_[0]),
        threshold,
        sources or [],
        f"target precision {target_precision} + margin {margin}, out of fold, on {len(rows)} short answers",
    )
