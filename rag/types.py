"""The plain dataclasses that pass between stages: documents, chunks, filters, queries, hits, citations,
answers, messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Document:
    """One article. ``paragraphs`` are (start, end) spans of body text in ``text``."""

    doc_id: str
    source: str
    text: str
    title: str | None
    outlet: str | None
    date: str | None  # ISO date of publication, only when the text supports it
    language: str
    paragraphs: list[tuple[int, int]]
    provenance: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)  # how it entered the corpus: via, path, name, at

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Document:
        d = dict(d)
        d["paragraphs"] = [tuple(p) for p in d["paragraphs"]]
        return cls(**d)

    def body(self) -> str:
        return "\n".join(self.text[a:b] for a, b in self.paragraphs)

    def arrival(self) -> str:
        """How the document entered the corpus, shown beside the outlet its text claims:
        a planted "المصدر: الجزيرة" line in an uploaded file reads as an upload, not as Al Jazeera."""
        via, at = self.origin.get("via"), self.origin.get("at", "")[:16].replace("T", " ")
        if via == "seed":
            return "shipped seed article"
        if via == "upload":
            return f"uploaded in the app {at} UTC".replace("  ", " ")
        if via == "cli":
            return f"added with isnad ingest {at[:10]}".strip()
        if via == "url":
            return f"fetched from {self.origin.get('url', 'the web')} {at} UTC".replace("  ", " ")
        return "origin not recorded"


@dataclass
class Chunk:
    """A span of one document; ``text == document.text[start:end]`` always holds."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    sentences: list[tuple[int, int]]
    n_tokens: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        d = dict(d)
        d["sentences"] = [tuple(s) for s in d["sentences"]]
        return cls(**d)


@dataclass(frozen=True)
class Filters:
    """Indexed filters: one outlet (matched on its folded key), an inclusive ISO date range, some documents."""

    outlet: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    doc_ids: frozenset[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.outlet or self.date_from or self.date_to or self.doc_ids is not None)


@dataclass
class Hit:
    """One retrieved chunk with everything needed to show and cite it."""

    rank: int
    score: float
    chunk_id: str
    doc_id: str
    source: str
    title: str | None
    outlet: str | None
    date: str | None
    text: str
    start: int
    end: int
    sentences: list[tuple[int, int]]
    dense_rank: int | None = None
    bm25_rank: int | None = None
    arrival: str = ""  # how the article entered the corpus (Document.arrival)
    dense_score: float | None = None  # cosine similarity to the query, when the dense leg found it
    bm25_score: float | None = None  # BM25 score, when the BM25 leg found it

    def to_dict(self) -> dict:
        return asdict(self)


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
    translated: str | None = None  # the words the translation renders, when only part of the quote
    facts: str = ""  # the quote's dates, quantities and names in English, when there is no translation
    arrival: str = (
        ""  # how the article entered the corpus: an upload is never mistaken for the outlet it names
    )


@dataclass
class Message:
    role: str  # system | user | assistant
    content: str


Progress = Callable[[int, int], None]  # (chunks embedded, chunks to embed)


@dataclass
class Span:
    """A typed candidate: the exact words of the article at [start, end) and a comparable value."""

    kind: str
    start: int  # offsets into the article text
    end: int
    text: str
    value: str  # equal values say the same thing ("2021-06-05", "3000 soldiers")
    render: dict[str, str]  # the span as shown to a reader of each language
    score: float = 0.0
    names: tuple = ()  # the lexicon's entries the name itself is (a title's names aside; «لعراق» in «للعراق»)


@dataclass
class ShortAnswer:
    """The direct answer: one span of source ``n``, or several when the sources disagree."""

    kind: str
    text: str  # the line shown: in the question's language, marked up, with its citation
    n: int
    span: str  # verbatim words of the article
    start: int
    end: int
    method: str = "typed"  # or "generator"
    value: str = ""  # the answer alone, plain text, in the question's language
    # [{n, text, span, outlet, date}] per differing source
    disagreement: list[dict] = field(default_factory=list)
    confidence: float | None = (
        None  # probability that the span is right (rag.answers.confidence); None: not scored
    )
    evidence: dict[str, float] = field(default_factory=dict)  # what the confidence was computed from


@dataclass(frozen=True)
class Query:
    """One question as every stage sees it: the words asked, the words searched, filters, mode and depth.

    ``retrieval_query`` is a follow-up rewritten to stand alone; retrieval and scoring use it, while
    the answer still answers ``question``. ``mode`` and ``k`` left as None take the settings' values.
    """

    question: str
    retrieval_query: str | None = None
    filters: Filters | None = None
    mode: str | None = None  # hybrid | dense | bm25
    k: int | None = None

    @classmethod
    def of(cls, query: Query | str) -> Query:
        """A Query as given, or one for a bare question."""
        return query if isinstance(query, Query) else cls(query)

    @property
    def searched(self) -> str:
        """The words retrieval runs on."""
        return self.retrieval_query or self.question


NO_ANSWER = {"en": "The articles do not say.", "ar": "لا تذكر المقالات ذلك."}


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

    @classmethod
    def abstention(
        cls,
        question: str,
        language: str,
        engine: str,
        *,
        why: str,
        kind: str,
        support: float = 0.0,
        notices: list[str] | None = None,
        latency_ms: float = 0.0,
    ) -> Answer:
        """'The articles do not say', with the evidence check that failed."""
        return cls(
            question=question,
            language=language,
            answer=NO_ANSWER[language],
            abstained=True,
            engine=engine,
            support=round(support, 4),
            notices=list(notices or []),
            kind=kind,
            why=why,
            latency_ms=latency_ms,
        )

    @classmethod
    def found(
        cls,
        question: str,
        language: str,
        engine: str,
        *,
        text: str,
        support: float,
        sources: list[Source],
        kind: str,
        short: ShortAnswer | None = None,
        withheld_short: ShortAnswer | None = None,
        notices: list[str] | None = None,
        flagged: list[str] | None = None,
        latency_ms: float = 0.0,
    ) -> Answer:
        """An answer with its cited sources; ``text`` may be empty until the renderer composes it."""
        return cls(
            question=question,
            language=language,
            answer=text,
            abstained=False,
            engine=engine,
            support=round(support, 4),
            sources=sources,
            notices=list(notices or []),
            flagged=list(flagged or []),
            short=short,
            kind=kind,
            withheld_short=withheld_short,
            latency_ms=latency_ms,
        )


# What a store takes in: a document, its chunks, their vectors and their BM25 tokens.
Item = tuple[Document, list[Chunk], np.ndarray, list[list[str]]]
