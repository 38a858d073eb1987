"""Answer evaluation on the seed set: accuracy, citation precision, abstention, latency.

Also calibrates the abstention thresholds, reporting 2-fold cross-validated figures so
the numbers are not measured on the questions the thresholds were fitted to.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from rag.evaluation.datasets import Dataset, Question
from rag.evaluation.metrics import fold_spaces, percentile
from rag.text.arabic import detect_language
from rag.types import Answer, Query


def answer_correct(answer: Answer, q: Question) -> bool:
    """All key terms of the reference answer appear in the answer or its quotes."""
    if answer.abstained:
        return False
    body = fold_spaces(answer.answer + " " + " ".join(s.quote for s in answer.sources))
    return all(fold_spaces(t) in body for t in q.key_terms)


def citation_hits(answer: Answer, q: Question) -> list[bool]:
    """Per cited source: does its quote contain gold evidence (or lie inside it)?"""
    out = []
    for s in answer.sources:
        quote = fold_spaces(s.quote)
        out.append(any(fold_spaces(e) in quote or quote in fold_spaces(e) for e in q.evidence))
    return out


@dataclass
class AnswerReport:
    engine: str
    n: int
    accuracy: float  # over answerable questions
    citation_precision: float
    abstention_precision: float
    unanswerable_accuracy: float  # = abstention recall
    latency_p50_ms: float
    latency_p95_ms: float
    engines: dict  # which engine produced the shown answers (a generator's answers can fall back)
    per_language: dict
    rows: list[dict]


def evaluate_answers(ask, dataset: Dataset, engine_name: str) -> AnswerReport:
    """``ask(question) -> Answer`` is run on every question of the dataset."""
    rows = []
    for q in dataset.questions:
        a = ask(q.text)
        hits = citation_hits(a, q) if q.answerable else []
        rows.append(
            {
                "id": q.qid,
                "lang": q.lang,
                "answerable": q.answerable,
                "abstained": a.abstained,
                "correct": answer_correct(a, q) if q.answerable else a.abstained,
                "citations": len(hits),
                "citation_hits": sum(hits),
                "support": a.support,
                "latency_ms": a.latency_ms,
                "engine": a.engine,
                "answer": a.answer,
            }
        )
    return _report(rows, engine_name)


def _report(rows: list[dict], engine: str) -> AnswerReport:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    abstained = [r for r in rows if r["abstained"]]
    cited = sum(r["citations"] for r in answerable)
    per_lang = {}
    for lang in sorted({r["lang"] for r in rows}):
        sub = [r for r in answerable if r["lang"] == lang]
        per_lang[lang] = {
            "accuracy": round(sum(r["correct"] for r in sub) / len(sub), 3) if sub else None,
            "n": len(sub),
        }
    lat = [r["latency_ms"] for r in rows]
    return AnswerReport(
        engine,
        len(rows),
        round(sum(r["correct"] for r in answerable) / len(answerable), 3) if answerable else 0.0,
        round(sum(r["citation_hits"] for r in answerable) / cited, 3) if cited else 0.0,
        round(sum(not r["answerable"] for r in abstained) / len(abstained), 3) if abstained else 0.0,
        round(sum(r["abstained"] for r in unanswerable) / len(unanswerable), 3) if unanswerable else 0.0,
        round(statistics.median(lat), 1) if lat else 0.0,
        round(percentile(lat, 0.95), 1),
        dict(Counter(r["engine"] for r in rows)),
        per_lang,
        rows,
    )


# ---------------------------------------------------------------- calibration


@dataclass
class Calibration:
    same_language: float
    cross_language: float
    cv: dict  # cross-validated abstention precision/recall and answerable kept


def _best_threshold(points: list[tuple[float, bool]]) -> float:
    """Threshold maximising Youden's J (abstain on unanswerable, answer the rest); ties: lowest."""
    if not points:
        return 0.0
    candidates = sorted({s for s, _ in points})
    best, best_j = 0.0, -1.0
    for i, t in enumerate(candidates):
        cut = (t + candidates[i + 1]) / 2 if i + 1 < len(candidates) else t + 1e-3
        unans = [s for s, answerable in points if not answerable]
        ans = [s for s, answerable in points if answerable]
        tpr = sum(s < cut for s in unans) / len(unans) if unans else 0
        tnr = sum(s >= cut for s in ans) / len(ans) if ans else 0
        if tpr + tnr - 1 > best_j:
            best, best_j = cut, tpr + tnr - 1
    return round(best, 3)


def calibrate(points: list[dict]) -> Calibration:
    """points: {'id', 'support', 'answerable', 'same_language'} per question (support of the best sentence)."""

    def fit(subset):
        return (
            _best_threshold([(p["support"], p["answerable"]) for p in subset if p["same_language"]]),
            _best_threshold([(p["support"], p["answerable"]) for p in subset if not p["same_language"]]),
        )

    folds = [[p for i, p in enumerate(points) if i % 2 == f] for f in (0, 1)]
    rows = []
    for train, test in ((folds[0], folds[1]), (folds[1], folds[0])):
        same, cross = fit(train)
        rows += [
            {
                "abstained": p["support"] < (same if p["same_language"] else cross),
                "answerable": p["answerable"],
            }
            for p in test
        ]
    scores = _abstention(rows)
    cv = {
        "abstention_precision": scores["precision"],
        "abstention_recall": scores["recall"],
        "answerable_answered": scores["answerable_answered"],
    }
    same, cross = fit(points)
    return Calibration(same, cross, cv)


def support_points(engine, dataset: Dataset) -> list[dict]:
    """The support the extractive engine sees for each question, before any threshold."""
    points = []
    for q in dataset.questions:
        cands = engine.candidates(q.text)
        top = cands[0] if cands else None
        points.append(
            {
                "id": q.qid,
                "answerable": q.answerable,
                "support": top.score if top else 0.0,
                "same_language": bool(top) and detect_language(q.text) == detect_language(top.text),
            }
        )
    return points


# ---------------------------------------------------------------- external sets: short answers, abstention


def predicted_answer(a: Answer) -> str:
    """What a reader takes as the answer: the short answer, else the first quote (or its translation)."""
    if a.abstained:
        return ""
    if a.short is not None:
        return a.short.value
    first = a.sources[0] if a.sources else None
    return (first.translation or first.quote) if first else a.answer


def _abstention(rows: list[dict]) -> dict:
    """Precision and recall of abstaining, where rows with ``answerable`` False should be abstained on."""
    tp = sum(r["abstained"] and not r["answerable"] for r in rows)
    fp = sum(r["abstained"] and r["answerable"] for r in rows)
    fn = sum(not r["abstained"] and not r["answerable"] for r in rows)
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 3) if tp + fn else 0.0,
        "answerable_answered": round(
            sum(not r["abstained"] for r in rows if r["answerable"])
            / max(1, sum(r["answerable"] for r in rows)),
            3,
        ),
    }


def evaluate_external(engine, dataset: Dataset, unanswerable: bool = True, progress: bool = False) -> dict:
    """Short-answer EM/F1 per question type, and abstention on questions made unanswerable by construction.

    Each question is asked twice: over the whole corpus (answerable), and over every paragraph
    except those of its own article (the gold paragraph and its neighbours removed), where the
    only right response is to abstain.
    """
    from tqdm import tqdm

    from rag.answers.questions import question_type
    from rag.evaluation.metrics import ExactMatch, TokenF1
    from rag.types import Filters

    em, f1 = ExactMatch(), TokenF1()
    groups: dict[str, set[str]] = {}
    source_to_id = {d.source: d.doc_id for d in dataset.documents}
    for q in dataset.questions:
        groups.setdefault(q.group, set()).update(source_to_id[s] for s in q.gold if s in source_to_id)
    every = frozenset(source_to_id.values())
    rows = []
    import inspect

    fast = {"translate": False} if "translate" in inspect.signature(engine.answer).parameters else {}
    for q in tqdm(dataset.questions, desc=f"answering {dataset.name}", unit="q", disable=not progress):
        a = engine.answer(q.text, **fast)
        pred = predicted_answer(a)
        golds = q.answers or list(q.answer.values())
        rows.append(
            {
                "id": q.qid,
                "lang": q.lang,
                "type": question_type(q.text),
                "answerable": True,
                "abstained": a.abstained,
                "why": a.why,
                "support": a.support,
                "prediction": pred,
                "gold": golds,
                "EM": em(pred, golds),
                "F1": f1(pred, golds),
                "short": a.short is not None,
                "engine": a.engine,
                "latency_ms": a.latency_ms,
                **_short_row(a, golds, em, f1),
            }
        )
        if unanswerable and q.group:
            b = engine.answer(Query(q.text, filters=Filters(doc_ids=every - groups[q.group])), **fast)
            rows.append(
                {
                    "id": q.qid + "#other-article",
                    "lang": q.lang,
                    "type": question_type(q.text),
                    "answerable": False,
                    "abstained": b.abstained,
                    "why": b.why,
                    "support": b.support,
                    "prediction": predicted_answer(b),
                    "short": b.short is not None,
                    "engine": b.engine,
                    "latency_ms": b.latency_ms,
                    **_short_row(b, [], em, f1),
                }
            )
    return {"dataset": dataset.name, "summary": summarise_external(rows), "rows": rows}


def _short_row(a: Answer, golds: list[str], em, f1) -> dict:
    """The short answer found (shown or withheld), how right it is, and what its confidence read.
    On a question whose article was removed, any short answer is wrong."""
    found = a.short or a.withheld_short
    if found is None or a.abstained:
        return {"short_found": False}
    return {
        "short_found": True,
        "short_value": found.value,
        "short_EM": em(found.value, golds) if golds else 0.0,
        "short_F1": f1(found.value, golds) if golds else 0.0,
        "confidence": found.confidence,
        "evidence": found.evidence,
    }


RIGHT_F1 = 0.5  # a shown short answer counts as right when its token F1 with a gold answer reaches this


def short_precision(rows: list[dict], shown_key: str = "short") -> dict:
    """Of the short answers shown in bold, the share that is right (F1 >= 0.5, and exact), with 95% bootstrap
    intervals; and the share of answerable questions that get one. A bold answer to a question whose
    article was removed is wrong."""
    from rag.evaluation.metrics import bootstrap_ci

    shown = [r for r in rows if r.get(shown_key) and r.get("short_found")]
    right = [float(r["short_F1"] >= RIGHT_F1) for r in shown]
    exact = [float(r["short_EM"] >= 1.0) for r in shown]
    answerable = [r for r in rows if r["answerable"]]
    out = {
        "shown": len(shown),
        "coverage": round(
            sum(bool(r.get(shown_key) and r.get("short_found")) for r in answerable)
            / max(1, len(answerable)),
            3,
        ),
    }
    for name, values in (("precision_f1", right), ("precision_em", exact)):
        out[name] = round(sum(values) / len(values), 3) if values else None
        out[name + "_ci"] = [round(x, 3) for x in bootstrap_ci(values)] if len(values) >= 2 else None
    out["wrong_on_unanswerable"] = sum(1 for r in shown if not r["answerable"])
    return out


def rescored(rows: list[dict]) -> list[dict]:
    """Rows of a stored report with their short answers scored by today's metric. A report written before
    short answers were recorded on their own reads its shown short answer from ``prediction``."""
    from rag.evaluation.metrics import ExactMatch, TokenF1

    em, f1 = ExactMatch(), TokenF1()
    out = []
    for r in rows:
        r = dict(r)
        if "short_found" not in r:
            r["short_found"] = bool(r.get("short")) and not r["abstained"]
            r["short_value"] = r.get("prediction", "")
        if r["short_found"]:
            golds = r.get("gold") or [] if r["answerable"] else []
            r["short_EM"] = em(r["short_value"], golds) if golds else 0.0
            r["short_F1"] = f1(r["short_value"], golds) if golds else 0.0
        out.append(r)
    return out


def gated(rows: list[dict], model) -> list[dict]:
    """The rows as they read with ``model``'s confidence line applied to every short answer found: what
    `isnad eval answers` reports for a run made with ISNAD_SHORT_CONFIDENCE=false, gated afterwards
    (the same computation the engine makes, so one run gives both figures)."""
    out = []
    for r in rows:
        r = dict(r)
        if r.get("short_found") and r.get("evidence"):
            r["confidence"] = model.probability_of(r["evidence"])
            r["short"] = r["confidence"] >= model.threshold
        out.append(r)
    return out


def summarise_external(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["answerable"]]

    def scores(sub: list[dict]) -> dict:
        n = len(sub)
        return {
            "n": n,
            "EM": round(100 * sum(r["EM"] for r in sub) / n, 1) if n else None,
            "F1": round(100 * sum(r["F1"] for r in sub) / n, 1) if n else None,
            "short_answer_shown": round(sum(r["short"] for r in sub) / n, 3) if n else None,
            "abstained": round(sum(r["abstained"] for r in sub) / n, 3) if n else None,
        }

    lat = [r["latency_ms"] for r in rows]
    return {
        "short_answers": short_precision(rows),
        "short_answers_per_type": {
            t: short_precision([r for r in rows if r["type"] == t]) for t in sorted({r["type"] for r in rows})
        },
        "all": scores(answerable),
        "per_type": {
            t: scores([r for r in answerable if r["type"] == t])
            for t in sorted({r["type"] for r in answerable})
        },
        "abstention": _abstention(rows) if any(not r["answerable"] for r in rows) else None,
        "latency_p50_ms": round(statistics.median(lat), 1) if lat else 0.0,
        "engines": dict(Counter(r["engine"] for r in rows)),
    }


def external_markdown(result: dict) -> str:
    s = result["summary"]
    lines = [
        f"### {result['dataset']}",
        "",
        "Short answers shown in bold: precision (right when token F1 >= 0.5 with a gold "
        "answer; exact match beside it) and coverage (share of answerable questions given one); a bold answer "
        "to a question whose article was removed counts as wrong.",
        "",
        "| question type | shown | precision (F1>=0.5) | 95% CI | precision (EM) | coverage |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in [("all", s["short_answers"])] + list(s["short_answers_per_type"].items()):
        ci = "–".join(map(str, row["precision_f1_ci"])) if row["precision_f1_ci"] else "—"
        lines.append(
            f"| {name} | {row['shown']} | {row['precision_f1']} | {ci} | {row['precision_em']} | "
            f"{row['coverage']} |"
        )
    lines += [
        "",
        "| question type | n | EM | F1 | short answer shown | abstained |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in [("all", s["all"])] + list(s["per_type"].items()):
        lines.append(
            f"| {name} | {row['n']} | {row['EM']} | {row['F1']} | {row['short_answer_shown']} | "
            f"{row['abstained']} |"
        )
    if s["abstention"]:
        ab = s["abstention"]
        lines += [
            "",
            f"Abstention on questions made unanswerable (gold article removed): precision {ab['precision']}, "
            f"recall {ab['recall']}; answerable questions answered {ab['answerable_answered']}.",
        ]
    return "\n".join(lines)
