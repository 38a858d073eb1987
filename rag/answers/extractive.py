"""Cited answers. Extractive by default (verbatim quotes, no LLM); generative when configured.

Every answer carries numbered sources whose quotes are exact substrings of the
articles (with offsets), so a reader can check each claim in one click.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace

import numpy as np

from rag.answers.answer import (
    MIN_WORDS,
    RUNNER_UP,
    Candidate,
    elapsed_ms,
    evidence_text,
    numbers_of,
    question_language,
    source_of,
    validate_question,
)
from rag.answers.confidence import WINDOW, SpanEvidence, load_model
from rag.answers.identity import asked_identity, identity_span
from rag.answers.questions import (
    asked_roles,
    asks_speaker,
    counted_terms,
    question_type,
    wants_money,
    wants_year,
)
from rag.answers.ranking import dates_compatible, rank_spans, unit_matches, values_agree
from rag.answers.short import coordinated, per_part, typed_spans, with_year
from rag.config import Settings
from rag.errors import GeneratorUnavailable
from rag.models.embedder import Embedder
from rag.models.llm import Generator
from rag.rendering.markdown import answer_text
from rag.retrieval.hybrid import Searcher
from rag.text.arabic import bm25_tokens, detect_language
from rag.text.dates import reference_date
from rag.text.lexicon import Lexicon, lexicon_for
from rag.translation.translator import SMALL_UNITS, clauses, key_facts, translator_for
from rag.types import Answer, Query, ShortAnswer, Source, Span
from rag.verification.facts import numbers


class ExtractiveEngine:
    """Answers with the article sentences that best answer the question, quoted verbatim."""

    name = "extractive"

    def __init__(
        self, searcher: Searcher, embedder: Embedder, settings: Settings, translator: Generator | None = None
    ):
        self.searcher = searcher
        self.embedder = embedder
        self.settings = settings
        self.translator = translator
        self._sentence_vecs: dict[tuple[str, int, int], np.ndarray] = {}
        self._refs: dict[str, dt.date | None] = {}

    def candidates(self, query: Query | str) -> list[Candidate]:
        """Sentences of the retrieved chunks, scored against the question (best first)."""
        query = Query.of(query)
        hits = self.searcher.search(
            query.searched,
            k=query.k or self.settings.answer_k,
            mode=query.mode or self.settings.retrieval_mode,
            filters=query.filters,
        )
        seen, cands = set(), []
        for hit in hits:
            doc = self.searcher.document(hit.doc_id)
            for a, b in hit.sentences:
                if (hit.doc_id, a) in seen or len(doc.text[a:b].split()) < MIN_WORDS:
                    continue
                seen.add((hit.doc_id, a))
                cands.append(Candidate(hit, a, b, doc.text[a:b]))
        if not cands:
            return []
        self._embed_missing(cands)
        scored_against = query.searched  # a follow-up is scored in its context
        q = self.embedder.embed_queries([scored_against])[0]
        q_tokens = set(bm25_tokens(scored_against))
        for c in cands:
            c.dense = float(self._sentence_vecs[(c.hit.doc_id, c.start, c.end)] @ q)
            overlap = len(q_tokens & set(bm25_tokens(c.text))) / len(q_tokens) if q_tokens else 0.0
            c.score = c.dense + 0.1 * overlap
        return sorted(cands, key=lambda c: -c.score)

    def _embed_missing(self, cands: list[Candidate]) -> None:
        todo = [c for c in cands if (c.hit.doc_id, c.start, c.end) not in self._sentence_vecs]
        if todo:
            vecs = self.embedder.embed_documents([c.text for c in todo], [c.hit.title for c in todo])
            for c, v in zip(todo, vecs):
                self._sentence_vecs[(c.hit.doc_id, c.start, c.end)] = v

    def threshold(self, question: str, sentence: str) -> float:
        """Abstention threshold: cross-lingual similarities run lower than same-language ones."""
        same = detect_language(question) == detect_language(sentence)
        return self.settings.abstain_below if same else self.settings.abstain_below_cross

    def select(self, cands: list[Candidate]) -> list[Candidate]:
        """The best sentence plus close runners-up that add something (no near-duplicates)."""
        if not cands:
            return []
        best = cands[0].score
        picked = [cands[0]]
        for c in cands[1:]:
            if len(picked) >= self.settings.answer_max_sentences or c.score < best - RUNNER_UP:
                break
            vec = self._sentence_vecs[(c.hit.doc_id, c.start, c.end)]
            if all(float(vec @ self._sentence_vecs[(p.hit.doc_id, p.start, p.end)]) < 0.9 for p in picked):
                picked.append(c)
        return picked

    def answer(self, query: Query | str, translate: bool = True) -> Answer:
        """The cited answer; ``translate=False`` returns at once and leaves renderings to ``translate()``."""
        t0 = time.perf_counter()
        query = Query.of(query)
        question = validate_question(query.question, self.settings)
        lang = question_language(question)
        notices = []
        if lang == "other":
            notices.append(
                "Isnad answers in Arabic and English; this question seems to be in another "
                "language, so the answer below quotes the closest passages in English framing."
            )
        out_lang = "ar" if lang == "ar" else "en"
        kind = question_type(question)
        identity = self.identified(replace(query, question=question)) if kind == "person" else None
        if identity:
            kept, spans = identity
            support = kept[0].score
        else:
            cands = self.candidates(replace(query, question=question))
            support = cands[0].score if cands else 0.0
            kept, why = self.answerable(question, kind, cands)
            if why:
                return Answer.abstention(
                    question,
                    out_lang,
                    self.name,
                    why=why,
                    kind=kind,
                    support=support,
                    notices=notices,
                    latency_ms=elapsed_ms(t0),
                )
            spans = self.short_spans(question, kind, kept)
        if spans and not identity:  # several values asked for, or people named together: one answer
            spans[0] = (spans[0][0], self._whole(question, kind, *spans[0]))
        if spans:  # the sentence that holds the direct answer leads
            kept = [spans[0][0]] + [c for c in kept if c is not spans[0][0]]
        picked = self.select(kept)
        picked += [c for c, _ in spans[1:] if c not in picked]
        sources = [source_of(i, c) for i, c in enumerate(picked, start=1)]
        short = short_answer_line(spans, picked, sources, out_lang)
        withheld = None
        if short is not None and identity:
            short.method = "role"  # the title written before the name: found by position, not similarity
        elif short is not None:
            short, withheld = self._gate(short, self.short_evidence(question, kind, kept, *spans[0]))
        answer = Answer.found(
            question,
            out_lang,
            self.name,
            text="",
            support=support,
            sources=sources,
            kind=kind,
            short=short,
            withheld_short=withheld,
            notices=notices,
        )
        answer.answer = answer_text(answer)
        if translate:
            self.translate(answer)
        answer.latency_ms = elapsed_ms(t0)
        return answer

    @property
    def lexicon(self) -> Lexicon:
        return lexicon_for(self.settings)

    def answerable(self, question: str, kind: str, cands: list[Candidate]) -> tuple[list[Candidate], str]:
        """The candidates that can answer, or a reason to abstain.

        Similarity alone cannot tell "about the US" from "about France"; so the evidence must
        also name what the question names, contain its numbers, and (for when / how many)
        hold a value of the asked type.
        """
        if not cands:
            return [], "nothing in the articles matches the question"
        best = cands[0].score
        if best < self.threshold(question, cands[0].text):
            return [], f"no passage is close enough to the question (support {best:.2f})"
        kept = [c for c in cands if c.score >= self.threshold(question, c.text)]
        names = self.lexicon.in_text(question)
        if names:
            asked = Lexicon(names)  # only the question's names need looking for in each passage
            kept = [c for c in kept if set(names) <= set(asked.in_text(evidence_text(c)))]
            if not kept:
                return [], "the closest passages do not mention " + ", ".join(n.label for n in names)
        wanted = numbers(question)
        if wanted:
            kept = [c for c in kept if wanted <= numbers_of(c)]
            if not kept:
                return [], "the closest passages do not mention " + ", ".join(sorted(wanted))
        kept = [c for c in kept if c.score >= kept[0].score - self.settings.answer_margin]
        roles = asked_roles(question) if kind == "person" else []
        if kind in ("date", "number") or roles:  # types that can be recognised reliably must be there
            if not any(self._spans(question, kind, c) for c in kept):
                what = {"date": "date", "number": "amount of money" if wants_money(question) else "number"}
                return [], f"the closest passages give no {what.get(kind, 'such person')}"
        return kept, ""

    def identified(self, query: Query) -> tuple[list[Candidate], list[tuple[Candidate, Span]]] | None:
        """For "who is X", the retrieved sentences that give X a role (rag.answers.identity), best
        first, and the first one's role as the short answer; None when the question names no known
        person or no sentence gives one a role (the question is then answered as any other)."""
        who = asked_identity(query.question, self.lexicon)
        if who is None:
            return None
        searched = replace(query, retrieval_query=f"{query.searched} {who.arabic[0]}")
        found = [
            (c, sp)
            for c in self.candidates(searched)
            if (sp := identity_span(who, c.text, c.start, self.lexicon)) is not None
        ]
        if not found:
            return None
        return [c for c, _ in found], found[:1]

    def _whole(self, question: str, kind: str, c: Candidate, top: Span) -> Span:
        """The whole answer around ``top``: a value per part of a several-part question, or the people
        named together with the one found."""
        ref = self._reference(c.hit.doc_id)
        if kind == "number" and (
            parts := per_part(
                question, typed_spans(kind, c.text, c.start, ref, self.lexicon), c.text, c.start, self.lexicon
            )
        ):
            return parts
        if kind == "person" and not asked_roles(question) and not asks_speaker(question):
            return coordinated(self._spans(question, kind, c), top, c.text, c.start)
        return top

    def short_evidence(
        self, question: str, kind: str, kept: list[Candidate], c: Candidate, sp: Span
    ) -> SpanEvidence:
        """What the confidence model reads about the chosen span ``sp`` of sentence ``c``."""
        ranked = self._spans(question, kind, c)
        others = [sp2 for sp2 in ranked if (sp2.start, sp2.end) != (sp.start, sp.end)]
        near = [x for x in kept[:4] if x is not c and x.score >= kept[0].score - RUNNER_UP]
        tops = [(x, found[0]) for x in near if (found := self._spans(question, kind, x))]
        agree = sum(values_agree(sp, s2, c.text, x.text) for x, s2 in tops)
        q_terms = set(bm25_tokens(question))
        a, b = sp.start - c.start, sp.end - c.start
        clause = c.text[max(0, a - WINDOW) : b + WINDOW]
        q_names = set(self.lexicon.in_text(question))
        clause_names = set(Lexicon(list(q_names)).in_text(clause)) if q_names else set()
        return SpanEvidence(
            kind=sp.kind if sp.kind in ("date", "number", "person", "place", "org") else kind,
            span_score=sp.score,
            runner_up_gap=sp.score - others[0].score if others else 0.1,
            competitors=len(others),
            support=c.score,
            above_floor=c.score - self.threshold(question, c.text),
            sentence_rank=kept.index(c) if c in kept else 3,
            agree=agree,
            disagree=len(tops) - agree,
            cross=detect_language(question) != detect_language(c.text),
            clause_terms=len(q_terms & set(bm25_tokens(clause))) / len(q_terms) if q_terms else 0.0,
            sentence_terms=len(q_terms & set(bm25_tokens(c.text))) / len(q_terms) if q_terms else 0.0,
            clause_names=len(clause_names) / len(q_names) if q_names else 1.0,
            span_words=len(sp.text.split()),
            unit_match=_unit_match(question, sp),
        )

    def _gate(
        self, short: ShortAnswer, evidence: SpanEvidence
    ) -> tuple[ShortAnswer | None, ShortAnswer | None]:
        """(shown, withheld): a short answer under the fitted confidence line is withheld, not shown in bold."""
        short.evidence = evidence.vector()
        model = load_model() if self.settings.short_confidence else None
        if model is None:
            return short, None
        short.confidence = round(model.probability(evidence), 4)
        return (short, None) if short.confidence >= model.threshold else (None, short)

    def _spans(self, question: str, kind: str, c: Candidate) -> list[Span]:
        if kind not in ("date", "number", "person", "place", "org"):
            return []
        ref = self._reference(c.hit.doc_id)
        spans = typed_spans(kind, c.text, c.start, ref, self.lexicon)
        if kind == "date" and wants_year(question):
            spans = with_year(spans)
        return rank_spans(spans, question, c.text, c.start, self.lexicon)

    def _reference(self, doc_id: str) -> dt.date | None:
        """The date an article's relative dates refer to (inferred for undated articles), once per article."""
        if doc_id not in self._refs:
            doc = self.searcher.document(doc_id)
            self._refs[doc_id] = reference_date(doc.date, doc.body())[0]
        return self._refs[doc_id]

    def short_spans(self, question: str, kind: str, kept: list[Candidate]) -> list[tuple[Candidate, Span]]:
        """The best typed span, then one per other article whose value differs (sources that disagree).

        Only sentences quoted anyway (as close as a runner-up to the best) may give it: a dated
        sentence far below a date-less best one answers some other "when".
        """
        near = [c for c in kept[:4] if kept and c.score >= kept[0].score - RUNNER_UP]
        found = [(c, sp[0]) for c in near if (sp := self._spans(question, kind, c))]
        if not found:
            return []
        if kind == "date":
            found = _fullest_first(found)
        top_c, top = found[0]
        out = [(top_c, top)]
        for c, sp in found[1:]:
            if (
                c.hit.doc_id in {x.hit.doc_id for x, _ in out}
                or top_c.score - c.score > self.settings.disagree_margin
            ):
                continue
            if (
                kind in ("date", "number")
                and self._same_claim(top_c, c)
                and not any(values_agree(s, sp, x.text, c.text) for x, s in out)
            ):
                out.append((c, sp))
        return out

    def translates(self, generator: Generator | None) -> bool:
        """Whether ``generator`` would be asked for English at all (not when its floors show nothing)."""
        return (
            generator is not None
            and not translator_for(generator, self.embedder, self.settings).withholds_all
        )

    def needs_translation(self, answer: Answer) -> bool:
        return answer.language == "en" and any(
            detect_language(s.quote) == "ar" and not (s.translation or s.facts) for s in answer.sources
        )

    def translate(self, answer: Answer, translator: Generator | None = None) -> Answer:
        """Add checked English renderings of Arabic quotes (or say why there are none)."""
        if self.needs_translation(answer):
            answer.notices.extend(self._translate(answer, translator or self.translator))
            answer.answer = answer_text(answer)
        return answer

    def _same_claim(self, a: Candidate, b: Candidate) -> bool:
        """Two sentences say the same thing (so different values in them are a real disagreement)."""
        va, vb = (self._sentence_vecs[(c.hit.doc_id, c.start, c.end)] for c in (a, b))
        return float(va @ vb) >= self.settings.disagree_similarity

    def _translate(self, answer: Answer, generator: Generator | None) -> list[str]:
        """English renderings of Arabic quotes (facts locked, checked), or each quote's key facts in English.
        A long quote is rendered only in the clause that carries the answer (``answer_unit``)."""
        translator = translator_for(generator, self.embedder, self.settings)
        notices = (
            [
                f"No English translation: translations by {generator.label} are not faithful often enough "
                "to be shown (docs/translation.md); each Arabic quote is followed by its key facts in English."
            ]
            if generator and translator.withholds_all
            else [
                f"English renderings are machine translations by {generator.label}: dates, numbers and names "
                "are rendered by rule, not by the model, and each rendering is checked against the quote; the "
                "checks hold the facts, not every nuance of meaning, so the Arabic quote stays beside it."
            ]
            if generator
            else [
                "No generator is configured (set ISNAD_GENERATOR=local or ISNAD_LLM_BASE_URL): "
                "each Arabic quote is followed by its key facts in English, not a translation."
            ]
        )
        for s in answer.sources:
            if detect_language(s.quote) != "ar":
                continue
            ref = dt.date.fromisoformat(s.date) if s.date else None
            unit = answer_unit(s, answer)
            try:
                t = translator.translate(unit, "en", ref)
            except GeneratorUnavailable as e:
                notices.append(f"No translation: {e}")
                generator = translator.generator = None
                t = translator.translate(unit, "en", ref)
            s.translation, s.translation_note = t.text, (t.note or None) if generator else None
            s.translated = unit if unit != s.quote and t.text else None
            s.facts = t.facts if unit == s.quote else key_facts(s.quote, ref, translator.lexicon)
        return notices


def answer_unit(s: Source, answer: Answer) -> str:
    """The part of a quote an English reader is given in English: the whole quote when it is short, else
    the clause holding the short answer, or the clause sharing most words with the question."""
    pieces, at = [], 0
    for clause, _ in clauses(s.quote, long_sentence=SMALL_UNITS):
        start = s.quote.find(clause, at)
        pieces.append((start, clause))
        at = start + len(clause)
    if len(pieces) == 1:
        return s.quote
    short = answer.short or answer.withheld_short
    if short is not None and short.n == s.n:
        for start, clause in pieces:
            if start <= short.start - s.start < start + len(clause):
                return clause
    asked = set(bm25_tokens(answer.question))
    return max(pieces, key=lambda p: len(asked & set(bm25_tokens(p[1]))))[1]


def _unit_match(question: str, sp: Span) -> float:
    """1 when a count's noun is the one the question counts, 0 when it is another, 0.5 when that cannot be
    told (not a count, no noun on either side, or an English question whose noun is not rendered alike)."""
    counted = counted_terms(question)
    if sp.kind != "number" or not counted or len(sp.text.split()) < 2:
        return 0.5
    if unit_matches(sp, counted):
        return 1.0
    return 0.5 if detect_language(question) != detect_language(sp.text) else 0.0


def _known_parts(value: str) -> int:
    """How much of a date value is known: 3 for "2021-07-26", 2 for "2021-07", 1 for "?-07"."""
    return sum(1 for part in value.split("-") if part and "?" not in part)


def _fullest_first(found: list[tuple[Candidate, Span]]) -> list[tuple[Candidate, Span]]:
    """A near quote that gives the same date more fully leads: "26 July 2021" [2] answers, not «يوليو
    الماضي» [1] (last July, in an undated article). Only a compatible date can take the lead."""
    top_c, top = found[0]
    fuller = [
        (c, sp)
        for c, sp in found[1:]
        if dates_compatible(top.value, sp.value) and _known_parts(sp.value) > _known_parts(top.value)
    ]
    if not fuller:
        return found
    best = max(fuller, key=lambda x: _known_parts(x[1].value))
    return [best] + [x for x in found if x is not best]


def short_answer_line(
    spans: list[tuple[Candidate, Span]], picked: list[Candidate], sources: list[Source], lang: str
) -> ShortAnswer | None:
    """The direct answer line, in ``lang``; several values with their sources when the articles disagree."""
    if not spans:
        return None
    number_of = {id(c): s.n for c, s in zip(picked, sources)}
    c, sp = spans[0]
    n = number_of[id(c)]
    if len(spans) == 1:
        return ShortAnswer(
            sp.kind, f"**{sp.render[lang]}** [{n}]", n, sp.text, sp.start, sp.end, value=sp.render[lang]
        )
    rows = [
        {
            "n": number_of[id(x)],
            "text": s.render[lang],
            "span": s.text,
            "start": s.start,
            "end": s.end,
            "outlet": x.hit.outlet,
            "date": x.hit.date,
        }
        for x, s in spans
    ]
    head = "**المصادر مختلفة:**" if lang == "ar" else "**The sources differ:**"
    body = "; ".join(
        f"{r['text']} [{r['n']}] ({', '.join(x for x in (r['outlet'], r['date']) if x) or 'undated'})"
        for r in rows
    )
    return ShortAnswer(
        sp.kind, f"{head} {body}", n, sp.text, sp.start, sp.end, disagreement=rows, value=sp.render[lang]
    )
