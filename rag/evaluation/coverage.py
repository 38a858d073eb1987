"""Does the corpus cover a topic? The floor a topic briefing needs, fitted on SQuAD article titles.

A SQuAD article's title ("Nikola Tesla", «مكة») is a topic its own paragraphs cover; the
same title against every *other* article's paragraphs is a topic that corpus does not
cover. The score is the briefing's: the best cosine between the topic and any sentence.
Sentences are embedded without their article's title (news titles exist, but a SQuAD
title *is* the topic). Floors are fitted on one set and reported on another.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rag.evaluation.answers import _best_threshold
from rag.models.embedder import Embedder
from rag.text.arabic import sentence_spans

MIN_WORDS = 6  # as the briefing's pool


def _articles(path: Path) -> dict[str, list[str]]:
    """Title -> the article's sentences of at least MIN_WORDS words."""
    out: dict[str, list[str]] = {}
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        sents = out.setdefault(article["title"], [])
        for p in article["paragraphs"]:
            text = p["context"]
            sents += [
                text[a:b]
                for a, b in sentence_spans(text, 0, len(text))
                if len(text[a:b].split()) >= MIN_WORDS
            ]
    return out


def topic_points(sentences_file: Path, embedder: Embedder, titles_file: Path | None = None) -> list[dict]:
    """Per article: the best similarity of its title to its own sentences (covered) and to the rest (not).

    ``titles_file``: a parallel SQuAD file whose titles are the topics (XQuAD English titles over
    the Arabic paragraphs: cross-lingual topics).
    """
    articles = _articles(sentences_file)
    titles = list(articles)
    if titles_file is not None:
        titles = [a["title"] for a in json.loads(titles_file.read_text(encoding="utf-8"))["data"]]
    owner = np.array([i for i, sents in enumerate(articles.values()) for _ in sents])
    vecs = embedder.embed_documents([s for sents in articles.values() for s in sents])
    topics = embedder.embed_queries([t.replace("_", " ") for t in titles])
    points = []
    for i, (title, q) in enumerate(zip(titles, topics)):
        sims = vecs @ q
        points.append(
            {
                "topic": title,
                "covered": float(sims[owner == i].max()),
                "uncovered": float(sims[owner != i].max()),
            }
        )
    return points


def fit_and_report(fit: list[dict], report: list[dict]) -> dict:
    """The Youden floor on ``fit``; share of covered topics kept and uncovered ones refused on ``report``."""

    def as_pairs(points):
        return [(p["covered"], True) for p in points] + [(p["uncovered"], False) for p in points]

    floor = _best_threshold(as_pairs(fit))
    return {
        "floor": floor,
        "fit_topics": len(fit),
        "report_topics": len(report),
        "covered_kept": round(float(np.mean([p["covered"] >= floor for p in report])), 3),
        "uncovered_refused": round(float(np.mean([p["uncovered"] < floor for p in report])), 3),
    }


def evaluate_coverage(embedder: Embedder, evaldata: Path) -> dict:
    """Same language: fit on ARCD-train, report on ARCD-test. Cross-lingual: English XQuAD titles over the
    Arabic paragraphs, fitted on even articles and reported on odd ones."""
    train = topic_points(evaldata / "arcd" / "arcd-train.json", embedder)
    test = topic_points(evaldata / "arcd" / "arcd-test.json", embedder)
    cross = topic_points(evaldata / "xquad" / "xquad.ar.json", embedder, evaldata / "xquad" / "xquad.en.json")
    return {
        "same_language": fit_and_report(train, test),
        "cross_language": fit_and_report(cross[0::2], cross[1::2]),
    }
