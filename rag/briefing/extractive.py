"""Bilingual briefings: key points, a timeline and who said what, every line a cited sentence.

The extractive engine (offline default) ranks article sentences by centrality,
informativeness and position, merges facts the articles repeat into one line that
cites every source, and never writes a word the articles do not contain. The other
language's column is a labelled, checked machine translation when a generator is
configured; without one it says so and lists the line's numbers, dates and names.
With a generator, a map step has the model write cited bullets per article; each
bullet is verified like an answer, and the reduce step merges repeats across articles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from rag.briefing.briefing import (
    LANGS,
    LENGTHS,
    MIN_WORDS,
    SECTION_TITLES,
    Briefing,
    Line,
    Numbering,
    Section,
    Sentence,
    head_of,
    line_of,
    speaker_of,
)
from rag.briefing.grouping import PRECISION, SAME_FACT_WITH_NUMBERS, diverse, group_score, merge_repeats
from rag.config import Settings
from rag.errors import BriefingError, GeneratorUnavailable
from rag.models.embedder import Embedder
from rag.models.llm import Generator
from rag.retrieval.hybrid import Searcher
from rag.text.arabic import detect_language, sentence_spans
from rag.text.dates import DateMention, find_dates, reference_date
from rag.text.lexicon import Lexicon, lexicon_for
from rag.translation.translator import translator_for
from rag.types import Document, Filters
from rag.verification.facts import numbers

TOPIC_CHUNKS = 24  # passages a topic briefing draws on, across articles
_NO_MT = "No machine translation is available"
_MT = "Translations are machine translations"


class ExtractiveBriefer:
    """Briefings made only of article sentences, each cited."""

    name = "extractive"

    def __init__(
        self, searcher: Searcher, embedder: Embedder, settings: Settings, translator: Generator | None = None
    ):
        self.searcher = searcher
        self.embedder = embedder
        self.settings = settings
        self.translator = translator
        self._vecs: dict[tuple[str, int, int], np.ndarray] = {}

    # ------------------------------------------------------------ scope

    def resolve_articles(self, refs: list[str]) -> list[Document]:
        """Document ids, file names or paths (as `isnad brief --article` accepts them)."""
        docs = self.searcher.documents()
        out = []
        for ref in refs:
            found = docs.get(ref) or next(
                (
                    d
                    for d in docs.values()
                    if d.source == ref
                    or d.source.endswith("/" + ref)
                    or d.source.rsplit("/", 1)[-1].startswith(ref)
                ),
                None,
            )
            if found is None:
                raise BriefingError(f"no indexed article matches '{ref}'; see `isnad info` for ids and files")
            if found not in out:
                out.append(found)
        return out

    def _pool(self, docs: list[Document], topic: str | None, within: bool = False) -> list[Sentence]:
        """Candidate sentences; for a topic, of the articles its best passages come from (among ``docs``
        only, ``within``); relevance then weighs every sentence."""
        if topic:
            only = Filters(doc_ids=frozenset(d.doc_id for d in docs)) if within else None
            hits = self.searcher.search(
                topic, k=TOPIC_CHUNKS, mode=self.settings.retrieval_mode, filters=only
            )
            docs = [self.searcher.document(d) for d in dict.fromkeys(h.doc_id for h in hits)]
        pool = []
        for doc in docs:
            ref, inferred = _reference(doc)  # once per article: inferring it reads the whole body
            sents = [(a, b) for p0, p1 in doc.paragraphs for a, b in sentence_spans(doc.text, p0, p1)]
            sents = [
                (a, b)
                for a, b in sents
                if len(doc.text[a:b].split()) >= MIN_WORDS
                and doc.text[a:b].strip() != (doc.title or "").strip()
            ]
            for i, (a, b) in enumerate(sents):
                text = doc.text[a:b]
                pool.append(
                    Sentence(
                        doc,
                        a,
                        b,
                        1.0 / (1.0 + i) ** 0.5,
                        _dates(text, ref, inferred),
                        inferred,
                        speaker_of(text),
                    )
                )
        return pool

    def ranked(self, docs: list[Document], topic: str | None, within: bool = False) -> list[Sentence]:
        """Every candidate sentence of the scope, embedded and scored (the briefing's raw material)."""
        pool = self._pool(docs, topic, within)
        if pool:
            self._embed(pool)
            self._score(pool, topic)
        return pool

    def _embed(self, pool: list[Sentence]) -> None:
        todo = [s for s in pool if (s.doc.doc_id, s.start, s.end) not in self._vecs]
        if todo:
            vecs = self.embedder.embed_documents([s.text for s in todo], [s.doc.title for s in todo])
            for s, v in zip(todo, vecs):
                self._vecs[(s.doc.doc_id, s.start, s.end)] = v
        for s in pool:
            s.vec = self._vecs[(s.doc.doc_id, s.start, s.end)]

    def _score(self, pool: list[Sentence], topic: str | None) -> None:
        """Centrality (similarity to the rest), informativeness, position, and topic relevance."""
        m = np.stack([s.vec for s in pool])
        sims = m @ m.T
        n = len(pool)
        central = (sims.sum(1) - 1) / max(n - 1, 1)
        central = (central - central.min()) / (np.ptp(central) or 1)
        rel = np.zeros(n)
        if topic:
            rel = m @ self.embedder.embed_queries([topic])[0]
            for s, r in zip(pool, rel):
                s.relevance = float(r)
            rel = (rel - rel.min()) / (np.ptp(rel) or 1)
        lexicon = lexicon_for(self.settings)
        for i, s in enumerate(pool):
            info = (
                bool(s.dates) + bool(numbers(s.text)) + bool(lexicon.in_text(s.text)) + bool(s.speaker)
            ) / 4
            parts = (
                (0.4 * central[i] + 0.3 * info + 0.3 * s.position)
                if not topic
                else (0.45 * rel[i] + 0.2 * central[i] + 0.2 * info + 0.15 * s.position)
            )
            s.score = float(parts)

    # ------------------------------------------------------------ sections

    def brief(
        self,
        articles: list[str] | None = None,
        topic: str | None = None,
        lang: str = "both",
        length: str = "medium",
        translate: bool = True,
    ) -> Briefing:
        """The briefing; ``translate=False`` returns at once and leaves translations to ``translate()``."""
        docs, pool = self.scope(articles, topic, lang, length)
        return self.compose(docs, pool, topic, lang, length, translate)

    def scope(
        self, articles: list[str] | None, topic: str | None, lang: str, length: str
    ) -> tuple[list[Document], list[Sentence]]:
        """Check the request, then the articles it covers and their ranked sentences."""
        if lang not in LANGS:
            raise BriefingError(f"unknown language '{lang}'; use ar, en or both")
        if length not in LENGTHS:
            raise BriefingError(f"unknown length '{length}'; use short, medium or long")
        if topic is not None and not topic.strip():
            raise BriefingError("the topic is empty")
        if topic and len(topic) > self.settings.max_question_chars:
            raise BriefingError(f"the topic is longer than {self.settings.max_question_chars} characters")
        docs = self.resolve_articles(articles) if articles else list(self.searcher.documents().values())
        if not docs:
            raise BriefingError("the index has no articles yet; add some first")
        return docs, self.ranked(docs, topic, within=bool(articles))

    def compose(
        self,
        docs: list[Document],
        pool: list[Sentence],
        topic: str | None,
        lang: str,
        length: str,
        translate: bool = True,
    ) -> Briefing:
        """Key points, timeline and statements from a ranked pool; each sentence shown once."""
        scope = "topic" if topic else ("article" if len(docs) == 1 else "articles")
        subject = topic or (
            docs[0].title or docs[0].source
            if len(docs) == 1
            else f"{len(docs)} articles ({', '.join(d.outlet or d.source.rsplit('/', 1)[-1] for d in docs)})"
        )
        if not pool:
            return Briefing(
                scope, subject, lang, length, self.name, [], ["No sentences found for this scope."]
            )
        if topic and (why := self.uncovered(topic, pool)):
            briefing = self._coverage(topic, why, lang, length)
            self.translate(briefing, self.translator if translate else None)
            return briefing
        n_key, n_time, n_said = LENGTHS[length]
        numbering = Numbering()
        groups = sorted(merge_repeats(sorted(pool, key=lambda s: -s.score)), key=lambda g: -group_score(g))
        key_groups = diverse(groups, n_key)
        key = [line_of(g, numbering) for g in key_groups]
        shown = {head_of(line): f"key_points:{i}" for i, line in enumerate(key, start=1)}
        # more articles, more events
        timeline = self._timeline(groups, n_time + len({s.doc.doc_id for s in pool}) - 1, numbering)
        # a dated key point: the timeline gives its date and points to it
        for i, line in enumerate(timeline, start=1):
            line.see = shown.get(head_of(line))
            shown.setdefault(head_of(line), f"timeline:{i}")
        said = [
            line_of(g, numbering, speaker=g[0].speaker)
            for g in groups
            if g[0].speaker and (g[0].doc.doc_id, g[0].start) not in shown
        ][:n_said]
        sections = [
            Section(name, SECTION_TITLES[name], lines)
            for name, lines in (("key_points", key), ("timeline", timeline), ("statements", said))
            if lines
        ]
        briefing = Briefing(
            scope, subject, lang, length, self.name, sections, doc_ids=[d.doc_id for d in docs]
        )
        briefing.notices.extend(_date_notices(docs))
        self.translate(briefing, self.translator if translate else None)
        return briefing

    def uncovered(self, topic: str, pool: list[Sentence]) -> str:
        """Why the articles do not cover ``topic`` ("" when they do).

        The closest sentence must clear the coverage floor (fitted on SQuAD article titles with and
        without their article, see rag/evaluation/coverage.py), and every name the topic gives must
        occur in the articles, as an answer's evidence must.
        """
        best = max(pool, key=lambda s: s.relevance)
        same = detect_language(topic) == detect_language(best.text)
        floor = self.settings.topic_floor if same else self.settings.topic_floor_cross
        if best.relevance < floor:
            return f"no sentence is close to it (best similarity {best.relevance:.2f}, floor {floor:.2f})"
        asked = Lexicon(lexicon_for(self.settings).in_text(topic))  # only the topic's names need looking for
        found = {n for s in pool for n in asked.in_text(s.text)} if asked.names else set()
        missing = [n.label for n in asked.names if n not in found]
        return f"they never mention {', '.join(missing)}" if missing else ""

    def _coverage(self, topic: str, why: str, lang: str, length: str) -> Briefing:
        """The no-coverage briefing: says so, then each article's lead sentence (what the corpus is about)."""
        docs = list(self.searcher.documents().values())[: LENGTHS[length][1]]
        numbering = Numbering()
        leads = [p for d in docs for p in self._pool([d], None)[:1]]
        lines = [line_of([s], numbering) for s in leads]
        notices = [
            f"The articles do not cover this topic: {why}. Below is what they do cover.",
            "لا تتناول المقالات هذا الموضوع. وفيما يلي ما تتناوله.",
        ]
        sections = [Section("coverage", SECTION_TITLES["coverage"], lines)] if lines else []
        return Briefing(
            "topic",
            topic,
            lang,
            length,
            self.name,
            sections,
            notices,
            [d.doc_id for d in docs],
            covered=False,
        )

    def _timeline(self, groups: list[list[Sentence]], limit: int, numbering: Numbering) -> list[Line]:
        """Dated events, the most important first, then shown in date order.

        A sentence gives one event (its most precise date) plus any deadline it states
        ("by the end of 2021"); the same date and fact from several articles is one line.
        """
        events: list[tuple[float, DateMention, list[Sentence]]] = []
        for g in groups:
            mentions = g[0].dates
            if not mentions:
                continue
            best = min(mentions, key=lambda m: (PRECISION[m.precision], m.relative, m.start))
            chosen = [best] + [m for m in mentions if m.edge == "end" and m is not best]
            for m in chosen:
                bonus = 0.15 * (2 - PRECISION[m.precision]) + (0.2 if m.edge == "end" else -0.1 * m.relative)
                events.append((group_score(g) + bonus, m, g))  # precise dates and deadlines first
        kept: list[tuple[float, DateMention, list[Sentence]]] = []
        for score, m, g in sorted(events, key=lambda e: -e[0]):
            twin = next(
                (
                    k
                    for k in kept
                    if k[1].label == m.label and float(k[2][0].vec @ g[0].vec) >= SAME_FACT_WITH_NUMBERS
                ),
                None,
            )
            if twin is None:
                kept.append((score, m, list(g)))
            else:  # the same dated fact in another article: cite it too
                twin[2].extend(s for s in g if s.doc.doc_id not in {x.doc.doc_id for x in twin[2]})
        picked = sorted(kept[:limit], key=lambda e: (e[1].sort_date, PRECISION[e[1].precision]))
        return [
            line_of(
                g, numbering, when=m.label + (" (year inferred)" if m.relative and g[0].ref_inferred else "")
            )
            for _, m, g in picked
        ]

    def translate(
        self,
        briefing: Briefing,
        generator: Generator | None,
        on_line: Callable[[int, int], None] | None = None,
    ) -> Briefing:
        """Fill the other language's column: fact-locked, checked machine translations, else each line's key facts.
        Lines are filled in place, one by one (``on_line(done, total)`` after each), so a caller can show
        them as they come."""
        lines = [
            line
            for line in briefing.lines()
            if briefing.lang != line.language and not line.translated and not line.see
        ]
        if not lines:
            return briefing
        translator = translator_for(generator, self.embedder, self.settings)
        briefing.notices = [n for n in briefing.notices if not n.startswith((_NO_MT, _MT))]
        failed = None
        for i, line in enumerate(lines, start=1):
            target, ref = ("en" if line.language == "ar" else "ar"), self._ref(line)
            try:
                t = translator.translate(line.text, target, ref)
            except GeneratorUnavailable as e:
                failed, translator.generator = str(e), None
                t = translator.translate(line.text, target, ref)
            line.translation, line.facts = t.text, t.facts
            line.translation_note = (t.note or None) if translator.generator else None
            if on_line:
                on_line(i, len(lines))
        if translator.generator and translator.withholds_all:
            briefing.notices.append(
                f"{_NO_MT} into English: translations by {translator.label} are not faithful often "
                "enough to be shown (docs/translation.md). The other column gives each line's key facts "
                "(dates, numbers, names) in English, not a translation."
            )
        elif translator.generator:
            briefing.notices.append(
                f"{_MT} by {translator.label}: dates, numbers and names are rendered by rule, "
                "never by the model, and each line is checked against the original; a line "
                "that fails shows its key facts instead. The checks hold the facts, not every "
                "nuance of meaning: read the original beside it."
            )
        else:
            why = (
                f": {failed}"
                if failed
                else " (no generator is configured; set ISNAD_GENERATOR=local or ISNAD_LLM_BASE_URL)"
            )
            briefing.notices.append(
                f"{_NO_MT}{why}. The other column gives each line's key facts (dates, numbers, "
                "names) in English, not a translation."
            )
        return briefing

    def _ref(self, line: Line) -> dt.date | None:
        """The date the line's relative dates refer to: its first source article's."""
        doc = self.searcher.document(line.sources[0].doc_id) if line.sources else None
        return _reference(doc)[0] if doc else None


# ---------------------------------------------------------------- helpers


def _reference(doc: Document) -> tuple[dt.date | None, bool]:
    """The date relative expressions refer to: the article's, else its latest full date (inferred)."""
    return reference_date(doc.date, doc.body())


def _dates(text: str, ref: dt.date | None, inferred: bool) -> list[DateMention]:
    """Resolved dates of a sentence; weekday-only ones need a real article date, not an inferred one."""
    return [
        m for m in find_dates(text, ref) if m.date is not None and not (inferred and m.note == "from weekday")
    ]


def _date_notices(docs: list[Document]) -> list[str]:
    notes = []
    for d in docs:
        if not d.date:
            ref, inferred = _reference(d)
            how = (
                f"its relative dates were resolved against its latest full date, {ref}"
                if inferred
                else "its relative dates are left out of the timeline"
            )
            notes.append(f"'{d.title or d.source}' has no publication date; {how}.")
    return notes


# ---------------------------------------------------------------- markdown
