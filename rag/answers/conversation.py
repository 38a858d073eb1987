"""Follow-up questions: a question that leans on the one before is rewritten to stand alone before retrieval."""

from __future__ import annotations

import re

from rag.answers.extractive import ExtractiveEngine
from rag.answers.generative import GenerativeEngine
from rag.errors import GeneratorUnavailable
from rag.models.llm import Generator
from rag.models.prompts import load_prompt
from rag.text.lexicon import Lexicon
from rag.types import Answer, Filters, Query
from rag.verification.facts import numbers

_FOLLOW_START = re.compile(
    r"^\s*(?:and|also|so|then|what about|how about|and what|وماذا|ماذا عن|وما|ومتى|وكم|ومن|واين|"
    r"وهل|ولماذا|وكيف|وأين)\b",
    re.I,
)


_ANAPHORA = re.compile(
    r"\b(?:he|she|they|him|her|them|it|its|his|their|this|that|these|those|there|then)\b|"
    r"(?<!\S)(?:هو|هي|هم|هما|ذلك|هذا|هذه|تلك|هؤلاء|هناك|حينها|عندها)(?!\S)",
    re.I,
)


# fmt: off
_QUESTION_WORDS = {
    "what", "when", "who", "whom", "where", "why", "how", "which", "is", "are", "was", "were", "did", "does",
    "do", "many", "much", "ما", "ماذا", "متى", "من", "اين", "أين", "لماذا", "كيف", "كم", "هل", "اي", "أي",
}
# fmt: on


def is_followup(question: str, lexicon: Lexicon) -> bool:
    """Elliptical questions lean on the previous one; a question with its own subject stands alone.

    Follow-up: starts with "and" / «و» / "what about", or is very short, or leans on a pronoun
    or demonstrative, unless it names something of its own (a known name, a number, a
    capitalised name in English).
    """
    if _FOLLOW_START.search(question):
        return True
    words = re.findall(r"\w+", question)
    own_name = bool(
        lexicon.in_text(question)
        or numbers(question)
        or any(w[0].isupper() for w in words[1:] if w.isascii() and w.lower() not in _QUESTION_WORDS)
    )
    if own_name:
        return False
    content = [w for w in words if w.lower() not in _QUESTION_WORDS]
    return len(content) <= 2 or bool(_ANAPHORA.search(question))


class Conversation:
    """Follow-up questions: rewritten with a generator, else joined with the previous question.

    Only elliptical questions are follow-ups (:func:`is_followup`); any other question is
    searched on its own, so an unrelated second question never inherits the first one's evidence.
    Holds only the questions asked, so a UI can keep them in per-session state.
    """

    def __init__(
        self,
        engine: ExtractiveEngine | GenerativeEngine,
        rewriter: Generator | None = None,
        history: list[str] | None = None,
    ):
        self.engine = engine
        self.rewriter = rewriter
        self.history: list[str] = list(history or [])

    def retrieval_query(self, question: str) -> str | None:
        extractive = self.engine if isinstance(self.engine, ExtractiveEngine) else self.engine.extractive
        if not self.history or not is_followup(question, extractive.lexicon):
            return None
        previous = self.history[-1]
        if self.rewriter is not None:
            try:
                rewritten = self.rewriter.complete(
                    load_prompt("rewrite", "en", previous=previous, question=question), max_tokens=80
                ).strip()
                if rewritten:
                    return rewritten
            except GeneratorUnavailable:
                pass
        return f"{previous} {question}"

    def ask(
        self, question: str, filters: Filters | None = None, mode: str | None = None, k: int | None = None
    ) -> Answer:
        """The answer to ``question``, retrieved in the context of the questions before it."""
        query = Query(question, self.retrieval_query(question), filters, mode, k)
        answer = self.engine.answer(query)
        self.history.append(question)
        return answer
