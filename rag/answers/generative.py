"""Answers written by a chat model from numbered article sentences, each citation verified before it is shown."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from rag.answers.answer import Candidate, elapsed_ms, question_language, source_of, validate_question
from rag.answers.extractive import ExtractiveEngine, short_answer_line
from rag.answers.questions import question_type
from rag.config import Settings
from rag.errors import GeneratorUnavailable
from rag.models.llm import Generator
from rag.models.prompts import load_prompt
from rag.text.arabic import normalize_ar
from rag.types import Answer, Query, ShortAnswer, Source
from rag.verification.citations import CITATION, verify_citations

_SHORT_LINE = re.compile(
    r"^\s*(?:short answer|الجواب المختصر|الإجابة المختصرة)\s*[:：]\s*(?P<a>.+?)\s*$", re.I | re.M
)


def split_short(raw: str) -> tuple[str | None, str]:
    """The model's "Short answer: …" line (words it was asked to copy from a source) and the rest."""
    m = _SHORT_LINE.search(raw)
    if not m:
        return None, raw
    return m.group("a"), (raw[: m.start()] + raw[m.end() :]).strip()


def _copied_short(copied: str | None, picked: list[Candidate], sources: list[Source]) -> ShortAnswer | None:
    """The model's short answer, accepted only if it is words of a cited sentence (after normalisation)."""
    if not copied:
        return None
    phrase = CITATION.sub("", copied).strip(' «»"“”.،,')
    want = normalize_ar(phrase).lower()
    if len(want) < 2:
        return None
    for c, s in zip(picked, sources):
        folded = normalize_ar(c.text).lower()
        i = folded.find(want)
        if i >= 0 and len(folded) == len(c.text):  # same-length folding: the offset holds in the original
            span = c.text[i : i + len(want)]
            return ShortAnswer(
                "copied",
                f"**{span}** [{s.n}]",
                s.n,
                span,
                c.start + i,
                c.start + i + len(want),
                method="generator",
                value=span,
            )
    return None


@dataclass
class _Draft:
    """What the generator was given for one question, kept to verify what it wrote."""

    query: Query
    lang: str
    kind: str
    numbered: dict[int, Candidate]  # the sentences it was shown, by number
    shown: dict[int, str]  # each as shown: with its outlet and date, which the answer may use
    t0: float


class GenerativeEngine:
    """A chat model writes the answer from numbered sentences; every citation is then verified."""

    def __init__(
        self, extractive: ExtractiveEngine, generator: Generator, settings: Settings, n_sources: int = 8
    ):
        self.extractive = extractive
        self.generator = generator
        self.settings = settings
        self.n_sources = n_sources

    @property
    def name(self) -> str:
        return f"generative: {self.generator.label}"

    def stream(self, query: Query | str) -> Iterator[str | Answer]:
        """Yield text pieces as they are generated, then the verified Answer.

        Any generator failure ends in the extractive answer with a notice: the user
        always gets something checkable.
        """
        t0 = time.perf_counter()
        query = Query.of(query)
        question = validate_question(query.question, self.settings)
        query = replace(query, question=question)
        lang = "ar" if question_language(question) == "ar" else "en"
        kind = question_type(question)
        found = self.extractive.candidates(query)
        kept, why = self.extractive.answerable(question, kind, found)
        if why:  # the same evidence checks as the extractive engine: abstain before asking the model
            yield self.extractive.answer(query)
            return
        cands = (kept + [c for c in found if c not in kept])[: self.n_sources]
        numbered = {i: c for i, c in enumerate(cands, start=1)}
        # the model may use the date it was shown: verify against it too
        shown = {
            i: f"({c.hit.outlet or c.hit.title or 'article'}, {c.hit.date or 'date unknown'}) {c.text}"
            for i, c in numbered.items()
        }
        block = "\n".join(f"[{i}] {text}" for i, text in shown.items())
        pieces: list[str] = []
        try:
            for piece in self.generator.stream(load_prompt("answer", lang, sources=block, question=question)):
                pieces.append(piece)
                yield piece
        except GeneratorUnavailable as e:
            fallback = self.extractive.answer(query)
            fallback.notices.insert(
                0, f"The generator could not answer ({e}); showing the extractive answer."
            )
            fallback.latency_ms = elapsed_ms(t0)
            yield fallback
            return
        yield self._verified("".join(pieces), _Draft(query, lang, kind, numbered, shown, t0))

    def answer(self, query: Query | str) -> Answer:
        result = None
        for item in self.stream(query):
            result = item
        assert isinstance(result, Answer)
        return result

    def _verified(self, raw: str, draft: _Draft) -> Answer:
        """The model's draft with every citation checked; an unsupported draft gives way to the extractive answer."""
        question, lang, kind, numbered, shown, t0 = (
            draft.query.question,
            draft.lang,
            draft.kind,
            draft.numbered,
            draft.shown,
            draft.t0,
        )
        copied, raw = split_short(raw)
        check = verify_citations(
            raw,
            shown,
            self.extractive.embedder,
            self.settings.verify_min_similarity,
            lexicon=self.extractive.lexicon,
        )
        label = (
            f"Machine-generated by {self.generator.label}; citations checked against the quoted sentences."
        )
        if check.abstained:  # the model found no answer: the extractive answer stands if its checks pass
            fallback = self.extractive.answer(draft.query)
            if not fallback.abstained:
                fallback.notices.insert(
                    0,
                    f"{self.generator.label} found no answer in these passages; the quotes "
                    "below are the extractive answer, whose evidence checks passed.",
                )
                fallback.latency_ms = elapsed_ms(t0)
                return fallback
            return Answer.abstention(
                question,
                lang,
                self.name,
                why="the generator found no answer in the closest passages",
                kind=kind,
                notices=[f"{self.generator.label} found no answer in the closest passages."],
                latency_ms=elapsed_ms(t0),
            )
        if not check.supported:
            fallback = self.extractive.answer(draft.query)
            fallback.notices.insert(
                0,
                "The generated answer was not supported by its sources and was discarded; "
                "showing the extractive answer instead.",
            )
            fallback.latency_ms = elapsed_ms(t0)
            return fallback
        used = sorted({n for c in check.checks for n in c.supported})
        renumber = {old: new for new, old in enumerate(used, start=1)}
        text = re.sub(r"\[(\d+)\]", lambda m: f"[{renumber.get(int(m.group(1)), m.group(1))}]", check.text)
        sources = [source_of(renumber[n], numbered[n]) for n in used]
        notices = [label]
        if check.removed:
            notices.append(
                f"{len(check.removed)} citation(s) removed because the cited sentence does not support the claim."
            )
        if check.attributed:
            notices.append(
                f"{len(check.attributed)} citation(s) were added by the verifier: the model left the "
                "sentence uncited, and that source supports it."
            )
        flagged = [c.text + f" ({c.reason})" for c in check.checks if c.flagged]
        if flagged:
            notices.append(f"{len(flagged)} sentence(s) marked ⚠ have no supporting source.")
        chosen = [numbered[n] for n in used]
        short, withheld = _copied_short(copied, chosen, sources), None
        spans = self.extractive.short_spans(question, kind, chosen) if short is None else []
        if spans:  # the typed short answer, under the same confidence line as the extractive engine's
            ex = self.extractive
            spans[0] = (spans[0][0], ex._whole(question, kind, *spans[0]))
            short, withheld = ex._gate(
                short_answer_line(spans, chosen, sources, lang),
                ex.short_evidence(question, kind, chosen, *spans[0]),
            )
        if short is not None:
            text = short.text + "\n" + text
        return Answer.found(
            question,
            lang,
            self.name,
            text=text,
            support=check.support,
            sources=sources,
            kind=kind,
            short=short,
            withheld_short=withheld,
            notices=notices,
            flagged=flagged,
            latency_ms=elapsed_ms(t0),
        )
