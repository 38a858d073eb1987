"""Retrieval metrics, one small class each (in the manner of LlamaIndex's retrieval metrics).

Every metric scores one question from the ranked list of retrieved chunks, given as
the document id of each chunk in rank order, and the set of gold document ids.
Repeated chunks of one document count once: the user needs the article, not
three windows of it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.text.arabic import normalize_ar


@dataclass(frozen=True)
class RecallAtK:
    """Fraction of the gold documents that appear among the first k chunks."""

    k: int

    @property
    def name(self) -> str:
        return f"Recall@{self.k}"

    def __call__(self, ranked: Sequence[str], gold: set[str]) -> float:
        return len(set(ranked[: self.k]) & gold) / len(gold)


@dataclass(frozen=True)
class MRR:
    """Reciprocal rank of the first chunk from a gold document (0 beyond the cutoff)."""

    k: int = 10

    @property
    def name(self) -> str:
        return f"MRR@{self.k}"

    def __call__(self, ranked: Sequence[str], gold: set[str]) -> float:
        for rank, doc in enumerate(ranked[: self.k], start=1):
            if doc in gold:
                return 1.0 / rank
        return 0.0


@dataclass(frozen=True)
class NDCG:
    """Binary-gain nDCG: a gold document earns gain the first time it appears."""

    k: int = 10

    @property
    def name(self) -> str:
        return f"nDCG@{self.k}"

    def __call__(self, ranked: Sequence[str], gold: set[str]) -> float:
        seen: set[str] = set()
        dcg = 0.0
        for rank, doc in enumerate(ranked[: self.k], start=1):
            if doc in gold and doc not in seen:
                dcg += 1.0 / math.log2(rank + 1)
                seen.add(doc)
        ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(gold), self.k) + 1))
        return dcg / ideal


@dataclass(frozen=True)
class EvidenceRecallAtK:
    """Fraction of gold evidence sentences contained in the text of the first k chunks."""

    k: int

    @property
    def name(self) -> str:
        return f"EvidenceRecall@{self.k}"

    def __call__(self, texts: Sequence[str], evidence: Sequence[str]) -> float:
        window = [fold_spaces(t) for t in texts[: self.k]]
        return sum(any(fold_spaces(e) in t for t in window) for e in evidence) / len(evidence)


def fold_spaces(text: str) -> str:
    """Whitespace runs (NBSP included) to one space: evidence matching ignores spacing."""
    return " ".join(text.split())


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (latency reports)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def bootstrap_ci(
    values: Sequence[float], n: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; seeded, so reruns give the same numbers."""
    arr = np.asarray(values, dtype=float)
    if len(arr) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), (n, len(arr)))].mean(axis=1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


# ---------------------------------------------------------------- short answers (SQuAD-style)

_PUNCT = re.compile(r"[^\w\s]")
_EN_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (lower case, no punctuation or English articles) plus Arabic folding:
    alef/ya/ta-marbuta variants, diacritics and the article «ال» at the start of a word."""
    text = normalize_ar(text).lower()
    # «1565م», «1157هـ»: a year's era marker is not a word
    text = re.sub(r"(?<=\d)\s*(?:م|هـ|ه)(?!\w)", "", text)
    text = _EN_ARTICLES.sub(" ", _PUNCT.sub(" ", text))
    words = [re.sub(r"^(?:و?ال|لل)(?=\w{2})", "", w) for w in text.split()]
    return " ".join(words)


@dataclass(frozen=True)
class ExactMatch:
    """1 when the normalised prediction equals a normalised gold answer."""

    name: str = "EM"

    def __call__(self, prediction: str, golds: Sequence[str]) -> float:
        p = normalize_answer(prediction)
        return float(any(p == normalize_answer(g) for g in golds)) if golds else 0.0


@dataclass(frozen=True)
class TokenF1:
    """Best token-overlap F1 of the prediction against the gold answers."""

    name: str = "F1"

    def __call__(self, prediction: str, golds: Sequence[str]) -> float:
        p = normalize_answer(prediction).split()
        best = 0.0
        for g in golds:
            gt = normalize_answer(g).split()
            common = sum((Counter(p) & Counter(gt)).values())
            if common:
                prec, rec = common / len(p), common / len(gt)
                best = max(best, 2 * prec * rec / (prec + rec))
        return best
