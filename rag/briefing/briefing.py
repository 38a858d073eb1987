"""A briefing's parts: lines with their citations, sections, the numbering of sources, who said a line."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from rag.text.arabic import detect_language, normalize_ar
from rag.text.dates import DateMention
from rag.types import Cited, Document

LENGTHS = {"short": (3, 6, 3), "medium": (6, 10, 5), "long": (10, 16, 8)}  # key points, timeline, statements


LANGS = ("ar", "en", "both")


MIN_WORDS = 6


SECTION_TITLES = {
    "key_points": {"en": "Key points", "ar": "النقاط الرئيسية"},
    "timeline": {"en": "Timeline", "ar": "التسلسل الزمني"},
    "statements": {"en": "Who said what", "ar": "من قال ماذا"},
    "coverage": {"en": "What the articles cover", "ar": "ما تغطيه المقالات"},
}


SEE = {
    "key_points": {"en": "see key point {i}", "ar": "انظر النقطة الرئيسية {i}"},
    "timeline": {"en": "see timeline entry {i}", "ar": "انظر البند {i} من التسلسل الزمني"},
}


# fmt: off
_SPEECH_AR = (
    "قال", "قالت", "أكد", "أكدت", "أعلن", "أعلنت", "صرح", "صرحت", "أوضح", "أوضحت", "أضاف", "أضافت", "ذكر",
    "ذكرت", "أشار", "أشارت", "اعتبر", "اعتبرت", "رحب", "رحبت", "شدد", "شددت", "دعا", "أفاد", "أفادت", "هدد",
    "هددت", "طالب", "طالبت", "نفى", "نفت",
)
# fmt: on


_SPEECH_AR_RE = re.compile(
    r"(?:^|[\s،,])و?(?:" + "|".join(normalize_ar(v) for v in _SPEECH_AR) + r")\s+(?P<rest>.+)"
)


# fmt: off
_SPEAKER_STOP = {
    normalize_ar(w)
    for w in (
        "إن", "إنه", "إنها", "أن", "أنه", "بأن", "في", "عبر", "خلال", "على", "عن", "يوم", "اليوم", "أمس",
        "من", "إلى", "الى", "لـ", "بيان", "مؤتمر", "تصريح", "تصريحات", "لوسائل", "إلى", "السبت", "الأحد",
        "الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "ان", "انه",
    )
}
# fmt: on


_SPEECH_EN_RE = re.compile(
    r"(?P<who>(?:[A-Z][\w'.-]+\s?){1,5}) (?:said|says|told|announced|stated|added)\b"
    r"|\b(?:said|says|told|announced|stated|added),? (?P<who2>(?:[A-Z][\w'.-]+\s?){1,5})"
)


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


@dataclass
class Sentence:
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
        return self.doc.text[self.start : self.end]


class Numbering:
    """One [n] per distinct quoted sentence across the whole briefing."""

    def __init__(self):
        self.numbers: dict[tuple[str, int], int] = {}

    def number(self, c: Cited) -> int:
        return self.numbers.setdefault((c.doc_id, c.start), len(self.numbers) + 1)


def head_of(line: Line) -> tuple[str, int]:
    """The sentence a line shows: its first source's."""
    return line.sources[0].doc_id, line.sources[0].start


def cited_of(s: Sentence, n: int) -> Cited:
    d = s.doc
    return Cited(n, d.doc_id, d.source, d.title, d.outlet, d.date, s.text, s.start, s.end)


def line_of(
    group: list[Sentence], numbering: Numbering, when: str | None = None, speaker: str | None = None
) -> Line:
    """The group's best sentence, citing every article that states the same fact."""
    sources = []
    for s in group:
        c = cited_of(s, 0)
        c.n = numbering.number(c)
        sources.append(c)
    head = group[0]
    return Line(head.text, detect_language(head.text), sources, when=when, speaker=speaker)


def speaker_of(text: str) -> str | None:
    """Who a sentence attributes its statement to (heuristic: speech verb, then the subject)."""
    folded = normalize_ar(text)
    if detect_language(text) == "ar":
        m = _SPEECH_AR_RE.search(folded)
        if not m or not re.search(r"[:«“\"]|\bان\b|\bانه\b|\bبان\b", folded[m.start("rest") :]):
            return None
        words = []
        offset = m.start("rest")
        for w in re.finditer(r"\S+", folded[offset:]):
            token = w.group().strip('،,:«“"')
            if token in _SPEAKER_STOP or (token.startswith("ب") and token != "باسم") or len(words) >= 10:
                break
            words.append((offset + w.start(), offset + w.end()))
            if re.search(r"[،,:«“\"]$", w.group()):
                break
        if not words:
            return None
        # Same length fold: the offsets in ``folded`` are offsets in ``text``.
        return text[words[0][0] : words[-1][1]].strip('،,: «“"') or None
    m = _SPEECH_EN_RE.search(text)
    return (m.group("who") or m.group("who2")).strip() if m else None
