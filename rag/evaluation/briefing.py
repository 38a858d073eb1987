"""Briefing evaluation on the seeds: key-fact coverage, duplicate facts, timeline order.

Coverage is the fraction of an article's key facts (eval/data/seeds_key_facts.json)
whose Arabic wording appears in its briefing. A duplicate is a line that, within one
section, states a key fact an earlier line already stated, or repeats two or more of
an earlier line's numbers (the seeds' "3,000 troops, 2,500 American" is the test case).
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.briefing.briefing import Briefing
from rag.evaluation.datasets import SEED_KEY_FACTS
from rag.evaluation.metrics import fold_spaces
from rag.rendering.markdown import render_markdown
from rag.verification.facts import numbers


def _facts_in(text: str, facts: list[dict]) -> set[int]:
    folded = fold_spaces(text)
    return {i for i, f in enumerate(facts) if any(fold_spaces(s) in folded for s in f["any_of"])}


def coverage(briefing: Briefing, facts: list[dict]) -> tuple[int, list[str]]:
    found = _facts_in(" ".join(line.text for line in briefing.lines()), facts)
    return len(found), [f["en"] for i, f in enumerate(facts) if i not in found]


def duplicates(briefing: Briefing, facts: list[dict]) -> int:
    count = 0
    for section in briefing.sections:
        if section.name == "timeline":  # one sentence may date two events (an agreement and its deadline)
            continue
        seen_facts: set[int] = set()
        seen_numbers: list[set[str]] = []
        for line in section.lines:
            f = _facts_in(line.text, facts)
            nums = numbers(line.text)
            if (f & seen_facts) or any(len(nums & prev) >= 2 for prev in seen_numbers):
                count += 1
            seen_facts |= f
            seen_numbers.append(nums)
    return count


def _within(label: str, period: str) -> bool:
    """'2021-07-26' is within '2021-07'; 'end of 2021-05' is not within 'end of 2021'."""
    label = label.split(" (")[0]
    edge = period.startswith(("end of", "start of"))  # the end of a year is not the end of one of its months
    return label == period or (not edge and label.startswith(period + "-"))


def timeline_in_order(briefing: Briefing, events: list[dict]) -> dict:
    """Where each expected event sits in the timeline; in order when all are found, ascending."""
    lines = next((s.lines for s in briefing.sections if s.name == "timeline"), [])
    where = []
    for e in events:
        idx = next(
            (
                i
                for i, line in enumerate(lines)
                if _within(line.when or "", e["when"])
                and any(fold_spaces(m) in fold_spaces(line.text) for m in e["any_of"])
            ),
            None,
        )
        where.append(idx)
    found = [i for i in where if i is not None]
    return {
        "positions": where,
        "missing": [e["en"] for e, i in zip(events, where) if i is None],
        "in_order": len(found) == len(events) and found == sorted(found),
    }


def evaluate_briefings(
    app, length: str = "medium", engine: str = "extractive", facts_path: Path = SEED_KEY_FACTS
) -> dict:
    """Brief every seed article and the seed topic; score coverage, duplicates and timeline order."""
    data = json.loads(facts_path.read_text(encoding="utf-8"))
    rows = []
    for doc in sorted(app.searcher.documents().values(), key=lambda d: d.source):
        name = Path(doc.source).name
        facts = data["articles"].get(name)
        if not facts:
            continue
        b = app.brief([doc.doc_id], lang="ar", length=length, engine=engine)
        covered, missing = coverage(b, facts)
        rows.append(
            {
                "file": name,
                "facts": len(facts),
                "covered": covered,
                "coverage": round(covered / len(facts), 3),
                "duplicates": duplicates(b, facts),
                "missing": missing,
                "markdown": render_markdown(b),
            }
        )
    all_facts = [f for fs in data["articles"].values() for f in fs]
    topic = data["timeline"]["topic"]
    b = app.brief(topic=topic, lang="ar", length=length, engine=engine)
    covered, _ = coverage(b, all_facts)
    key = next((s.lines for s in b.sections if s.name == "key_points"), [])
    order = timeline_in_order(b, data["timeline"]["events"])
    return {
        "length": length,
        "engine": b.engine,
        "articles": rows,
        "mean_coverage": round(sum(r["coverage"] for r in rows) / len(rows), 3) if rows else 0.0,
        "total_duplicates": sum(r["duplicates"] for r in rows) + duplicates(b, all_facts),
        "topic": {
            "topic": topic,
            "facts": len(all_facts),
            "covered": covered,
            "coverage": round(covered / len(all_facts), 3),
            "duplicates": duplicates(b, all_facts),
            "troop_figure_lines": sum({"3000", "2500"} <= numbers(line.text) for line in key),
            "timeline": order,
            "markdown": render_markdown(b),
        },
        "timeline_in_order": order["in_order"],
    }
