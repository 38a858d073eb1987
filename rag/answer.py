"""Cited answers. Extractive by default (verbatim quotes, no LLM); generative when configured.

Every answer carries numbered sources whose quotes are exact substrings of the
articles (with offsets), so a reader can check each claim in one click.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from rag.config import Settings
from rag.llm import Generator, GeneratorUnavailable, Message
from rag.models import Embedder
from rag.retrieve import Filters, Hit, Searcher
from rag.text_ar import bm25_tokens, detect_language
from rag.verify import NO_ANSWER, check_translation, verify_citations

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
MIN_WORDS = 5  # shorter "sentences" are sub-headings, not answers


class QuestionError(ValueError):
    """The question cannot be asked as given; the message says why."""


@dataclass
class Cited:
    """One quoted sentence: exact substring of the article at [start, end), numbered [n]."""

    n: int
    doc_id: str
    source: str
    title: str | None
    outlet: str | None
    date: str | None
    quote: str
    start: int
    end: int


@dataclass
class Source(Cited):
    """A cited sentence in an answer, with its retrieval score and any English rendering."""

    score: float  # retrieval score of the chunk the quote came from
    translation: str | None = None  # machine translation, labelled as such wherever shown
    translation_note: str | None = None


@dataclass
class Answer:
    question: str
    language: str
    answer: str
    abstained: bool
    engine: str
    support: float
    sources: list[Source] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)  # generated sentences without support
    latency_ms: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Candidate:
    hit: Hit
    start: int
    end: int
    text: str
    score: float = 0.0
    dense: float = 0.0


def load_prompt(name: str, lang: str, **values: str) -> list[Message]:
    """Prompt files hold a [system] and a [user] part; values fill {placeholders}."""
    path = PROMPTS / f"{name}.{lang}.txt"
    if not path.exists():
        path = PROMPTS / f"{name}.en.txt"
    text = path.read_text(encoding="utf-8")
    system, user = text.split("[user]", 1)
    system = system.replace("[system]", "", 1).strip()
    return [Message("system", system), Message("user", user.strip().format(**values))]


def translate_checked(translator: Generator, text: str, target: str, embedder: Embedder, settings: Settings,
                      max_tokens: int) -> tuple[str | None, str | None]:
    """(translation, None) when the machine translation passes check_translation, else (None, why).

    Raises GeneratorUnavailable: callers decide how to say there is no translation.
    """
    out = translator.complete(load_prompt("translate", target, text=text), max_tokens=max_tokens).strip()
    problems = check_translation(text, out, embedder, settings.translation_min_similarity)
    return (None, "translation withheld: " + "; ".join(problems)) if problems else (out, None)


def question_language(question: str) -> str:
    """'ar', 'en' or 'other': Latin script without a single English function word is 'other'."""
    lang = detect_language(question)
    if lang == "en":
        words = set(re.findall(r"[a-z]+", question.lower()))
        english = {"the", "what", "when", "who", "whom", "where", "why", "how", "which", "is", "are", "was",
                   "were", "did", "does", "do", "of", "to", "in", "and", "a", "an", "many", "much", "has", "have"}
        if len(words) >= 3 and not words & english:
            return "other"
    return lang


def validate_question(question: str, settings: Settings) -> str:
    if question is None or not question.strip():
        raise QuestionError("The question is empty. / السؤال فارغ.")
    if len(question) > settings.max_question_chars:
        raise QuestionError(f"The question is {len(question)} characters long; the limit is "
                            f"{settings.max_question_chars}. Please shorten it. / السؤال أطول من الحد المسموح.")
    return question.strip()


class ExtractiveEngine:
    """Answers with the article sentences that best answer the question, quoted verbatim."""

    name = "extractive"

    def __init__(self, searcher: Searcher, embedder: Embedder, settings: Settings,
                 translator: Generator | None = None):
        self.searcher = searcher
        self.embedder = embedder
        self.settings = settings
        self.translator = translator
        self._sentence_vecs: dict[tuple[str, int, int], np.ndarray] = {}

    def candidates(self, question: str, retrieval_query: str | None = None, filters: Filters | None = None,
                   mode: str | None = None, k: int | None = None) -> list[Candidate]:
        """Sentences of the retrieved chunks, scored against the question (best first)."""
        hits = self.searcher.search(retrieval_query or question, k=k or self.settings.answer_k,
                                    mode=mode or self.settings.retrieval_mode, filters=filters)
        seen, cands = set(), []
        for hit in hits:
            doc = self.searcher.index.docs[hit.doc_id]
            for a, b in hit.sentences:
                if (hit.doc_id, a) in seen or len(doc.text[a:b].split()) < MIN_WORDS:
                    continue
                seen.add((hit.doc_id, a))
                cands.append(Candidate(hit, a, b, doc.text[a:b]))
        if not cands:
            return []
        self._embed_missing(cands)
        scored_against = retrieval_query or question  # a follow-up is scored in its context
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
            if len(picked) >= self.settings.answer_max_sentences or c.score < best - 0.05:
                break
            vec = self._sentence_vecs[(c.hit.doc_id, c.start, c.end)]
            if all(float(vec @ self._sentence_vecs[(p.hit.doc_id, p.start, p.end)]) < 0.9 for p in picked):
                picked.append(c)
        return picked

    def answer(self, question: str, retrieval_query: str | None = None, filters: Filters | None = None,
               mode: str | None = None, k: int | None = None, translate: bool = True) -> Answer:
        """The cited answer; ``translate=False`` returns at once and leaves renderings to ``translate()``."""
        t0 = time.perf_counter()
        question = validate_question(question, self.settings)
        lang = question_language(question)
        notices = []
        if lang == "other":
            notices.append("Isnad answers in Arabic and English; this question seems to be in another "
                           "language, so the answer below quotes the closest passages in English framing.")
        out_lang = "ar" if lang == "ar" else "en"
        cands = self.candidates(question, retrieval_query, filters, mode, k)
        support = cands[0].score if cands else 0.0
        if not cands or support < self.threshold(question, cands[0].text):
            return Answer(question, out_lang, NO_ANSWER[out_lang], True, self.name, round(support, 4),
                          [], notices, latency_ms=_ms(t0))
        picked = self.select(cands)
        sources = [_source(i, c) for i, c in enumerate(picked, start=1)]
        answer = Answer(question, out_lang, self._compose(sources, out_lang), False, self.name, round(support, 4),
                        sources, notices)
        if translate:
            self.translate(answer)
        answer.latency_ms = _ms(t0)
        return answer

    def needs_translation(self, answer: Answer) -> bool:
        return answer.language == "en" and any(detect_language(s.quote) == "ar" and not s.translation
                                               for s in answer.sources)

    def translate(self, answer: Answer, translator: Generator | None = None) -> Answer:
        """Add checked English renderings of Arabic quotes (or say why there are none)."""
        if self.needs_translation(answer):
            answer.notices.extend(self._translate(answer.sources, translator or self.translator))
            answer.answer = self._compose(answer.sources, answer.language)
        return answer

    def _compose(self, sources: list[Source], lang: str) -> str:
        lines = []
        for s in sources:
            where = ", ".join(x for x in (s.outlet, s.date) if x)
            prefix = f"{where}: " if where else ""
            if lang == "en" and s.translation:
                lines.append(f"{prefix}“{s.translation}” [{s.n}] (machine translation; original: «{s.quote}»)")
            else:
                withheld = f" (English rendering {s.translation_note})" if lang == "en" and s.translation_note else ""
                lines.append(f"{prefix}«{s.quote}» [{s.n}]{withheld}")
        return "\n".join(lines)

    def _translate(self, sources: list[Source], translator: Generator | None) -> list[str]:
        """English renderings of Arabic quotes, only when a generator exists and the check passes."""
        if translator is None:
            return ["The evidence is in Arabic and no translation is available (no generator is configured; "
                    "set ISNAD_GENERATOR=local or ISNAD_LLM_BASE_URL). The quotes are shown in Arabic."]
        notices = [f"English renderings are machine translations by {translator.label}, checked for "
                   "numbers, months and names against the Arabic quote."]
        for s in sources:
            try:
                s.translation, s.translation_note = translate_checked(translator, s.quote, "en", self.embedder,
                                                                      self.settings, max_tokens=200)
            except GeneratorUnavailable as e:
                notices.append(f"No translation: {e}")
                break
        return notices


def _source(n: int, c: Candidate) -> Source:
    h = c.hit
    return Source(n, h.doc_id, h.source, h.title, h.outlet, h.date, c.text, c.start, c.end, h.score)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


class GenerativeEngine:
    """A chat model writes the answer from numbered sentences; every citation is then verified."""

    def __init__(self, extractive: ExtractiveEngine, generator: Generator, settings: Settings, n_sources: int = 8):
        self.extractive = extractive
        self.generator = generator
        self.settings = settings
        self.n_sources = n_sources

    @property
    def name(self) -> str:
        return f"generative: {self.generator.label}"

    def stream(self, question: str, retrieval_query: str | None = None, filters: Filters | None = None,
               mode: str | None = None, k: int | None = None) -> Iterator[str | Answer]:
        """Yield text pieces as they are generated, then the verified Answer.

        Any generator failure ends in the extractive answer with a notice: the user
        always gets something checkable.
        """
        t0 = time.perf_counter()
        question = validate_question(question, self.settings)
        lang = "ar" if question_language(question) == "ar" else "en"
        cands = self.extractive.candidates(question, retrieval_query, filters, mode, k)[: self.n_sources]
        if not cands or cands[0].score < self.extractive.threshold(question, cands[0].text):
            yield self.extractive.answer(question, retrieval_query, filters, mode, k)
            return
        numbered = {i: c for i, c in enumerate(cands, start=1)}
        shown = {i: f"({c.hit.outlet or c.hit.title or 'article'}, {c.hit.date or 'date unknown'}) {c.text}"
                 for i, c in numbered.items()}  # the model may use the date it was shown: verify against it too
        block = "\n".join(f"[{i}] {text}" for i, text in shown.items())
        pieces: list[str] = []
        try:
            for piece in self.generator.stream(load_prompt("answer", lang, sources=block, question=question)):
                pieces.append(piece)
                yield piece
        except GeneratorUnavailable as e:
            fallback = self.extractive.answer(question, retrieval_query, filters, mode, k)
            fallback.notices.insert(0, f"The generator could not answer ({e}); showing the extractive answer.")
            fallback.latency_ms = _ms(t0)
            yield fallback
            return
        yield self._verified("".join(pieces), question, lang, numbered, shown, t0, retrieval_query, filters, mode, k)

    def answer(self, question: str, **kw) -> Answer:
        result = None
        for item in self.stream(question, **kw):
            result = item
        assert isinstance(result, Answer)
        return result

    def _verified(self, raw: str, question: str, lang: str, numbered: dict[int, Candidate], shown: dict[int, str],
                  t0: float, retrieval_query, filters, mode, k) -> Answer:
        check = verify_citations(raw, shown, self.extractive.embedder, self.settings.verify_min_similarity)
        label = f"Machine-generated by {self.generator.label}; citations checked against the quoted sentences."
        if check.abstained or not check.supported:
            # The retrieval evidence cleared the abstention threshold, so the checkable quotes are shown.
            fallback = self.extractive.answer(question, retrieval_query, filters, mode, k)
            fallback.notices.insert(0, ("The generator found no answer in the sources" if check.abstained else
                                        "The generated answer was not supported by its sources and was discarded")
                                    + "; showing the extractive answer instead.")
            fallback.latency_ms = _ms(t0)
            return fallback
        used = sorted({n for c in check.checks for n in c.supported})
        renumber = {old: new for new, old in enumerate(used, start=1)}
        text = re.sub(r"\[(\d+)\]", lambda m: f"[{renumber.get(int(m.group(1)), m.group(1))}]", check.text)
        sources = [_source(renumber[n], numbered[n]) for n in used]
        notices = [label]
        if check.removed:
            notices.append(f"{len(check.removed)} citation(s) removed because the cited sentence does not support the claim.")
        if check.attributed:
            notices.append(f"{len(check.attributed)} citation(s) were added by the verifier: the model left the "
                           "sentence uncited, and that source supports it.")
        flagged = [c.text + f" ({c.reason})" for c in check.checks if c.flagged]
        if flagged:
            notices.append(f"{len(flagged)} sentence(s) marked ⚠ have no supporting source.")
        return Answer(question, lang, text, False, self.name, round(check.support, 4), sources, notices, flagged,
                      latency_ms=_ms(t0))


class Conversation:
    """Follow-up questions: rewritten with a generator, else joined with the previous question.

    Holds only the questions asked, so a UI can keep them in per-session state.
    """

    def __init__(self, engine: ExtractiveEngine | GenerativeEngine, rewriter: Generator | None = None,
                 history: list[str] | None = None):
        self.engine = engine
        self.rewriter = rewriter
        self.history: list[str] = list(history or [])

    def retrieval_query(self, question: str) -> str | None:
        if not self.history:
            return None
        previous = self.history[-1]
        if self.rewriter is not None:
            try:
                rewritten = self.rewriter.complete(load_prompt("rewrite", "en", previous=previous, question=question),
                                                   max_tokens=80).strip()
                if rewritten:
                    return rewritten
            except GeneratorUnavailable:
                pass
        return f"{previous} {question}"

    def ask(self, question: str, **kw) -> Answer:
        answer = self.engine.answer(question, retrieval_query=self.retrieval_query(question), **kw)
        self.history.append(question)
        return answer
