"""The answer a question gets: quotes, a short answer, notices; and the checks every engine shares."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from rag.config import Settings
from rag.errors import QuestionError
from rag.text.arabic import detect_language
from rag.text.dates import day_numbers
from rag.types import Hit, Source
from rag.verification.facts import numbers

MIN_WORDS = 5  # shorter "sentences" are sub-headings, not answers


RUNNER_UP = 0.05  # a sentence this close to the best one is quoted beside it, and may hold the short answer


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
        # fmt: off
        english = {
            "the", "what", "when", "who", "whom", "where", "why", "how", "which", "is", "are", "was", "were",
            "did", "does", "do", "of", "to", "in", "and", "a", "an", "many", "much", "has", "have",
        }
        # fmt: on
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


def source_of(n: int, c: Candidate) -> Source:
    h = c.hit
    return Source(
        n, h.doc_id, h.source, h.title, h.outlet, h.date, c.text, c.start, c.end, h.score, arrival=h.arrival
    )


def elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
