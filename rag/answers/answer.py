"""The answer a question gets: quotes, a short answer, notices; and the checks every engine shares."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field

from rag.answers.verify import numbers
from rag.config import Settings
from rag.errors import QuestionError
from rag.text.arabic import detect_language
from rag.text.dates import day_numbers
from rag.types import Hit, ShortAnswer, Source

MIN_WORDS = 5  # shorter "sentences" are sub-headings, not answers


RUNNER_UP = 0.05  # a sentence this close to the best one is quoted beside it, and may hold the short answer


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
    short: ShortAnswer | None = None  # the direct answer, a span of a quoted sentence
    kind: str = "other"  # what the question asks for: date, number, person, place, org, explain, other
    why: str = ""  # for an abstention: which evidence check failed
    withheld_short: ShortAnswer | None = None  # a short answer below the confidence line: not shown in bold

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


def question_language(question: str) -> str:
    """'ar', 'en' or 'other': Latin script without a single English function word is 'other'."""
    lang = detect_language(question)
    if lang == "en":
        words = set(re.findall(r"[a-z]+", question.lower()))
        english = {
            "the",
            "what",
            "when",
            "who",
            "whom",
            "where",
            "why",
            "how",
            "which",
            "is",
            "are",
            "was",
            "were",
            "did",
            "does",
            "do",
            "of",
            "to",
            "in",
            "and",
            "a",
            "an",
            "many",
            "much",
            "has",
            "have",
        }
        if len(words) >= 3 and not words & english:
            return "other"
    return lang


def validate_question(question: str, settings: Settings) -> str:
    if question is None or not question.strip():
        raise QuestionError("The question is empty. / السؤال فارغ.")
    if len(question) > settings.max_question_chars:
        raise QuestionError(
            f"The question is {len(question)} characters long; the limit is "
            f"{settings.max_question_chars}. Please shorten it. / السؤال أطول من الحد المسموح."
        )
    return question.strip()


def evidence_text(c: Candidate) -> str:
    return f"{c.hit.title or ''}\n{c.hit.text}"


def numbers_of(c: Candidate) -> set[str]:
    """Numbers a passage states, in digits or as date words, plus its article's year."""
    text = evidence_text(c)
    return numbers(text) | day_numbers(text) | ({c.hit.date[:4]} if c.hit.date else set())


def possibly(short: ShortAnswer, lang: str) -> str:
    """A short answer under the confidence line, offered as a hedge for the reader to check in its quote."""
    if lang == "ar":
        return f"ربما: {short.value} [{short.n}] (غير مؤكد؛ راجع الاقتباس)"
    return f"Possibly: {short.value} [{short.n}] (not confirmed; check the quote)"


def source_of(n: int, c: Candidate) -> Source:
    h = c.hit
    return Source(
        n, h.doc_id, h.source, h.title, h.outlet, h.date, c.text, c.start, c.end, h.score, arrival=h.arrival
    )


def elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
