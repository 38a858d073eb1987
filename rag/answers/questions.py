"""What a question asks for: its type, its parts, the qualifiers and roles it names, whether it wants a speaker."""

from __future__ import annotations

import re
from functools import lru_cache

from rag.data import DATA_DIR
from rag.text.arabic import bm25_tokens, normalize_ar

DATA = DATA_DIR


def _english_arabic(name: str) -> list[tuple[re.Pattern, list[str]]]:
    """Rows of a TSV in rag/data: an English pattern (alternatives with |) and Arabic words (with |)."""
    out = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            en, ar = line.split("\t")
            out.append((re.compile(rf"\b(?:{en})(?!\w)", re.I), ar.split("|")))
    return out


@lru_cache(maxsize=1)
def _titles() -> list[tuple[re.Pattern, list[str]]]:
    return [(en, [normalize_ar(a) for a in ar]) for en, ar in _english_arabic("titles.tsv")]


_MONEY = re.compile(
    r"\b(?:cost|costs|spend|spent|budget|worth|paid|pay|price|fund|funding)\b|"
    r"(?:تكلف|كلف|ميزاني|انفق|دفع|قيمه|تمويل|دولار)",
    re.I,
)


CURRENCIES = {"dollar", "dollars", "dinar", "dinars", "euro", "euros"}


# Written as read; compiled from normalised text (ى→ي, ة→ه, أ→ا), as questions are matched normalised.
_TYPE_RULES_RAW: list[tuple[str, str]] = [
    (
        "explain",
        r"^\s*(?:why|how (?!many|much|long|old)|in what way|what (?:did|does|do|has|have|was|were) "
        r"\S+(?: \S+){0,4} (?:say|said|describe|call|announce)|لماذا|لم |كيف|ماذا قال|بماذا وصف|"
        r"بماذا هدد|ما موقف|ما رأي|ما رد|ماذا كان رد)",
    ),
    (
        "date",
        r"\b(?:when|what (?:date|day|year|month)|which (?:date|day|year|month)|in what year|"
        r"since when|by when)\b|(?:^|\s)(?:متى|منذ متى|في اي (?:عام|سنه|شهر|يوم|تاريخ)|ما تاريخ|"
        r"في اي وقت|بحلول متى)(?:\s|$|؟)",
    ),
    (
        "number",
        r"\bhow (?:many|much)\b|\bwhat (?:number|percentage|share|amount)\b|"
        r"(?:^|\s)(?:كم|ما عدد|كم عدد|ما حجم|ما نسبه|ما قيمه)(?:\s|$)",
    ),
    (
        "place",
        r"\bwhere\b|\bin which (?:city|country|province|town|base|region)\b|"
        r"(?:^|\s)(?:اين|الى اين|في اي (?:مدينه|دوله|بلد|محافظه|منطقه|قاعده)|من اين)(?:\s|$|؟)",
    ),
    (
        "org",
        r"\b(?:which|what) (?:group|organi[sz]ation|ministry|agency|body|militia|faction|party|"
        r"command|company|outlet)\b|(?:^|\s)(?:ما الجهه|اي جهه|ما اسم (?:التنظيم|الجماعه|الفصيل|"
        r"تجمع|الحزب|الهيئه)|اي (?:فصيل|جماعه|وزاره))(?:\s|$)",
    ),
    (
        "person",
        r"^\s*(?:who|whom)\b|\b(?:which|what) (?:\S+ ){0,3}(?:spokesman|spokeswoman|spokesperson|"
        r"minister|official|adviser|general|commander|president|leader|secretary|envoy|"
        r"ambassador|person|officer)\b|^\s*(?:من هو|من هي|من هم|من الذي|من |"
        r"ما اسم (?:ال)?(?:شخص|متحدث|ناطق|وزير|رئيس|قائد|مسؤول|سفير|مستشار))",
    ),
]


_TYPE_RULES = [(k, re.compile(normalize_ar(p), re.I)) for k, p in _TYPE_RULES_RAW]


def question_type(question: str) -> str:
    """'date', 'number', 'person', 'place', 'org', 'explain' or 'other' (no typed answer)."""
    q = normalize_ar(question).strip()
    for kind, pattern in _TYPE_RULES:
        if pattern.search(q):
            return kind
    return "other"


@lru_cache(maxsize=1)
def _qualifiers() -> list[tuple[re.Pattern, set[str]]]:
    return [(en, set(bm25_tokens(" ".join(ar)))) for en, ar in _english_arabic("qualifiers.tsv")]


def asked_qualifiers(question: str) -> set[str]:
    """The words that say what a count is of ("rocket", «صاروخية», "American"), as BM25 terms of either
    language: an Arabic question's own terms, an English question's through rag/data/qualifiers.tsv."""
    terms = set(bm25_tokens(question))
    for pattern, arabic in _qualifiers():
        if pattern.search(question):
            terms |= arabic
    return terms


_SAYING = re.compile(
    r"(?:^|\s)(?:who (?:said|says|stated|announced|declared|told|confirmed|denied|noted|"
    r"added|warned|described)|من (?:قال|صرح|اعلن|اكد|نفي|اوضح|اشار|حذر)|من الذي (?:قال|صرح|اعلن|اكد))",
    re.I,
)


def asks_speaker(question: str) -> bool:
    """ "Who said …", «من قال …»: the answer is whoever speaks in the clause of saying."""
    return bool(_SAYING.search(normalize_ar(question)))


_IDENTITY = re.compile(r"^\s*(?:who (?:is|was|are|were)|which|من (?:هو|هي|هم)|ما اسم)\b", re.I)


def asked_roles(question: str) -> list[list[str]]:
    """Roles an identity question asks for ("who is the US ambassador", «من هو السفير»), as Arabic stems."""
    folded = normalize_ar(question)
    if not _IDENTITY.search(folded):
        return []
    return [ar for en, ar in _titles() if en.search(question) or any(a in folded for a in ar)]


_SHARE = re.compile(
    r"\b(?:percent(?:age)?|share|proportion|rate)\b|%|(?:^|\s)(?:نسبه|بنسبه|النسبه)(?:\s|$)", re.I
)


def wants_share(question: str) -> bool:
    """ "What percentage …", «ما نسبة …»: a share answers («75%»), not a head count."""
    return bool(_SHARE.search(normalize_ar(question)))


_LIFE_END = re.compile(r"\b(?:die|died|death)\b|(?:^|\s)(?:توفي|توفيت|وفاه|مات|ماتت|رحل|رحيل)(?:\s|$)", re.I)
_LIFE_START = re.compile(r"\b(?:born|birth)\b|(?:^|\s)(?:ولد|ولدت|مولد|ميلاد)(?:\s|$)", re.I)


def asked_life_edge(question: str) -> str | None:
    """ "When did X die" asks for the end of a life span «(14 مارس 1879 – 18 أبريل 1955)», "when was X born"
    for its start; None for any other question."""
    folded = normalize_ar(question)
    if _LIFE_END.search(folded):
        return "end"
    if _LIFE_START.search(folded):
        return "start"
    return None


def wants_money(question: str) -> bool:
    return bool(_MONEY.search(normalize_ar(question)))


_ASKS_DEADLINE = re.compile(
    r"by when|until when|deadline|\bwill\b|\bdue\b|بحلول متي|موعد|مهله|حتي متي|متي\s+[سي]\w+", re.I
)


def wants_deadline(question: str) -> bool:
    """ "By when will …", «متى سينتهي …»: a deadline answers; "when did they agree" asks for the event."""
    return bool(_ASKS_DEADLINE.search(normalize_ar(question)))


_ASKS_YEAR = re.compile(
    r"\b(?:what|which|in what|in which) year\b|(?:^|\s)(?:في|فى)\s+(?:اي|أي)\s+(?:عام|سنه|سنة)|"
    r"(?:^|\s)(?:ما|في اي) (?:العام|السنه)(?:\s|$)",
    re.I,
)


def wants_year(question: str) -> bool:
    """ "In which year …", «في أي عام …»: a date without a year («20 مايو») does not answer it."""
    return bool(_ASKS_YEAR.search(normalize_ar(question)))


_PARTS = re.compile(r",?\s+and (?=how (?:many|much)\b)|،?\s*و\s*(?=كم\b)", re.I)


def question_parts(question: str) -> list[str]:
    """ "How many coalition troops remain, and how many are American?" asks two things: one part each."""
    return [p.strip(" ,،?؟") for p in _PARTS.split(question) if p.strip(" ,،?؟")]


_COUNTED = re.compile(
    r"\bhow many\s+(?P<en>(?:[a-z][a-z-]*\s*){1,3})|"
    r"(?:^|\s)(?:كم عدد|ما عدد|ما هو عدد|كم|عدد)\s+(?P<ar>(?:[\u0621-\u064a]+\s*){1,3})",
    re.I,
)
_NOT_COUNTED = {
    "of",
    "the",
    "more",
    "other",
    "من",
    "يبلغ",
    "بلغ",
    "تبلغ",
    "عدد",
    "كان",
    "كانت",
    "يوجد",
    "هناك",
}


def counted_terms(question: str) -> list[str]:
    """The words right after "how many" / «كم», one of which is the noun counted ("how many coalition
    troops", «كم مقاطعة», «كم يبلغ عدد سكان»), as BM25 terms; empty when there is no such question."""
    m = _COUNTED.search(normalize_ar(question))
    if not m:
        return []
    words = [w for w in (m.group("en") or m.group("ar")).split() if w.lower() not in _NOT_COUNTED]
    return [t for w in words[:3] for t in bm25_tokens(w)]


def _skeleton(term: str) -> str:
    """An Arabic stem without its long vowels and final «ه», so a broken plural meets its singular
    («مناطق» and «منطقه» → «منطق», «جزر» and «جزيره» → «جزر»)."""
    return re.sub(r"[اويى]", "", re.sub(r"[هة]$", "", normalize_ar(term)))


def same_stem(a: str, b: str) -> bool:
    """Light stems still differ by a suffix («صاروخيا» → صاروخي, «صاروخية» → صاروخ): one a prefix of the other."""
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 3 and long_.startswith(short) and len(long_) - len(short) <= 2


def same_noun(asked: list[str], unit: str, english: str | None = None) -> bool:
    """Whether a quantity's noun (``unit``, with its English ``english``) is one ``asked`` counts."""
    for q in asked:
        for c in bm25_tokens(unit) + (bm25_tokens(english) if english else []):
            if same_stem(q, c):
                return True
            if not q.isascii() and len(_skeleton(q)) >= 3 and _skeleton(q) == _skeleton(c):
                return True
    return False
