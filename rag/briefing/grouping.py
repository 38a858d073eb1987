"""Sentences that state the same fact, grouped; groups chosen so the points a briefing makes differ."""

from __future__ import annotations

import numpy as np

from rag.briefing.briefing import Line, Sentence
from rag.models.embedder import Embedder
from rag.verification.facts import numbers

MMR_PENALTY = 0.3  # key points: score minus this times the similarity to points already chosen
SAME_FACT = 0.86  # cosine above which two sentences state the same fact
SAME_FACT_WITH_NUMBERS = 0.6  # ... or lower, when they share at least two numbers
PRECISION = {"day": 0, "month": 1, "year": 2}


def group_score(g: list[Sentence]) -> float:
    """A fact several articles report matters more than one only one reports."""
    return g[0].score + 0.1 * (len(g) - 1)


def diverse(groups: list[list[Sentence]], n: int) -> list[list[Sentence]]:
    """Maximal marginal relevance: important points that do not restate one another."""
    picked: list[list[Sentence]] = []
    rest = list(groups)
    while rest and len(picked) < n:
        best = max(
            rest,
            key=lambda g: (
                group_score(g) - MMR_PENALTY * max((float(g[0].vec @ p[0].vec) for p in picked), default=0.0)
            ),
        )
        picked.append(best)
        rest.remove(best)
    return picked


def _shares_numbers(a: str, b: str) -> bool:
    return len(numbers(a) & numbers(b)) >= 2


def merge_repeats(ranked: list[Sentence]) -> list[list[Sentence]]:
    """Greedy grouping in score order: a sentence joins the first group stating the same fact."""
    groups: list[list[Sentence]] = []
    for s in ranked:
        for g in groups:
            sim = float(s.vec @ g[0].vec)
            if sim >= SAME_FACT or (sim >= SAME_FACT_WITH_NUMBERS and _shares_numbers(s.text, g[0].text)):
                if all(x.doc.doc_id != s.doc.doc_id for x in g):  # one citation per article
                    g.append(s)
                break
        else:
            groups.append([s])
    return groups


def reduce_repeats(bullets: list[Line], embedder: Embedder) -> list[Line]:
    """Verified bullets with repeats merged (their citations pooled), per language."""
    kept = [b for b in bullets if b.sources]
    if not kept:
        return []
    vecs = embedder.embed_queries([b.text for b in kept])
    out: list[tuple[Line, np.ndarray]] = []
    for b, v in zip(kept, vecs):
        twin = next((o for o, ov in out if o.language == b.language and float(v @ ov) >= SAME_FACT), None)
        if twin is None:
            out.append((b, v))
        else:
            twin.sources.extend(
                c for c in b.sources if (c.doc_id, c.start) not in {(x.doc_id, x.start) for x in twin.sources}
            )
    return [b for b, _ in out]
