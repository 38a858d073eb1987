"""How far an English reader can trust the translations, on parallel text no one here wrote (XQuAD-R).

Two measurements:
- ``check_catch``: the meaning check (a similarity floor between the Arabic sentence and its English,
  and the negation count) on correct pairs and on deliberately wrong ones (negation flipped, two names
  swapped, another sentence of the same paragraph). The floor is chosen on even paragraphs and
  reported on odd ones.
- ``translation_quality``: a translation function run sentence by sentence over Arabic paragraphs,
  joined, and scored with chrF++ against the English paragraph; plus the share of sentences shown
  (not withheld) and of the Arabic's numbers and months that the shown English keeps.
"""

from __future__ import annotations

import ast
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.text.dates import ENGLISH_MONTHS, arabic_months_in
from rag.verification.facts import negation_mismatch, numbers


@dataclass
class Paragraph:
    pid: int
    ar: str
    en: str
    ar_sentences: list[str]
    en_sentences: list[str]

    @property
    def aligned(self) -> bool:
        """Same number of sentences in both languages: sentence i translates sentence i."""
        return len(self.ar_sentences) == len(self.en_sentences)


def load_parallel(ar_path: Path, en_path: Path) -> list[Paragraph]:
    """XQuAD-R paragraphs in both languages with their sentence breaks (same paragraph order in both)."""

    def paragraphs(path: Path) -> list[dict]:
        return [
            p for art in json.loads(Path(path).read_text(encoding="utf-8"))["data"] for p in art["paragraphs"]
        ]

    def sentences(p: dict) -> list[str]:
        raw = p.get("sentences", [])
        raw = ast.literal_eval(raw) if isinstance(raw, str) else raw
        return [s.strip() for s in raw if s.strip()]

    return [
        Paragraph(i, a["context"].strip(), e["context"].strip(), sentences(a), sentences(e))
        for i, (a, e) in enumerate(zip(paragraphs(ar_path), paragraphs(en_path)))
    ]


_AUX = re.compile(r"\b(is|are|was|were|has|have|had|will|would|can|could|did|does|do|should|must)\b(?! not)")
_NAME = re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][a-z]+(?: [A-Z][a-z]+)*")


def negated(sentence: str) -> str | None:
    """The sentence with its first auxiliary negated ("was" → "was not"), or None if it has none."""
    m = _AUX.search(sentence)
    return sentence[: m.end()] + " not" + sentence[m.end() :] if m else None


def swapped(sentence: str) -> str | None:
    """The first two different capitalised names exchanged ("Denver beat Carolina" → "Carolina beat Denver")."""
    names = list(_NAME.finditer(sentence))
    for a in names:
        for b in names:
            if b.start() > a.end() and a.group() != b.group():
                return (
                    sentence[: a.start()]
                    + b.group()
                    + sentence[a.end() : b.start()]
                    + a.group()
                    + sentence[b.end() :]
                )
    return None


def pairs(paragraphs: list[Paragraph], seed: int = 13) -> list[dict]:
    """Correct and wrong (Arabic, English) sentence pairs from the aligned paragraphs."""
    rng = random.Random(seed)
    out = []
    for p in paragraphs:
        if not p.aligned or len(p.ar_sentences) < 2:
            continue
        for i, (ar, en) in enumerate(zip(p.ar_sentences, p.en_sentences)):
            out.append({"pid": p.pid, "ar": ar, "en": en, "kind": "correct"})
            for kind, wrong in (
                ("negated", negated(en)),
                ("swapped", swapped(en)),
                (
                    "other sentence",
                    p.en_sentences[rng.choice([j for j in range(len(p.en_sentences)) if j != i])],
                ),
            ):
                if wrong:
                    out.append({"pid": p.pid, "ar": ar, "en": wrong, "kind": kind})
    return out


def check_catch(paragraphs: list[Paragraph], embedder, current: float) -> dict:
    """Share of wrong pairs the check catches and of correct ones it withholds: the similarity floor
    alone at the current floor and at the floor that maximises caught − withheld on even paragraphs,
    and the whole check (that floor plus the negation count), all reported on odd paragraphs."""
    rows = pairs(paragraphs)
    ar = embedder.embed_documents([r["ar"] for r in rows])
    en = embedder.embed_documents([r["en"] for r in rows])
    for r, a, b in zip(rows, ar, en):
        r["similarity"] = float(a @ b)
        r["polarity"] = bool(negation_mismatch(r["ar"], r["en"]))
    fit = [r for r in rows if r["pid"] % 2 == 0]
    test = [r for r in rows if r["pid"] % 2 == 1]

    def rates(sub: list[dict], floor: float, polarity: bool = False) -> dict:
        out = {}
        for kind in ("correct", "negated", "swapped", "other sentence"):
            k = [r for r in sub if r["kind"] == kind]
            held = sum(r["similarity"] < floor or (polarity and r["polarity"]) for r in k)
            out[kind] = {"n": len(k), "withheld": round(held / len(k), 3) if k else None}
        return out

    def gain(floor: float) -> float:
        r = rates(fit, floor)
        wrong = [r[k]["withheld"] or 0 for k in ("negated", "swapped", "other sentence")]
        return sum(wrong) / 3 - (r["correct"]["withheld"] or 0)

    grid = [round(0.5 + 0.01 * i, 2) for i in range(46)]
    best = max(grid, key=gain)
    return {
        "pairs": len(rows),
        "fitted_floor": best,
        "current_floor": current,
        "similarity_at_current_floor": rates(test, current),
        "similarity_at_fitted_floor": rates(test, best),
        "negation_alone": rates(test, -1.0, polarity=True),
        "check_at_current_floor": rates(test, current, polarity=True),
        "check_at_fitted_floor": rates(test, best, polarity=True),
    }


def translation_quality(paragraphs: list[Paragraph], translate: Callable[[str], str | None]) -> dict:
    """chrF++ of the joined sentence translations (withheld sentences count as empty) against the
    English paragraphs, the share of sentences shown, and numbers/months kept in what is shown."""
    import sacrebleu

    hyps, refs, shown, total, kept, facts = [], [], 0, 0, 0, 0
    t0 = time.perf_counter()
    for p in paragraphs:
        outs = []
        for s in p.ar_sentences:
            out = translate(s)
            total += 1
            if out:
                shown += 1
                want = numbers(s) | {f"month{m}" for m in arabic_months_in(s)}
                got = numbers(out) | {f"month{i + 1}" for i, m in enumerate(ENGLISH_MONTHS) if m in out}
                facts += len(want)
                kept += len(want & got)
                outs.append(out)
        hyps.append(" ".join(outs))
        refs.append(p.en)
    chrf = sacrebleu.corpus_chrf(hyps, [refs], word_order=2)
    return {
        "paragraphs": len(paragraphs),
        "sentences": total,
        "chrF++": round(chrf.score, 1),
        "shown": round(shown / total, 3) if total else 0.0,
        "facts_kept_in_shown": round(kept / facts, 3) if facts else None,
        "seconds_per_sentence": round((time.perf_counter() - t0) / max(1, total), 1),
    }


PREVIOUS_FLOOR = 0.82  # the similarity floor before it was fitted on XQuAD-R


def unlocked(translator, floor: float = PREVIOUS_FLOOR) -> Callable[[str], str | None]:
    """The previous pipeline, for comparison: one unmasked call per sentence, then the checks it had
    (numbers, months, names and its 0.82 floor; the negation count now sits in the same function)."""
    from rag.models.prompts import load_prompt
    from rag.translation.translator import tidy
    from rag.verification.facts import check_translation

    def translate(sentence: str) -> str | None:
        out = tidy(
            translator.generator.complete(load_prompt("translate", "en", text=sentence), max_tokens=300)
        )
        return None if check_translation(sentence, out, translator.embedder, floor) else out

    return translate


def sampled_sentences(paragraphs: list[Paragraph], parity: int, n: int, seed: int = 13) -> list[dict]:
    """``n`` aligned (Arabic, human English) sentence pairs from the even (0) or odd (1) paragraphs."""
    pool = [
        {"pid": p.pid, "i": i, "ar": ar, "en": en}
        for p in paragraphs
        if p.aligned and p.pid % 2 == parity
        for i, (ar, en) in enumerate(zip(p.ar_sentences, p.en_sentences))
    ]
    return random.Random(seed).sample(pool, min(n, len(pool)))


def faithfulness_rows(
    sentences: list[dict], translator, embedder, on_row: Callable[[dict], None] | None = None
) -> list[dict]:
    """Each sentence translated under the translator's settings, with what decides whether it is shown
    (agreement, similarity, the other checks) and how close the chosen English is to the human one
    (embedding similarity and chrF++), so the floor can be fitted and the judge read by hand."""
    from sacrebleu.metrics import CHRF

    chrf, rows = CHRF(word_order=2), []
    for s in sentences:
        t0 = time.perf_counter()
        drafted = translator.drafted(s["ar"], "en")
        shown, note = translator.judge(drafted)
        others_pass = translator.judge({**drafted, "agreement": None})[0] is not None
        row = {
            **s,
            "mt": drafted["draft"],
            "shown": shown is not None,
            "note": note,
            "agreement": drafted.get("agreement"),
            "similarity": drafted.get("similarity"),
            "other_checks_pass": others_pass,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if drafted["draft"]:
            a, b = embedder.embed_documents([drafted["draft"], s["en"]])
            row["ref_similarity"] = round(float(a @ b), 4)
            row["ref_chrf"] = round(chrf.sentence_score(drafted["draft"], [s["en"]]).score, 1)
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


# English-to-human-English similarity judged faithful: calibrated against hand judgements
# (eval/data/translation_judgements.jsonl; docs/evaluation.md)
FAITHFUL_SIMILARITY = 0.92


def faithful(row: dict, floor: float = FAITHFUL_SIMILARITY) -> bool:
    """The automatic judge: the chosen English is close enough in meaning to the human translation."""
    return (row.get("ref_similarity") or 0.0) >= floor


def shown_precision(rows: list[dict], shown: Callable[[dict], bool]) -> dict:
    """Share of sentences shown and, of those, the share judged faithful, with a 95% bootstrap interval."""
    from rag.evaluation.metrics import bootstrap_ci

    picked = [faithful(r) for r in rows if shown(r)]
    return {
        "sentences": len(rows),
        "shown": len(picked),
        "share_shown": round(len(picked) / len(rows), 3) if rows else 0.0,
        "faithful_of_shown": round(sum(picked) / len(picked), 3) if picked else None,
        "faithful_ci": [round(x, 3) for x in bootstrap_ci([float(x) for x in picked])]
        if len(picked) >= 2
        else None,
    }


def fit_floors(rows: list[dict], target: float = 0.9, min_shown: int = 3) -> tuple[float, float]:
    """(agreement floor, similarity floor): of the pairs at which the sentences that pass the other checks
    and both floors are judged faithful at least ``target`` of the time on the fitting half (and at least
    ``min_shown`` are shown), the one that shows the most; (1.0, 1.0), showing nothing, when none does."""
    passing = [r for r in rows if r["other_checks_pass"] and r.get("agreement") is not None]
    best, best_shown = (1.0, 1.0), 0
    for a in sorted({r["agreement"] for r in passing}):
        for s in sorted({r["similarity"] or 0.0 for r in passing}):
            shown = [faithful(r) for r in passing if r["agreement"] >= a and (r["similarity"] or 0.0) >= s]
            if len(shown) >= max(min_shown, best_shown + 1) and sum(shown) / len(shown) >= target:
                best, best_shown = (a, s), len(shown)
    return best


def gated(at: tuple[float, float]) -> Callable[[dict], bool]:
    """Whether a row is shown at (agreement floor, similarity floor), the other checks passed."""
    return lambda r: (
        r["other_checks_pass"]
        and (r.get("agreement") or 0.0) >= at[0]
        and (r.get("similarity") or 0.0) >= at[1]
    )
