"""Checks that generated text says only what its cited sources say.

A generated sentence keeps a citation [n] only if it is semantically close to source n
and every number in it appears in source n. A sentence left with no valid citation is
flagged; an answer with no supported sentence is not shown as an answer at all.
Translations get the same treatment: numbers, months and Latin-script names must survive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.models.embedder import Embedder
from rag.text.arabic import normalize_ar, sentence_spans
from rag.text.lexicon import Lexicon, load_lexicon
from rag.text.transliteration import latin_name_in_arabic
from rag.types import NO_ANSWER
from rag.verification.facts import latin_names, months_in, numbers

CITATION = re.compile(r"\s*\[(\d{1,3})\]")


@dataclass
class SentenceCheck:
    text: str  # the sentence as shown, with the citations that survived
    cited: list[int]
    supported: list[int]
    flagged: bool
    reason: str = ""


@dataclass
class Verification:
    text: str
    checks: list[SentenceCheck] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)  # citation numbers taken out
    attributed: list[int] = field(default_factory=list)  # citations the verifier supplied
    abstained: bool = False

    @property
    def supported(self) -> bool:
        return any(c.supported for c in self.checks)

    @property
    def support(self) -> float:
        return sum(bool(c.supported) for c in self.checks) / len(self.checks) if self.checks else 0.0


def says_no_answer(text: str) -> bool:
    t = normalize_ar(text).lower()
    return any(normalize_ar(p).lower().rstrip(".") in t for p in NO_ANSWER.values())


def _problem(
    claim: str, source: str, similarity: float, min_similarity: float, lexicon: Lexicon | None = None
) -> str | None:
    """Why ``source`` does not support ``claim`` (None: it does)."""
    lexicon = lexicon or load_lexicon()
    if not numbers(claim) <= numbers(source):
        return f"lacks {', '.join(sorted(numbers(claim) - numbers(source)))}"
    if invented := lexicon.unmatched(claim, source):
        return f"does not name {', '.join(sorted(n.label for n in invented))}"
    unconfirmed = [
        n
        for n in latin_names(claim, lexicon)
        if n.lower() not in source.lower() and not latin_name_in_arabic(n, source)
    ]
    if unconfirmed:
        return f"cannot confirm {', '.join(unconfirmed)}"
    if not months_in(claim) <= months_in(source):
        return f"does not say month {', '.join(str(m) for m in sorted(months_in(claim) - months_in(source)))}"
    if is_value_claim(claim, lexicon):
        return None  # a date, number or name: checked above by value; similarity means nothing for four words
    if similarity < min_similarity:
        return f"does not say this (similarity {similarity:.2f})"
    return None


def is_value_claim(claim: str, lexicon: Lexicon | None = None) -> bool:
    """A short claim that states a date, a number or a name ("5 June 2021", "63 attacks", "Fuad Hussein")."""
    words = CITATION.sub("", claim).split()
    lexicon = lexicon or load_lexicon()
    return 0 < len(words) <= 6 and bool(
        numbers(claim) or months_in(claim) or lexicon.in_text(claim) or latin_names(" " + claim, lexicon)
    )


def verify_citations(
    text: str,
    sources: dict[int, str],
    embedder: Embedder,
    min_similarity: float,
    attribute: bool = True,
    lexicon: Lexicon | None = None,
) -> Verification:
    """Keep supported citations, drop the rest, flag unsupported sentences.

    With ``attribute``, a sentence left without a valid citation gets the one source
    that passes every check, if any (small models often forget to cite); such
    citations are counted in ``attributed`` so the reader is told.
    """
    if says_no_answer(text):
        return Verification(text.strip(), abstained=True)
    spans = sentence_spans(text)
    claims = [CITATION.sub("", text[a:b]).strip() for a, b in spans]
    cited = [[int(n) for n in CITATION.findall(text[a:b])] for a, b in spans]
    ids = sorted(sources)
    sims: dict[tuple[int, int], float] = {}
    if ids and any(claims):
        m = embedder.embed_queries(claims) @ embedder.embed_documents([sources[n] for n in ids]).T
        sims = {(i, n): float(m[i, j]) for i in range(len(claims)) for j, n in enumerate(ids)}
    result = Verification("")
    shown = []
    for i, claim in enumerate(claims):
        if not claim:
            continue
        ok, reasons = [], []
        for n in dict.fromkeys(cited[i]):
            problem = (
                "is not a source"
                if n not in sources
                else _problem(claim, sources[n], sims[(i, n)], min_similarity, lexicon)
            )
            if problem:
                reasons.append(f"[{n}] {problem}")
            else:
                ok.append(n)
        result.removed.extend(n for n in cited[i] if n not in ok)
        if not ok and attribute:
            best = max(ids, key=lambda n: sims[(i, n)], default=None)
            if (
                best is not None
                and _problem(claim, sources[best], sims[(i, best)], min_similarity, lexicon) is None
            ):
                ok.append(best)
                result.attributed.append(best)
        flagged = not ok
        reason = "; ".join(reasons) if reasons else ("no citation" if flagged else "")
        markers = "".join(f" [{n}]" for n in ok)
        body = claim.rstrip(".!?؟。")
        line = body + markers + claim[len(body) :]  # "… American [1]." keeps the full stop last
        result.checks.append(SentenceCheck(line, cited[i], ok, flagged, reason))
        shown.append(line + (" ⚠" if flagged else ""))
    result.text = " ".join(shown)
    return result
