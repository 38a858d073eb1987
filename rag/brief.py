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
import re
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from rag.answer import Cited
from rag.lexicon import Lexicon, lexicon_for
from rag.prompts import load_prompt
from rag.translate import KEY_FACTS_LABEL, reader_note, translator_for
from rag.config import Settings
from rag.dates import DateMention, find_dates, reference_date
from rag.escape import md_escape
from rag.ingest import Document
from rag.llm import Generator, GeneratorUnavailable
from rag.models import Embedder
from rag.retrieve import Searcher
from rag.text_ar import detect_language, normalize_ar, sentence_spans
from rag.verify import numbers, verify_citations

LENGTHS = {"short": (3, 6, 3), "medium": (6, 10, 5), "long": (10, 16, 8)}  # key points, timeline, statements
LANGS = ("ar", "en", "both")
MIN_WORDS = 6
TOPIC_CHUNKS = 24  # passages a topic briefing draws on, across articles
MMR_PENALTY = 0.3  # key points: score minus this times the similarity to points already chosen
SAME_FACT = 0.86  # cosine above which two sentences state the same fact
SAME_FACT_WITH_NUMBERS = 0.6  # ... or lower, when they share at least two numbers
_NO_MT = "No machine translation is available"
_MT = "Translations are machine translations"
SECTION_TITLES = {
    "key_points": {"en": "Key points", "ar": "النقاط الرئيسية"},
    "timeline": {"en": "Timeline", "ar": "التسلسل الزمني"},
    "statements": {"en": "Who said what", "ar": "من قال ماذا"},
    "coverage": {"en": "What the articles cover", "ar": "ما تغطيه المقالات"},
}
SEE = {"key_points": {"en": "see key point {i}", "ar": "انظر النقطة الرئيسية {i}"},
       "timeline": {"en": "see timeline entry {i}", "ar": "انظر البند {i} من التسلسل الزمني"}}
_SPEECH_AR = ("قال", "قالت", "أكد", "أكدت", "أعلن", "أعلنت", "صرح", "صرحت", "أوضح", "أوضحت", "أضاف", "أضافت",
              "ذكر", "ذكرت", "أشار", "أشارت", "اعتبر", "اعتبرت", "رحب", "رحبت", "شدد", "شددت", "دعا", "أفاد",
              "أفادت", "هدد", "هددت", "طالب", "طالبت", "نفى", "نفت")
_SPEECH_AR_RE = re.compile(r"(?:^|[\s،,])و?(?:" + "|".join(normalize_ar(v) for v in _SPEECH_AR) + r")\s+(?P<rest>.+)")
_SPEAKER_STOP = {normalize_ar(w) for w in (
    "إن", "إنه", "إنها", "أن", "أنه", "بأن", "في", "عبر", "خلال", "على", "عن", "يوم", "اليوم", "أمس", "من",
    "إلى", "الى", "لـ", "بيان", "مؤتمر", "تصريح", "تصريحات", "لوسائل", "إلى", "السبت", "الأحد", "الاثنين",
    "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "ان", "انه")}
_SPEECH_EN_RE = re.compile(r"(?P<who>(?:[A-Z][\w'.-]+\s?){1,5}) (?:said|says|told|announced|stated|added)\b"
                           r"|\b(?:said|says|told|announced|stated|added),? (?P<who2>(?:[A-Z][\w'.-]+\s?){1,5})")


@dataclass
class Line:
    text: str  # as shown: the quoted sentence (extractive) or a verified generated bullet
    language: str
    sources: list[Cited]
    translated: bool = False  # True when ``text`` itself is machine-generated
    translation: str | None = None  # into the other language; machine translation, labelled
    translation_note: str | None = None
    facts: str = ""  # the line's dates, quantities and names in English ("key facts"), for when there is no translation
    when: str | None = None  # timeline: normalised date label
    speaker: str | None = None  # who said what
    see: str | None = None  # "key_points:2": the sentence is shown there already, so this line points to it


def see_label(line: Line, lang: str) -> str:
    """How a line that repeats an earlier one points to it ("see key point 2"), in ``lang``."""
    section, i = (line.see or ":").split(":")
    return SEE[section][lang].format(i=i)


@dataclass
class Section:
    name: str
    title: dict[str, str]
    lines: list[Line]


@dataclass
class Briefing:
    scope: str  # 'article', 'articles' or 'topic'
    subject: str  # titles or the topic query
    lang: str
    length: str
    engine: str
    sections: list[Section]
    notices: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    covered: bool = True  # False: a topic the articles do not cover (the sections say what they do cover)

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[Line]:
        return [line for s in self.sections for line in s.lines]

    def to_markdown(self) -> str:
        return render_markdown(self)


@dataclass
class _Sentence:
    doc: Document
    start: int
    end: int
    position: float  # 1.0 for an article's first sentence, falling after
    dates: list[DateMention]  # resolved against the article's reference date
    ref_inferred: bool  # that reference was inferred (the article has no date)
    speaker: str | None
    vec: np.ndarray | None = None
    score: float = 0.0
    relevance: float = 0.0  # cosine to the topic, before scaling: how far the corpus covers it at all

    @property
    def text(self) -> str:
        return self.doc.text[self.start:self.end]


class BriefingError(ValueError):
    """The briefing cannot be made as asked; the message says why."""


class ExtractiveBriefer:
    """Briefings made only of article sentences, each cited."""

    name = "extractive"

    def __init__(self, searcher: Searcher, embedder: Embedder, settings: Settings, translator: Generator | None = None):
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
            found = docs.get(ref) or next((d for d in docs.values() if d.source == ref or d.source.endswith("/" + ref)
                                           or d.source.rsplit("/", 1)[-1].startswith(ref)), None)
            if found is None:
                raise BriefingError(f"no indexed article matches '{ref}'; see `isnad info` for ids and files")
            if found not in out:
                out.append(found)
        return out

    def _pool(self, docs: list[Document], topic: str | None) -> list[_Sentence]:
        if topic:  # the articles the topic's best passages come from; relevance then weighs every sentence
            hits = self.searcher.search(topic, k=TOPIC_CHUNKS, mode=self.settings.retrieval_mode)
            docs = [self.searcher.document(d) for d in dict.fromkeys(h.doc_id for h in hits)]
        pool = []
        for doc in docs:
            ref, inferred = _reference(doc)  # once per article: inferring it reads the whole body
            sents = [(a, b) for p0, p1 in doc.paragraphs for a, b in sentence_spans(doc.text, p0, p1)]
            sents = [(a, b) for a, b in sents if len(doc.text[a:b].split()) >= MIN_WORDS
                     and doc.text[a:b].strip() != (doc.title or "").strip()]
            for i, (a, b) in enumerate(sents):
                text = doc.text[a:b]
                pool.append(_Sentence(doc, a, b, 1.0 / (1.0 + i) ** 0.5, _dates(text, ref, inferred), inferred,
                                      speaker_of(text)))
        return pool

    def ranked(self, docs: list[Document], topic: str | None) -> list[_Sentence]:
        """Every candidate sentence of the scope, embedded and scored (the briefing's raw material)."""
        pool = self._pool(docs, topic)
        if pool:
            self._embed(pool)
            self._score(pool, topic)
        return pool

    def _embed(self, pool: list[_Sentence]) -> None:
        todo = [s for s in pool if (s.doc.doc_id, s.start, s.end) not in self._vecs]
        if todo:
            vecs = self.embedder.embed_documents([s.text for s in todo], [s.doc.title for s in todo])
            for s, v in zip(todo, vecs):
                self._vecs[(s.doc.doc_id, s.start, s.end)] = v
        for s in pool:
            s.vec = self._vecs[(s.doc.doc_id, s.start, s.end)]

    def _score(self, pool: list[_Sentence], topic: str | None) -> None:
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
            info = (bool(s.dates) + bool(numbers(s.text)) + bool(lexicon.in_text(s.text)) + bool(s.speaker)) / 4
            parts = (0.4 * central[i] + 0.3 * info + 0.3 * s.position) if not topic else \
                (0.45 * rel[i] + 0.2 * central[i] + 0.2 * info + 0.15 * s.position)
            s.score = float(parts)

    # ------------------------------------------------------------ sections

    def brief(self, articles: list[str] | None = None, topic: str | None = None, lang: str = "both",
              length: str = "medium", translate: bool = True) -> Briefing:
        """The briefing; ``translate=False`` returns at once and leaves translations to ``translate()``."""
        docs, pool = self.scope(articles, topic, lang, length)
        return self.compose(docs, pool, topic, lang, length, translate)

    def scope(self, articles: list[str] | None, topic: str | None, lang: str,
              length: str) -> tuple[list[Document], list[_Sentence]]:
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
        return docs, self.ranked(docs, topic)

    def compose(self, docs: list[Document], pool: list[_Sentence], topic: str | None, lang: str, length: str,
                translate: bool = True) -> Briefing:
        """Key points, timeline and statements from a ranked pool; each sentence shown once."""
        scope = "topic" if topic else ("article" if len(docs) == 1 else "articles")
        subject = topic or (docs[0].title or docs[0].source if len(docs) == 1 else
                            f"{len(docs)} articles ({', '.join(d.outlet or d.source.rsplit('/', 1)[-1] for d in docs)})")
        if not pool:
            return Briefing(scope, subject, lang, length, self.name, [], ["No sentences found for this scope."])
        if topic and (why := self.uncovered(topic, pool)):
            briefing = self._coverage(topic, why, lang, length)
            self.translate(briefing, self.translator if translate else None)
            return briefing
        n_key, n_time, n_said = LENGTHS[length]
        numbering = _Numbering()
        groups = sorted(_merge_repeats(sorted(pool, key=lambda s: -s.score)), key=lambda g: -_group_score(g))
        key_groups = _diverse(groups, n_key)
        key = [_line(g, numbering) for g in key_groups]
        shown = {_head(line): f"key_points:{i}" for i, line in enumerate(key, start=1)}
        timeline = self._timeline(groups, n_time + len({s.doc.doc_id for s in pool}) - 1, numbering)  # more articles, more events
        for i, line in enumerate(timeline, start=1):  # a dated key point: the timeline gives its date and points to it
            line.see = shown.get(_head(line))
            shown.setdefault(_head(line), f"timeline:{i}")
        said = [_line(g, numbering, speaker=g[0].speaker) for g in groups
                if g[0].speaker and (g[0].doc.doc_id, g[0].start) not in shown][:n_said]
        sections = [Section(name, SECTION_TITLES[name], lines)
                    for name, lines in (("key_points", key), ("timeline", timeline), ("statements", said)) if lines]
        briefing = Briefing(scope, subject, lang, length, self.name, sections, doc_ids=[d.doc_id for d in docs])
        briefing.notices.extend(_date_notices(docs))
        self.translate(briefing, self.translator if translate else None)
        return briefing

    def uncovered(self, topic: str, pool: list[_Sentence]) -> str:
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
        docs = list(self.searcher.documents().values())[:LENGTHS[length][1]]
        numbering = _Numbering()
        leads = [p for d in docs for p in self._pool([d], None)[:1]]
        lines = [_line([s], numbering) for s in leads]
        notices = [f"The articles do not cover this topic: {why}. Below is what they do cover.",
                   "لا تتناول المقالات هذا الموضوع. وفيما يلي ما تتناوله."]
        sections = [Section("coverage", SECTION_TITLES["coverage"], lines)] if lines else []
        return Briefing("topic", topic, lang, length, self.name, sections, notices, [d.doc_id for d in docs],
                        covered=False)

    def _timeline(self, groups: list[list[_Sentence]], limit: int, numbering: "_Numbering") -> list[Line]:
        """Dated events, the most important first, then shown in date order.

        A sentence gives one event (its most precise date) plus any deadline it states
        ("by the end of 2021"); the same date and fact from several articles is one line.
        """
        events: list[tuple[float, DateMention, list[_Sentence]]] = []
        for g in groups:
            mentions = g[0].dates
            if not mentions:
                continue
            best = min(mentions, key=lambda m: (_PRECISION[m.precision], m.relative, m.start))
            chosen = [best] + [m for m in mentions if m.edge == "end" and m is not best]
            for m in chosen:
                bonus = 0.15 * (2 - _PRECISION[m.precision]) + (0.2 if m.edge == "end" else -0.1 * m.relative)
                events.append((_group_score(g) + bonus, m, g))  # precise dates and deadlines first
        kept: list[tuple[float, DateMention, list[_Sentence]]] = []
        for score, m, g in sorted(events, key=lambda e: -e[0]):
            twin = next((k for k in kept if k[1].label == m.label
                         and float(k[2][0].vec @ g[0].vec) >= SAME_FACT_WITH_NUMBERS), None)
            if twin is None:
                kept.append((score, m, list(g)))
            else:  # the same dated fact in another article: cite it too
                twin[2].extend(s for s in g if s.doc.doc_id not in {x.doc.doc_id for x in twin[2]})
        picked = sorted(kept[:limit], key=lambda e: (e[1].sort_date, _PRECISION[e[1].precision]))
        return [_line(g, numbering, when=m.label + (" (year inferred)" if m.relative and g[0].ref_inferred else ""))
                for _, m, g in picked]

    def translate(self, briefing: Briefing, generator: Generator | None,
                  on_line: Callable[[int, int], None] | None = None) -> Briefing:
        """Fill the other language's column: fact-locked, checked machine translations, else each line's key facts.
        Lines are filled in place, one by one (``on_line(done, total)`` after each), so a caller can show them as they come."""
        lines = [line for line in briefing.lines()
                 if briefing.lang != line.language and not line.translated and not line.see]
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
        if translator.generator:
            briefing.notices.append(f"{_MT} by {translator.label}: dates, numbers and names are rendered by rule, "
                                    "never by the model, and each line is checked against the original; a line "
                                    "that fails shows its key facts instead. The checks hold the facts, not every "
                                    "nuance of meaning: read the original beside it.")
        else:
            why = f": {failed}" if failed else " (no generator is configured; set ISNAD_GENERATOR=local or ISNAD_LLM_BASE_URL)"
            briefing.notices.append(f"{_NO_MT}{why}. The other column gives each line's key facts (dates, numbers, "
                                    "names) in English, not a translation.")
        return briefing

    def _ref(self, line: Line) -> dt.date | None:
        """The date the line's relative dates refer to: its first source article's."""
        doc = self.searcher.document(line.sources[0].doc_id) if line.sources else None
        return _reference(doc)[0] if doc else None


class GenerativeBriefer:
    """Map: the model writes cited bullets per article. Reduce: verified bullets, repeats merged."""

    def __init__(self, extractive: ExtractiveBriefer, generator: Generator, settings: Settings):
        self.extractive = extractive
        self.generator = generator
        self.settings = settings

    @property
    def name(self) -> str:
        return f"generative: {self.generator.label}"

    def brief(self, articles: list[str] | None = None, topic: str | None = None, lang: str = "both",
              length: str = "medium") -> Briefing:
        docs, pool = self.extractive.scope(articles, topic, lang, length)
        base = self.extractive.compose(docs, pool, topic, lang, length, translate=False)  # timeline, statements, fallback
        if not base.sections or not base.covered:
            return self.extractive.translate(base, self.generator)
        n_key = LENGTHS[length][0]
        langs = ["ar", "en"] if lang == "both" else [lang]
        bullets: list[Line] = []
        notices = [f"Key points are machine-generated by {self.generator.label} from the numbered sentences, "
                   "and every bullet was checked against the sentence it cites; unsupported bullets were dropped."]
        try:
            for doc_id in base.doc_ids:  # map
                sents = sorted((s for s in pool if s.doc.doc_id == doc_id), key=lambda s: -s.score)[:12]
                for out_lang in langs:
                    bullets.extend(self._map(sents, out_lang, n_key))
        except GeneratorUnavailable as e:
            base.notices.insert(0, f"The generator could not write the briefing ({e}); showing the extractive one.")
            return self.extractive.translate(base, None)
        kept = _reduce(bullets, self.extractive.embedder)  # reduce
        dropped = len(bullets) - len([b for b in bullets if b.sources])
        if dropped:
            notices.append(f"{dropped} generated bullet(s) dropped: their citations did not support them.")
        if not kept:
            base.notices.insert(0, "No generated bullet survived verification; showing the extractive briefing.")
            return self.extractive.translate(base, self.generator)
        numbering = _Numbering()
        for line in kept + [l for s in base.sections[1:] for l in s.lines]:
            for c in line.sources:
                c.n = numbering.number(c)
        base.sections[0] = Section("key_points", SECTION_TITLES["key_points"], kept[: n_key * len(langs)])
        for line in base.lines():  # the quoted key points are gone: the timeline shows its sentences again
            if line.see and line.see.startswith("key_points"):
                line.see = None
        base.engine = self.name
        base.notices = notices + base.notices
        return self.extractive.translate(base, self.generator)

    def _map(self, sents: list[_Sentence], lang: str, n: int) -> list[Line]:
        numbered = {i: s for i, s in enumerate(sents, start=1)}
        block = "\n".join(f"[{i}] {s.text}" for i, s in numbered.items())
        raw = self.generator.complete(load_prompt("brief", lang, sources=block, n=str(n)), max_tokens=90 * n)
        out = []
        for bullet in [b.strip(" -•*\t") for b in raw.splitlines() if b.strip(" -•*\t")]:
            check = verify_citations(bullet, {i: s.text for i, s in numbered.items()}, self.extractive.embedder,
                                     self.settings.verify_min_similarity, lexicon=lexicon_for(self.settings))
            cited = sorted({n for c in check.checks for n in c.supported})
            if check.abstained or not cited or any(c.flagged for c in check.checks):
                out.append(Line(bullet, lang, [], translated=True))  # counted as dropped
                continue
            text = re.sub(r"\s*\[\d+\]", "", check.text).strip()
            out.append(Line(text, lang, [_cited(numbered[n], 0) for n in cited], translated=True))
        return out


# ---------------------------------------------------------------- helpers


_PRECISION = {"day": 0, "month": 1, "year": 2}


def _group_score(g: list[_Sentence]) -> float:
    """A fact several articles report matters more than one only one reports."""
    return g[0].score + 0.1 * (len(g) - 1)


class _Numbering:
    """One [n] per distinct quoted sentence across the whole briefing."""

    def __init__(self):
        self.numbers: dict[tuple[str, int], int] = {}

    def number(self, c: Cited) -> int:
        return self.numbers.setdefault((c.doc_id, c.start), len(self.numbers) + 1)


def _head(line: Line) -> tuple[str, int]:
    """The sentence a line shows: its first source's."""
    return line.sources[0].doc_id, line.sources[0].start


def _cited(s: _Sentence, n: int) -> Cited:
    d = s.doc
    return Cited(n, d.doc_id, d.source, d.title, d.outlet, d.date, s.text, s.start, s.end)


def _line(group: list[_Sentence], numbering: _Numbering, when: str | None = None, speaker: str | None = None) -> Line:
    """The group's best sentence, citing every article that states the same fact."""
    sources = []
    for s in group:
        c = _cited(s, 0)
        c.n = numbering.number(c)
        sources.append(c)
    head = group[0]
    return Line(head.text, detect_language(head.text), sources, when=when, speaker=speaker)


def _diverse(groups: list[list[_Sentence]], n: int) -> list[list[_Sentence]]:
    """Maximal marginal relevance: important points that do not restate one another."""
    picked: list[list[_Sentence]] = []
    rest = list(groups)
    while rest and len(picked) < n:
        best = max(rest, key=lambda g: _group_score(g) - MMR_PENALTY * max(
            (float(g[0].vec @ p[0].vec) for p in picked), default=0.0))
        picked.append(best)
        rest.remove(best)
    return picked


def _shares_numbers(a: str, b: str) -> bool:
    return len(numbers(a) & numbers(b)) >= 2


def _merge_repeats(ranked: list[_Sentence]) -> list[list[_Sentence]]:
    """Greedy grouping in score order: a sentence joins the first group stating the same fact."""
    groups: list[list[_Sentence]] = []
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


def _reduce(bullets: list[Line], embedder: Embedder) -> list[Line]:
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
            twin.sources.extend(c for c in b.sources if (c.doc_id, c.start) not in {(x.doc_id, x.start) for x in twin.sources})
    return [b for b, _ in out]


def _reference(doc: Document) -> tuple[dt.date | None, bool]:
    """The date relative expressions refer to: the article's, else its latest full date (inferred)."""
    return reference_date(doc.date, doc.body())


def _dates(text: str, ref: dt.date | None, inferred: bool) -> list[DateMention]:
    """Resolved dates of a sentence; weekday-only ones need a real article date, not an inferred one."""
    return [m for m in find_dates(text, ref) if m.date is not None and not (inferred and m.note == "from weekday")]


def _date_notices(docs: list[Document]) -> list[str]:
    notes = []
    for d in docs:
        if not d.date:
            ref, inferred = _reference(d)
            how = f"its relative dates were resolved against its latest full date, {ref}" if inferred else \
                "its relative dates are left out of the timeline"
            notes.append(f"'{d.title or d.source}' has no publication date; {how}.")
    return notes


def speaker_of(text: str) -> str | None:
    """Who a sentence attributes its statement to (heuristic: speech verb, then the subject)."""
    folded = normalize_ar(text)
    if detect_language(text) == "ar":
        m = _SPEECH_AR_RE.search(folded)
        if not m or not re.search(r"[:«“\"]|\bان\b|\bانه\b|\bبان\b", folded[m.start("rest"):]):
            return None
        words = []
        offset = m.start("rest")
        for w in re.finditer(r"\S+", folded[offset:]):
            token = w.group().strip("،,:«“\"")
            if token in _SPEAKER_STOP or (token.startswith("ب") and token != "باسم") or len(words) >= 10:
                break
            words.append((offset + w.start(), offset + w.end()))
            if re.search(r"[،,:«“\"]$", w.group()):
                break
        if not words:
            return None
        # Same length fold: the offsets in ``folded`` are offsets in ``text``.
        return text[words[0][0]:words[-1][1]].strip("،,: «“\"") or None
    m = _SPEECH_EN_RE.search(text)
    return (m.group("who") or m.group("who2")).strip() if m else None


# ---------------------------------------------------------------- markdown


def render_markdown(b: Briefing) -> str:
    """A briefing as Markdown: sections, per-line citations, the other language, then the sources.

    Every string from an article, a file name, the topic or a model is escaped: the export shows it, never runs it.
    """
    e = md_escape
    langs = ["ar", "en"] if b.lang == "both" else [b.lang]
    title = {"ar": "موجز", "en": "Briefing"}
    out = [f"# {' / '.join(title[x] for x in langs)}: {e(b.subject)}", "",
           f"_{e(f'Scope: {b.scope} · engine: {b.engine} · length: {b.length}')}_", ""]
    out += [f"> {e(n)}" for n in b.notices] + ([""] if b.notices else [])
    sources: dict[int, Cited] = {}
    for s in b.sections:
        out += [f"## {' / '.join(s.title[x] for x in langs)}", ""]
        for line in s.lines:
            marks = "".join(f"\\[{c.n}\\]" for c in line.sources)
            sources.update({c.n: c for c in line.sources})
            lead = f"**{e(line.when)}** — " if line.when else (f"**{e(line.speaker)}** — " if line.speaker else "")
            if line.see:  # shown in full above: point to it
                out.append(f"- {lead}_{e(' / '.join(see_label(line, x) for x in langs))}_ {marks}")
                continue
            out.append(f"- {lead}{text_in(line, langs[0])} {marks}")
            if len(langs) == 2:  # the other language: its own line, never inside the quote's
                out.append(f"  - {text_in(line, langs[1])}")
        out.append("")
    out += ["## Sources / المصادر", ""]
    for n in sorted(sources):  # a reference list: the sentences are quoted above, once
        c = sources[n]
        meta = ", ".join(x for x in (c.outlet, c.date) if x) or "outlet and date unknown"
        out.append(f"{n}\\. {e(c.title or c.source)} ({e(meta)}), {e(c.source.rsplit('/', 1)[-1])}, "
                   f"characters {c.start}–{c.end}")
    return "\n".join(out).rstrip() + "\n"


def text_in(line: Line, lang: str, markdown: bool = True) -> str:
    """A line as shown in one language column: original, labelled translation, or why there is none."""
    esc = md_escape if markdown else (lambda t: t)
    em = (lambda t: f"_{md_escape(t)}_") if markdown else (lambda t: t)
    label = " " + em("(machine-generated)") if line.translated else ""
    if line.language == lang:
        return (f"«{esc(line.text)}»" if not line.translated else esc(line.text)) + label
    if line.translation:
        return f"{esc(line.translation)} {em('(machine translation)')}"
    if line.facts and lang == "en":
        body = f"{em(KEY_FACTS_LABEL[lang] + ':')} {esc(line.facts)}"
    else:
        body = em("(" + ("لا تتوفر ترجمة" if lang == "ar" else "no translation available") + ")")
    return body + (f" {em('(' + reader_note(line.translation_note) + ')')}" if line.translation_note else "")
